from __future__ import annotations

from pathlib import Path

import pytest

from dynamo_workspaces import records


@pytest.fixture
def records_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(records, "RECORDS_DIR", tmp_path)
    (tmp_path / "key-a").write_text("sha256:a\n")
    (tmp_path / "key-b").write_text("sha256:b\n")
    return tmp_path


def test_forget_deletes_only_the_records_of_the_given_images(records_dir: Path) -> None:
    records.forget({"sha256:a", "sha256:c"})
    assert sorted(p.name for p in records_dir.iterdir()) == ["key-b"]


def test_hidden_records_come_back_even_when_the_block_fails(records_dir: Path) -> None:
    with pytest.raises(RuntimeError):
        with records.HiddenRecords({"sha256:b"}):
            assert sorted(p.name for p in records_dir.iterdir()) == ["key-a", "key-b.hidden"]
            raise RuntimeError("the new machine failed")
    assert sorted(p.name for p in records_dir.iterdir()) == ["key-a", "key-b"]
    assert (records_dir / "key-b").read_text() == "sha256:b\n"
