"""The export worker's CPU a reading: ``export_stored``, as the daemon runs it after a commit.

    python bench/export_worker.py [--readings 34000] [--per-upload 3400] [--rounds 3]
                                  [--against /work/main] [--profile] [--stages]
                                  [--store postgresql://postgres@127.0.0.1:5432/hhu_xw]

One store is filled once (through the real ingest path, visits of a meter list held, as
``bench/ingest.py`` fills its own), then every upload's exports are written by
``export_stored`` (CSV, CMEP, and the interval files when there are intervals) in a
fresh process a round, timed with ``time.process_time`` (CPU of that process only). With
``--against DIR`` the same store is exported by the code in ``DIR`` too (its own
``.venv/bin/python`` when it has one), the two alternating round by round; each file's
SHA-256 is printed per code, and the run fails when any differs: the exports are the
same bytes. The CMEP's creation stamp is the one thing that depends on the clock; the
worker runs with ``datetime.now`` fixed, so the digests compare.
With ``--store`` the store is a PostgreSQL database the bench makes and drops, and the
CPU of the export connection's server backend (from ``/proc``) is printed beside; the
worker's and the server's are of the uploads after the first (which opens the kept
connection and imports psycopg) and per reading of those.
Last line: ``export worker: N readings, ours U us/reading[, against A us/reading, ratio R]``
(with ``--store``: ``; server ours S, against T us/reading``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Run in a child process with the code tree first on sys.path: argv = code, store, out.
WORKER = r"""
import cProfile, gc, hashlib, json, os, pstats, sys, time
code, database, folder, uploads, profile = sys.argv[1], sys.argv[2], sys.argv[3], \
    sys.argv[4].split(","), sys.argv[5] == "1"
sys.path.insert(0, code)
from datetime import UTC, datetime
import hhu_sync.export.cmep as cmep
import hhu_sync.export.cmep_intervals as cmep_intervals
assert cmep.__file__.startswith(code), (cmep.__file__, code)
class Fixed(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
cmep.datetime = cmep_intervals.datetime = Fixed
from hhu_sync.dock.readings import export_stored
gc.freeze()
prof = cProfile.Profile() if profile else None
cpu = 0.0
server = 0.0       # PostgreSQL: the CPU of the export connection's backend (from /proc)
backend = None
def backend_cpu():
    if backend is None:
        return 0.0
    fields = open(f"/proc/{backend}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
for upload in uploads:
    if prof: prof.enable()
    s0 = backend_cpu()
    t0 = time.process_time()
    export_stored(database=database, upload_id=upload, folder=folder, sender="BENCH")
    spent = time.process_time() - t0
    if prof: prof.disable()
    if database.startswith("postgresql") and backend is None:
        # the first opens the kept connection (and imports psycopg): not counted
        from hhu_sync.store.postgres import _kept_connection
        backend = _kept_connection(database).info.backend_pid
    else:
        cpu += spent
        server += backend_cpu() - s0
from pathlib import Path
digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
           for p in sorted(Path(folder).iterdir())}
sizes = sum(os.path.getsize(os.path.join(folder, n)) for n in digests)
stages = {}
if os.environ.get("STAGES"):      # each step on its own, best of 7, all the uploads
    from hhu_sync.export import write_cmep, write_csv
    from hhu_sync.export.formats import _KEY
    from hhu_sync.export.rows import as_row
    from hhu_sync.store.opening import read_export_rows, read_upload_interval_series
    rows = {u: sorted(map(as_row, read_export_rows(database, upload_id=u)), key=_KEY)
            for u in uploads}
    out = Path(folder) / "stage"
    steps = {
        "read rows": lambda: [read_export_rows(database, upload_id=u) for u in uploads],
        "csv": lambda: [write_csv(rows[u], out.with_suffix(".csv")) for u in uploads],
        "cmep": lambda: [write_cmep(rows[u], out.with_suffix(".cmep"), sender="BENCH")
                         for u in uploads],
        "intervals read": lambda: [read_upload_interval_series(database, u) for u in uploads],
    }
    for name, step in steps.items():
        best = float("inf")
        for _ in range(7):
            t0 = time.process_time()
            step()
            best = min(best, time.process_time() - t0)
        stages[name] = best
    for p in Path(folder).glob("stage.*"):
        p.unlink()
if prof:
    stats = pstats.Stats(prof, stream=sys.stderr)
    stats.sort_stats(os.environ.get("SORT", "tottime"))
    stats.print_stats(int(os.environ.get("TOP", "25")))
print(json.dumps({"cpu": cpu, "server": server, "digests": digests, "bytes": sizes,
                  "stages": stages}))
"""


def fill(path: Path | str, readings: int, per_upload: int) -> tuple[list[str], int]:
    """Fill the SQLite file ``path``, or the PostgreSQL database ``path`` names."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from export import fill as fill_store

    from hhu_sync.store import SqliteStore
    if isinstance(path, Path):
        store = SqliteStore(path)
    else:
        from hhu_sync.store.postgres import PostgresStore
        store = PostgresStore(path)
    stored = fill_store(store, readings, per_upload, listed=True)
    uploads = [f"U{n:06d}" for n in range(max(1, readings // per_upload))]
    store.close()
    return uploads, stored


def python_of(code: Path) -> str:
    own = code / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def run(code: Path, database: Path | str, uploads: list[str], out: Path, profile: bool,
        stages: bool = False) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    env = {**os.environ, "STAGES": "1" if stages else ""}
    done = subprocess.run([python_of(code), "-c", WORKER, str(code), str(database), str(out),
                           ",".join(uploads), "1" if profile else "0"],
                          capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"worker of {code} failed:\n{done.stderr}")
    if profile:
        print(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readings", type=int, default=34_000)
    ap.add_argument("--per-upload", type=int, default=3_400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--against", type=Path, help="another code tree to export the same store")
    ap.add_argument("--profile", action="store_true", help="cProfile (ours, one round)")
    ap.add_argument("--stages", action="store_true",
                    help="also each step on its own a round (reading the rows back, the "
                         "CSV, the CMEP, reading the intervals back): best of 7 in-process")
    ap.add_argument("--store", metavar="URL",
                    help="a PostgreSQL database to make, fill and drop (postgresql://.../DB); "
                         "the export connection's server backend CPU is printed too")
    args = ap.parse_args()
    if args.store and args.stages:
        ap.error("--stages reads a SQLite store (bench/export_stages.py --store times "
                 "PostgreSQL's steps)")
    codes = {"ours": ROOT}
    if args.against:
        codes["against"] = args.against.resolve()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as made:
        database: Path | str = Path(tmp) / "store.db"
        if args.store:
            sys.path.insert(0, str(HERE))
            from pg_database import bench_database
            database = made.enter_context(bench_database(args.store))
        uploads, stored = fill(database, args.readings, args.per_upload)
        cpu: dict[str, list[float]] = {name: [] for name in codes}
        server: dict[str, list[float]] = {name: [] for name in codes}
        digests: dict[str, dict[str, str]] = {}
        steps: dict[str, dict[str, float]] = {}
        size = 0
        for _ in range(1 if args.profile else args.rounds):
            for name, code in codes.items():
                got = run(code, database, uploads, Path(tmp) / name, args.profile,
                          args.stages)
                cpu[name].append(got["cpu"])
                server[name].append(got["server"])
                for step, spent in got["stages"].items():
                    best = steps.setdefault(name, {})
                    best[step] = min(best.get(step, spent), spent)
                digests.setdefault(name, got["digests"])
                assert got["digests"] == digests[name], f"{name}: not the same twice"
                size = got["bytes"]
    load = os.getloadavg()[0]
    if args.store:            # the first upload's export is not counted (see WORKER)
        stored = stored * (len(uploads) - 1) // max(1, len(uploads))
    per = {name: [c / stored * 1e6 for c in cs] for name, cs in cpu.items()}
    print(f"{stored} readings in {len(uploads)} uploads, {size:,} bytes of exports; "
          f"load {load:.1f}")
    for name, code in codes.items():
        print(f"{name:<8} {code}: us/reading " + " ".join(f"{x:.2f}" for x in per[name])
              + f"  (median {statistics.median(per[name]):.2f}; "
              f"cpu-s/MB {statistics.median(cpu[name]) / (size / 1e6):.3f})")
        if args.store:
            print(f"{name:<8} server backend us/reading " + " ".join(
                f"{x / stored * 1e6:.2f}" for x in server[name])
                + f"  (median {statistics.median(server[name]) / stored * 1e6:.2f})")
    for name in steps:
        print(f"{name:<8} steps, us/reading (best of 7 a round, best round): " + ", ".join(
            f"{step} {spent / stored * 1e6:.2f}" for step, spent in steps[name].items()))
    if len(steps) == 2:
        print("steps, ours / against: " + ", ".join(
            f"{step} {steps['ours'][step] / steps['against'][step]:.2f}"
            for step in steps["ours"]))
    same = True
    if "against" in digests:
        for name in sorted(set(digests["ours"]) | set(digests["against"])):
            a, b = digests["ours"].get(name), digests["against"].get(name)
            if a != b:
                same = False
                print(f"DIFFERS: {name}: ours {a} against {b}")
        print(f"digests: {len(digests['ours'])} files, "
              f"{'all the same' if same else 'NOT the same'}")
    line = f"export worker: {stored} readings, ours {statistics.median(per['ours']):.2f} us/reading"
    if "against" in per:
        a, o = statistics.median(per["against"]), statistics.median(per["ours"])
        line += f", against {a:.2f} us/reading, ratio {o / a:.2f}"
    if args.store:
        line += ("; server " + ", ".join(
            f"{name} {statistics.median(server[name]) / stored * 1e6:.2f}" for name in codes)
            + " us/reading")
    print(line)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
