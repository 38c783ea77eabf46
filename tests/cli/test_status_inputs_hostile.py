"""`status`'s look at the outbox and rejected/: whatever a writer of those folders puts
there (a file time no datetime holds, a folder of junk), the look ends and never fails."""

from __future__ import annotations

import os

from hhu_sync.cli import status_inputs


class _Entry:
    """A real directory entry whose stat says what the writer chose."""

    def __init__(self, entry, mtime: float | None) -> None:
        self._entry, self._mtime = entry, mtime
        self.name, self.path = entry.name, entry.path

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return self._entry.is_file(follow_symlinks=follow_symlinks)

    def stat(self, *, follow_symlinks: bool = True):
        st = self._entry.stat(follow_symlinks=follow_symlinks)
        if self._mtime is None:
            return st
        return os.stat_result(list(st)[:8] + [self._mtime, self._mtime],
                              {"st_mtime": self._mtime})


def _scandir(monkeypatch, mtime: float | None = None, seen: list | None = None):
    real = os.scandir

    class _It:
        def __init__(self, folder) -> None:
            self._it = real(folder)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self._it.close()

        def __iter__(self):
            for entry in self._it:
                if seen is not None:
                    seen.append(entry.name)
                yield _Entry(entry, mtime)

    monkeypatch.setattr(status_inputs.os, "scandir", _It)


def test_a_reason_file_with_a_time_no_datetime_holds_is_listed_without_one(
        tmp_path, monkeypatch):
    (tmp_path / "k.csv.reason.txt").write_text("not a meter list\n")
    _scandir(monkeypatch, mtime=1e12)        # year 33658: tmpfs takes it
    found = status_inputs.rejected_inputs(tmp_path)
    assert found["count"] == 1
    assert found["files"] == [{"name": "k.csv", "since": None, "reason": "not a meter list"}]


def test_a_folder_of_junk_is_looked_at_only_so_far(tmp_path, monkeypatch):
    for i in range(60):
        (tmp_path / f"junk-{i}.bin").write_bytes(b"")
    monkeypatch.setattr(status_inputs, "MAX_SCANNED", 25, raising=False)
    seen: list[str] = []
    _scandir(monkeypatch, seen=seen)
    assert status_inputs.rejected_inputs(tmp_path)["count"] == 0
    assert len(seen) <= 26
