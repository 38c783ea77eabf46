"""The demo's set-up never stops the daemon: a key store it cannot use (``hhus/`` a
symlink, refused since the key store follows none) is logged, and the daemon starts."""

from __future__ import annotations

from hhu_sync.cli import main


def test_a_demo_key_store_that_cannot_be_used_is_logged_and_the_daemon_starts(tmp_path,
                                                                            capsys):
    cfg = tmp_path / "hhu-sync.toml"
    cfg.write_text("[depot]\nid = 'DEPOT-T'\n[paths]\nkeystore = 'var/keystore'\n"
                   "[demo]\nenroll = ['HHU-001']\nsecrets = { s1 = 'DEMO' }\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "var" / "keystore").mkdir(parents=True, mode=0o700)
    (tmp_path / "var" / "keystore" / "hhus").symlink_to(elsewhere)
    assert main(["run", "--once", "--config", str(cfg), "--log-format", "text"]) == 0
    err = capsys.readouterr().err
    assert "cannot start" not in err
    assert "demo: cannot enroll" in err and "key store" in err
    assert not list(elsewhere.iterdir())             # nothing written through the link
