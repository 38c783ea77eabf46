"""Safe writes: nothing planted at a temp name or in place of a folder is ever followed.

Whoever can write ``rejected/``, ``exports/`` (or a folder beside them) can plant a
symlink at any name they can predict. These tests plant one at every name the writers
ever used or could be guessed to use, and check that the file it points at is untouched.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hhu_sync import fsutil
from hhu_sync.fsutil import (
    UnsafePathError,
    atomic_open,
    atomic_write,
    copy_new_file,
    ensure_dir,
    user_path,
)

VICTIM = b"the daemon can write this file; nobody else should make it\n"


@pytest.fixture
def no_umask():
    """umask 0: modes must come from the code, not from a lucky umask."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "elsewhere" / "victim"
    path.parent.mkdir()
    path.write_bytes(VICTIM)
    return path


def predictable_names(folder: Path, name: str) -> list[Path]:
    """Every temp name a writer here used (``.NAME.PID.tmp``) or could be guessed to use."""
    return [folder / f".{name}.{os.getpid()}.tmp", folder / f".{name}.tmp",
            folder / f"{name}.tmp", folder / f".tmp-{name}"]


def plant_links(folder: Path, name: str, target: Path) -> None:
    for link in predictable_names(folder, name):
        link.symlink_to(target)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def write_via_atomic_open(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


WRITERS = [pytest.param(atomic_write, id="atomic_write"),
           pytest.param(write_via_atomic_open, id="atomic_open")]


@pytest.mark.parametrize("write", WRITERS)
def test_a_symlink_at_every_predictable_temp_name_is_not_followed(tmp_path, victim, write):
    folder = tmp_path / "rejected"
    folder.mkdir()
    plant_links(folder, "k.csv.reason.txt", victim)
    write(folder / "k.csv.reason.txt", b"reason\n")
    assert victim.read_bytes() == VICTIM
    assert (folder / "k.csv.reason.txt").read_bytes() == b"reason\n"
    assert not (folder / "k.csv.reason.txt").is_symlink()


@pytest.mark.parametrize("write", WRITERS)
def test_a_file_planted_at_a_temp_name_is_neither_overwritten_nor_moved(tmp_path, write):
    folder = tmp_path / "exports"
    folder.mkdir()
    for planted in predictable_names(folder, "U-1.csv"):
        planted.write_bytes(b"planted")
    write(folder / "U-1.csv", b"rows\n")
    assert (folder / "U-1.csv").read_bytes() == b"rows\n"
    assert all(p.read_bytes() == b"planted" for p in predictable_names(folder, "U-1.csv"))


@pytest.mark.parametrize("write", WRITERS)
def test_a_symlink_at_the_random_temp_name_is_refused_and_another_name_taken(
        tmp_path, victim, write, monkeypatch):
    """Even a guessed random name (a race) is created with O_EXCL|O_NOFOLLOW."""
    tokens = iter(["guessed0guessed0", "fresh000fresh000"])
    monkeypatch.setattr(fsutil.secrets, "token_hex", lambda n: next(tokens))
    folder = tmp_path / "rejected"
    folder.mkdir()
    (folder / ".x.reason.txt.guessed0guessed0.tmp").symlink_to(victim)
    write(folder / "x.reason.txt", b"reason\n")
    assert victim.read_bytes() == VICTIM
    assert (folder / "x.reason.txt").read_bytes() == b"reason\n"


def test_the_temp_name_loop_ends_when_every_name_is_taken(tmp_path, monkeypatch):
    monkeypatch.setattr(fsutil.secrets, "token_hex", lambda n: "same")
    (tmp_path / ".f.same.tmp").write_bytes(b"")
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "f", b"x")
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("write", WRITERS)
def test_a_folder_replaced_by_a_symlink_is_refused_not_written_through(tmp_path, write):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "rejected").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symlink"):
        write(tmp_path / "rejected" / "k.csv.reason.txt", b"reason\n")
    assert list(elsewhere.iterdir()) == []


def test_a_symlink_at_the_final_name_is_replaced_not_followed(tmp_path, victim):
    (tmp_path / "out.csv").symlink_to(victim)
    atomic_write(tmp_path / "out.csv", b"new\n")
    assert victim.read_bytes() == VICTIM
    assert not (tmp_path / "out.csv").is_symlink()


def test_without_replace_an_existing_name_or_symlink_is_left_alone(tmp_path, victim):
    (tmp_path / "k.key").symlink_to(victim)
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "k.key", b"secret", replace=False)
    assert (tmp_path / "k.key").is_symlink() and victim.read_bytes() == VICTIM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "k.key"]


@pytest.mark.parametrize("write", WRITERS)
def test_a_failed_write_leaves_no_temp_file_and_the_old_content(tmp_path, write, monkeypatch):
    (tmp_path / "f").write_bytes(b"old")

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        write(tmp_path / "f", b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    assert (tmp_path / "f").read_bytes() == b"old"


def test_a_very_long_name_still_gets_a_temp_name_that_fits(tmp_path):
    name = "n" * 250
    atomic_write(tmp_path / name, b"x")
    assert (tmp_path / name).read_bytes() == b"x"


def test_files_get_their_mode_at_creation_whatever_the_umask(tmp_path, no_umask):
    atomic_write(tmp_path / "a", b"x")
    atomic_write(tmp_path / "key", b"x", mode=0o600)
    with atomic_open(tmp_path / "b.csv") as fh:
        fh.write("x\n")
    assert (mode(tmp_path / "a"), mode(tmp_path / "key"), mode(tmp_path / "b.csv")) == \
        (0o640, 0o600, 0o640)


def test_ensure_dir_makes_folders_with_the_mode_asked(tmp_path, no_umask):
    folder = ensure_dir(tmp_path / "var" / "rejected", 0o750)
    assert mode(folder) == 0o750
    assert mode(folder.parent) & 0o027 == 0


def test_ensure_dir_tightens_a_looser_folder_but_never_loosens_a_stricter_one(tmp_path):
    loose, strict = tmp_path / "loose", tmp_path / "strict"
    loose.mkdir()
    strict.mkdir()
    os.chmod(loose, 0o777)
    os.chmod(strict, 0o700)
    ensure_dir(loose, 0o750)
    ensure_dir(strict, 0o750)
    assert (mode(loose), mode(strict)) == (0o750, 0o700)


def test_ensure_dir_refuses_a_symlink_or_a_file_in_place_of_the_folder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o755)
    (tmp_path / "archive").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafePathError):
        ensure_dir(tmp_path / "archive", 0o750)
    assert mode(elsewhere) == 0o755           # not chmod-ed through the link either
    (tmp_path / "exports").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        ensure_dir(tmp_path / "exports", 0o750)


def test_copy_new_file_never_writes_through_a_planted_name(tmp_path, victim):
    src = tmp_path / "src"
    src.write_bytes(b"content")
    (tmp_path / "dest").symlink_to(victim)
    with pytest.raises(FileExistsError):
        copy_new_file(src, tmp_path / "dest")
    assert victim.read_bytes() == VICTIM
    copy_new_file(src, tmp_path / "dest2")
    assert (tmp_path / "dest2").read_bytes() == b"content"


def test_a_folder_the_user_names_may_be_their_own_symlink(tmp_path):
    """``-o ~/exports/x.csv`` with ``~/exports`` a link: followed at the user's word, and a
    symlink at the file's own name is still replaced, not written through."""
    real = tmp_path / "share"
    real.mkdir()
    (tmp_path / "exports").symlink_to(real, target_is_directory=True)
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    (real / "x.csv").symlink_to(victim)
    atomic_write(user_path(tmp_path / "exports" / "x.csv"), b"rows\n")
    assert (real / "x.csv").read_bytes() == b"rows\n" and victim.read_bytes() == VICTIM


def test_without_hard_links_a_new_name_is_still_never_written_over(tmp_path, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(fsutil.os, "link", no_links)
    atomic_write(tmp_path / "k.key", b"one", replace=False)
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "k.key", b"two", replace=False)
    assert (tmp_path / "k.key").read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key"]


def test_ensure_dir_keeps_a_setgid_bit_an_admin_set(tmp_path):
    shared = tmp_path / "exports"
    shared.mkdir()
    os.chmod(shared, 0o2775)
    ensure_dir(shared, 0o750)
    assert mode(shared) == 0o2750
