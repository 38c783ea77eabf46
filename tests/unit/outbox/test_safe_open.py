"""safe_open: what the outbox opens, and what a reason may quote."""

from __future__ import annotations

import os

import pytest

from hhu_sync.outbox import safe_open
from hhu_sync.outbox.safe_open import EXCERPT, Refused, open_regular, safe_text


def test_a_file_swapped_for_a_symlink_after_its_stat_is_refused_at_the_open(tmp_path,
                                                                           monkeypatch):
    (tmp_path / "a.toml").write_text("x")
    (tmp_path / "secret").write_text("s")
    real_open = os.open

    def swap_then_open(name, flags, *args, **kwargs):
        if name == "a.toml":
            os.unlink(tmp_path / "a.toml")
            os.symlink(tmp_path / "secret", tmp_path / "a.toml")
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(safe_open.os, "open", swap_then_open)
    with pytest.raises(Refused, match="symbolic link"):
        open_regular(tmp_path / "a.toml", tmp_path)


def test_a_regular_file_is_opened_non_blocking_and_without_following(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.toml").write_text("x")
    fd, st = open_regular(tmp_path / "sub" / "a.toml", tmp_path)
    try:
        flags = int(open(f"/proc/self/fdinfo/{fd}").read().split("flags:")[1].split()[0], 8) \
            if os.path.exists("/proc/self/fdinfo") else os.O_NONBLOCK
        assert flags & os.O_NONBLOCK and st.st_size == 1
    finally:
        os.close(fd)


@pytest.mark.parametrize("text", [
    "bad value 'x" + "y" * 3000 + "'",
    "unterminated 'x" + "y" * 3000,
    'double "' + "z" * 3000 + '"',
])
def test_a_reason_quotes_at_most_a_short_excerpt(text):
    out = safe_text(text)
    assert max(len(run) for run in out.replace("z", "y").split("'")) <= 4 * EXCERPT
    assert "y" * EXCERPT not in out and "z" * EXCERPT not in out


def test_control_characters_and_undecodable_bytes_are_escaped():
    assert safe_text("a\nb\r\x1b[2J\u2028" + os.fsdecode(b"\xff")) == \
        "a\\nb\\r\\x1b[2J\\u2028\\udcff"


def test_a_parser_message_is_not_taken_for_a_quoted_excerpt():
    """tomli's "Expected '=' after a key in a key/value pair (at end of document)": the
    second quote closes '=' and opens nothing; the message is kept whole."""
    message = "not valid TOML: Expected '=' after a key in a key/value pair (at end of document)"
    assert safe_text(message) == message
