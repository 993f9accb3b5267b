"""verified_storage.py on a real BuildGrid disk storage: a blob is served only while its bytes
hash to its name; a bad one reads as missing, is removed, and can be written again."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from buildgrid._protos.build.bazel.remote.execution.v2.remote_execution_pb2 import Digest
from buildgrid.server.app.settings import parser

from dynamo_team_caches import bgd_config, bgd_main, verified_storage
from dynamo_team_caches.verified_storage import CHECKED_XATTR, VerifiedDiskStorage


def digest_of(data: bytes) -> Digest:
    return Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def blob_path(storage: VerifiedDiskStorage, digest: Digest) -> Path:
    return Path(storage.objects_path) / digest.hash[:2] / digest.hash[2:]


def read(storage: VerifiedDiskStorage, digest: Digest) -> bytes | None:
    blob = storage.get_blob(digest)
    if blob is None:
        return None
    with blob:
        return blob.read()


@pytest.fixture
def storage(tmp_path: Path) -> VerifiedDiskStorage:
    return VerifiedDiskStorage(str(tmp_path / "cas"))


GOOD = b"the stack's PEX, say" * 1000


def test_a_written_blob_is_served_and_recorded_as_checked(storage: VerifiedDiskStorage) -> None:
    digest = digest_of(GOOD)
    storage.commit_write(digest, io.BytesIO(GOOD))
    assert storage.missing_blobs([digest]) == []
    assert read(storage, digest) == GOOD
    st = os.stat(blob_path(storage, digest))
    assert os.getxattr(blob_path(storage, digest), CHECKED_XATTR) == (
        f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}".encode()
    )


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda data: bytes(b ^ 0xFF for b in data), id="same-size-other-bytes"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
    ],
)
def test_a_blob_with_other_bytes_reads_as_missing_and_is_removed(
    storage: VerifiedDiskStorage, corrupt, caplog
) -> None:
    digest = digest_of(GOOD)
    storage.bulk_update_blobs([(digest, GOOD)])
    path = blob_path(storage, digest)
    path.write_bytes(corrupt(GOOD))  # a write changes its mtime: checked again

    assert storage.missing_blobs([digest]) == [digest]
    assert not path.exists()
    assert f"removed blob {digest.hash}" in caplog.text
    assert read(storage, digest) is None
    assert storage.bulk_read_blobs([digest]) == {}
    assert not storage.has_blob(digest)


def test_every_read_path_refuses_a_bad_blob(storage: VerifiedDiskStorage) -> None:
    digest = digest_of(GOOD)
    storage.commit_write(digest, io.BytesIO(GOOD))
    blob_path(storage, digest).write_bytes(b"x" * len(GOOD))
    assert read(storage, digest) is None  # ByteStream.Read, without asking first


def test_a_bad_blob_in_place_does_not_stop_the_good_one_from_being_written(
    storage: VerifiedDiskStorage,
) -> None:
    # DiskStorage keeps a file already in place ("Object is already there!"): the bad one must
    # go first, or the upload that heals it would be dropped.
    digest = digest_of(GOOD)
    path = blob_path(storage, digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"y" * len(GOOD))
    storage.commit_write(digest, io.BytesIO(GOOD))
    assert read(storage, digest) == GOOD


def test_a_blob_is_hashed_once_per_content_even_across_restarts(
    tmp_path: Path, monkeypatch
) -> None:
    hashed: list[str] = []
    real = verified_storage.sha256_of

    def counting(path: str) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(verified_storage, "sha256_of", counting)
    digest = digest_of(GOOD)
    # A blob on disk that this server did not write (a data dir from before): hashed at its
    # first check only, then not after a restart either.
    first = VerifiedDiskStorage(str(tmp_path / "cas"))
    path = blob_path(first, digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(GOOD)
    assert first.missing_blobs([digest]) == [] and len(hashed) == 1
    assert first.has_blob(digest) and len(hashed) == 1
    restarted = VerifiedDiskStorage(str(tmp_path / "cas"))
    assert restarted.missing_blobs([digest]) == [] and len(hashed) == 1
    # Written again (same size): checked again, and found bad.
    path.write_bytes(b"z" * len(GOOD))
    assert restarted.missing_blobs([digest]) == [digest] and len(hashed) == 2


def test_without_extended_attributes_checks_are_remembered_in_memory(
    storage: VerifiedDiskStorage, monkeypatch
) -> None:
    def unsupported(*args):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "getxattr", unsupported)
    monkeypatch.setattr(os, "setxattr", unsupported)
    digest = digest_of(GOOD)
    storage.commit_write(digest, io.BytesIO(GOOD))
    assert storage.missing_blobs([digest]) == []
    blob_path(storage, digest).write_bytes(b"w" * len(GOOD))
    assert storage.missing_blobs([digest]) == [digest]


def test_bgd_reads_the_team_caches_disk_storage_as_the_verified_one(tmp_path: Path) -> None:
    # The bgd PEX's entry point takes `!disk-storage` over; bgd.yml (bgd_config.py) is
    # unchanged and still passes BuildGrid's own schema.
    text = bgd_config.dump(bgd_config.config(data_dir=str(tmp_path)))
    config = tmp_path / "bgd.yml"
    config.write_text(text)
    bgd_main.register()
    parser.validate_config(str(config), strict=True)
    loaded = parser.load_config(str(config))
    (storage,) = loaded["storages"]
    assert isinstance(storage, VerifiedDiskStorage)
