"""This machine's image records ("key -> image ID", plugins/dynamo_images/image_cache.py), as
the tests and benchmarks that play a second machine on this one see them."""

from __future__ import annotations

from pathlib import Path

RECORDS_DIR = Path("/tmp/dynamo-image-records")  # dynamo_images.image_cache.RECORDS_DIR


def records_of(image_ids: set[str]) -> list[Path]:
    """This machine's record files that name one of `image_ids`."""
    files = RECORDS_DIR.iterdir() if RECORDS_DIR.is_dir() else ()
    return [r for r in files if r.is_file() and r.read_text().strip() in image_ids]


def forget(image_ids: set[str]) -> None:
    """Deletes this machine's records of `image_ids` (for images a test removes afterwards)."""
    for record in records_of(image_ids):
        record.unlink()


class HiddenRecords:
    """This machine's records of the given image IDs, moved aside while a "new machine" runs
    on this one: it must get them from the remote cache, as another machine would. Put back
    afterwards, whatever happens."""

    def __init__(self, image_ids: set[str]):
        self.moved: list[tuple[Path, Path]] = []
        self.image_ids = image_ids

    def __enter__(self) -> HiddenRecords:
        for record in records_of(self.image_ids):
            hidden = record.with_name(record.name + ".hidden")
            record.rename(hidden)
            self.moved.append((hidden, record))
        return self

    def __exit__(self, *_exc) -> None:
        for hidden, record in self.moved:
            hidden.rename(record)
