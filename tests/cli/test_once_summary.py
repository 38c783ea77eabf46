"""`run --once` gives up while a meter list still waits for its schemes: the summary says so."""

from __future__ import annotations

from hhu_sync.cli import main


def test_a_list_left_waiting_for_its_schemes_is_named_in_the_once_summary(tmp_path, capsys):
    cfg = tmp_path / "hhu-sync.toml"
    cfg.write_text('[paths]\noutbox = "outbox"\narchive = "archive"\nrejected = "rejected"\n'
                   'exports = "exports"\ndatabase = "db.sqlite"\nkeystore = "keys"\n')
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "waiting.csv").write_text(
        "# list: l-1\n# name: n\n# crew: c\n# due: 2026-12-20\n"
        "serial,site,address,task,scheme,model,notes\n"
        "41200019,Bakers,,read+program,nosuch,A1140,\n")
    # --once waits for the schemes (limits.scheme_wait_seconds, 60 s) and gives up first:
    assert main(["run", "--once", "--timeout", "2", "--config", str(cfg),
                 "--log-format", "text"]) == 1
    out = capsys.readouterr().out
    assert (tmp_path / "outbox" / "waiting.csv").exists()       # not taken, not refused yet
    line = next(x for x in out.splitlines() if x.startswith("waiting in the outbox"))
    assert "1 file" in line and "hhu-sync status" in line
