"""The archive mover: moves after the commit, only the file that was read, never over another."""

from __future__ import annotations

import errno
import os

import pytest

from hhu_sync.outbox.mover import ArchiveMover, Move, signature
from hhu_sync.outbox.processor import _move


def read_as(path):
    return signature(os.stat(path))


def test_a_committed_file_is_moved_and_the_move_is_durable_after_flush(tmp_path):
    src, dest = tmp_path / "a.toml", tmp_path / "archive" / "a.toml"
    src.write_text("x")
    dest.parent.mkdir()
    mover = ArchiveMover(_move)
    mover.submit([Move(src, dest, read_as(src))])
    assert mover.flush(10)
    assert dest.read_text() == "x" and not src.exists()
    assert mover.moved == 1 and mover.idle()
    mover.close()


def test_a_file_rewritten_after_it_was_read_stays_in_the_outbox_to_be_read_again(tmp_path):
    src, dest = tmp_path / "a.toml", tmp_path / "archive" / "a.toml"
    src.write_text("old")
    dest.parent.mkdir()
    seen = read_as(src)
    src.write_text("new content, longer")      # back office saved it again
    mover = ArchiveMover(_move)
    mover.submit([Move(src, dest, seen)])
    assert mover.flush(10)
    assert src.read_text() == "new content, longer" and not dest.exists()
    # Handed back: the new content is read as the new file it is (issue 12, point 8).
    assert mover.skipped == 1 and mover.failed() == [src]
    mover.close()


def test_a_file_changed_between_the_check_and_the_link_is_not_archived(tmp_path):
    """The archived name is compared with what was checked before the outbox name goes."""
    src, dest = tmp_path / "a.toml", tmp_path / "archive" / "a.toml"
    src.write_text("old")
    dest.parent.mkdir()
    seen = read_as(src)

    def late_writer(source, target, expect):      # a writer slips in after the check
        source.write_text("appended later")
        _move(source, target, expect)

    mover = ArchiveMover(late_writer)
    mover.submit([Move(src, dest, seen)])
    assert mover.flush(10)
    assert src.read_text() == "appended later" and not dest.exists()
    assert mover.moved == 0 and mover.failed() == [src]
    mover.close()


def test_a_move_that_fails_is_handed_back_to_be_tried_again(tmp_path):
    src = tmp_path / "a.toml"
    src.write_text("x")
    mover = ArchiveMover(_move)
    mover.submit([Move(src, tmp_path / "no-such-folder" / "a.toml", read_as(src))])
    assert mover.flush(10)
    assert src.exists() and mover.errors == 1
    assert mover.failed() == [src]
    assert mover.failed() == []
    mover.close()


def test_a_pending_destination_is_reserved_until_its_move_is_done(tmp_path):
    src, dest = tmp_path / "a.toml", tmp_path / "archive" / "a.toml"
    src.write_text("x")
    dest.parent.mkdir()
    moves = []
    mover = ArchiveMover(lambda s, d: moves.append((s, d)))   # a move that has not run yet
    mover._thread = type("Held", (), {"is_alive": lambda self: True})()  # keep it queued
    mover.submit([Move(src, dest, read_as(src))])
    assert mover.reserved() == {dest} and not mover.idle()


def test_a_move_never_replaces_a_file_already_at_its_destination(tmp_path):
    src, dest = tmp_path / "a.toml", tmp_path / "archive" / "a.toml"
    src.write_text("new")
    dest.parent.mkdir()
    dest.write_text("kept")
    with pytest.raises(FileExistsError):
        _move(src, dest)
    assert src.read_text() == "new" and dest.read_text() == "kept"


def test_a_move_interrupted_after_its_link_is_finished_by_moving_again(tmp_path):
    src, dest = tmp_path / "a.toml", tmp_path / "archive" / "a.toml"
    src.write_text("x")
    dest.parent.mkdir()
    os.link(src, dest)
    _move(src, dest)
    assert dest.read_text() == "x" and not src.exists()


@pytest.mark.parametrize("code", [errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK])
def test_a_file_system_without_hard_links_gets_a_rename(tmp_path, monkeypatch, code):
    src, dest = tmp_path / "a.toml", tmp_path / "archive" / "a.toml"
    src.write_text("x")
    dest.parent.mkdir()

    def no_links(a, b, **_):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", no_links)
    _move(src, dest)
    assert dest.read_text() == "x" and not src.exists()
    src.write_text("y")
    with pytest.raises(FileExistsError):
        _move(src, dest)
    assert dest.read_text() == "x" and src.read_text() == "y"


def test_a_move_to_another_file_system_is_a_durable_copy(tmp_path, monkeypatch):
    src, dest = tmp_path / "a.toml", tmp_path / "archive" / "a.toml"
    src.write_text("x")
    dest.parent.mkdir()

    def cross_device(a, b, **_):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "link", cross_device)
    _move(src, dest)
    assert dest.read_text() == "x" and not src.exists()


def test_a_copy_across_file_systems_of_the_file_as_checked_is_archived(tmp_path, monkeypatch):
    """A copy is a new inode: it is the source's signature that must match what was checked."""
    from hhu_sync.outbox.mover import signature

    src, dest = tmp_path / "a.toml", tmp_path / "archive" / "a.toml"
    src.write_text("x")
    dest.parent.mkdir()
    checked = signature(os.stat(src))

    def cross_device(a, b, **_):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "link", cross_device)
    _move(src, dest, checked)
    assert dest.read_text() == "x" and not src.exists()
