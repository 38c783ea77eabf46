"""Issue 13's CPU target, measured side by side: this checkout's ``bench/docks.py`` and
an older commit's own ``bench/docks.py``, run in turn in one sitting.

    python bench/docks_beside.py [--rev ab7462e] [--hhus 32] [--pairs 2]

Why: the target is a ratio to the code of the issue's filing (ab7462e), and this
machine's speed swings 2-3x between sittings, so only pairs run one after the other
compare. The older bench counts the daemon's process alone (``time.process_time()``);
it is run from a temporary worktree of ``--rev`` with one addition, made here and never
committed there: when the last docking ends it also reads, from ``/proc``, the CPU of
the daemon's worker processes (every child of the bench that is not a simulator: the
upload checkers and the export worker), as today's bench counts them. The workload is
the same in both (48 KiB bundle, 48 KiB upload of 3,400 readings per HHU, 115200 baud).
Both codes' exports go on after the last docking (a niced worker), so each side is also
counted once its exports are written (``exports written``: the older workers' CPU read
again once it stops growing; today's bench's ``depot with it``).
Prints one row a run and the ratio of each pair.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: put into the older bench: a function reading the CPU of the bench's children that are
#: not simulators (the daemon's workers, started and warmed before its ``cpu0``) ...
_WORKERS_CPU = '''

def _beside_workers_cpu(sims):
    sim_pids = {sim.pid for sim in sims}
    kids = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                kids |= {int(x) for x in f.read().split()}
        except OSError:
            pass
    tick = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for kid in kids - sim_pids:
        try:
            with open(f"/proc/{kid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu[kid] = (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return cpu

'''
#: ... read when its dockings start (their start-up, imports included, is not a docking's:
#: today's bench subtracts it the same way) ...
_START = "        cpu0 = time.process_time()\n"
_AT_START = "        workers0 = _beside_workers_cpu(sims)\n"
#: ... and when its last docking ends
_END = "        cpu = time.process_time() - cpu0\n"
_AT_END = ('        workers1 = _beside_workers_cpu(sims)\n'
           '        worker_cpu = sum(c - workers0.get(k, 0.0) for k, c in workers1.items())\n'
           '        print(f"BESIDE workers {worker_cpu:.3f} daemon {cpu:.3f} moved {moved}")\n'
           '        idle = _beside_workers_idle(sims, workers0)\n'
           '        print(f"BESIDE idle workers {idle:.3f}")\n')
#: ... and again once its workers are idle: their exports go on after the last docking
#: in both codes (a niced worker), so "with every export written" compares like with like
_WORKERS_IDLE = '''

def _beside_workers_idle(sims, workers0):
    """The workers' CPU since the dockings began, once it stops growing (0.5 s apart,
    less than 10 ms more, at most 60 s)."""
    last = None
    for _ in range(120):
        now = sum(c - workers0.get(k, 0.0) for k, c in _beside_workers_cpu(sims).items())
        if last is not None and now - last < 0.01:
            return now
        last = now
        time.sleep(0.5)
    return now

'''
_DEF_BEFORE = "\ndef serve_sims("
_OLD_LINE = re.compile(r"docks: (\d+) HHUs, \d+ B/s = ([0-9.]+) of N x line rate")
_OLD_CPU = re.compile(r"BESIDE workers ([0-9.]+) daemon ([0-9.]+) moved (\d+)")
_OLD_IDLE = re.compile(r"BESIDE idle workers ([0-9.]+)")
#: today's bench's ``live`` row: HHUs, bytes moved, depot cpu-s/MB, of N x line rate
_NEW_LINE = re.compile(r"^\s*live\s+(\d+)\s+\d+\s+(\d+)\s+[0-9.]+\s+([0-9.]+)\s+[0-9.]+"
                       r"\s+([0-9.]+)", re.M)
_NEW_DAEMON = re.compile(r"depot cpu-s/MB \(live\): daemon ([0-9.]+)")
_NEW_WHOLE = re.compile(r"export worker to its end \(live\): .*depot with it ([0-9.]+) cpu-s/MB")


def measured_copy(worktree: Path) -> Path:
    """The older bench with its workers' CPU read at the start and the end of its
    dockings; refuses a bench it cannot place the additions in (another commit's
    layout), rather than measure wrongly."""
    source = (worktree / "bench" / "docks.py").read_text()
    if any(source.count(anchor) != 1 for anchor in (_START, _END, _DEF_BEFORE)):
        raise SystemExit(f"{worktree}/bench/docks.py: no single place for the workers' "
                         "CPU (this script knows ab7462e's layout)")
    source = source.replace(_DEF_BEFORE, _WORKERS_CPU + _WORKERS_IDLE + _DEF_BEFORE)
    source = source.replace(_START, _START + _AT_START).replace(_END, _END + _AT_END)
    out = worktree / "bench" / "docks_beside_measured.py"
    out.write_text(source)
    return out


def run_old(script: Path, hhus: int) -> tuple[float, float, float, float]:
    """(of line rate, depot cpu-s/MB with workers, daemon process cpu-s/MB, depot
    cpu-s/MB with every export written)."""
    text = subprocess.run([sys.executable, str(script), "--hhus", str(hhus)], check=True,
                          capture_output=True, text=True, cwd=script.parents[1],
                          timeout=900).stdout
    line, cpu, idle = _OLD_LINE.search(text), _OLD_CPU.search(text), _OLD_IDLE.search(text)
    if line is None or cpu is None or idle is None:
        raise SystemExit(f"older bench printed no figures:\n{text}")
    mb = int(cpu[3]) / 2**20
    return (float(line[2]), (float(cpu[1]) + float(cpu[2])) / mb, float(cpu[2]) / mb,
            (float(idle[1]) + float(cpu[2])) / mb)


def run_new(hhus: int) -> tuple[float, float, float, float]:
    text = subprocess.run([sys.executable, str(ROOT / "bench" / "docks.py"), "--hhus",
                           str(hhus)], check=True, capture_output=True, text=True,
                          cwd=ROOT, timeout=900).stdout
    line, daemon, whole = (_NEW_LINE.search(text), _NEW_DAEMON.search(text),
                           _NEW_WHOLE.search(text))
    if line is None or daemon is None or whole is None:
        raise SystemExit(f"bench/docks.py printed no figures:\n{text}")
    return float(line[4]), float(line[3]), float(daemon[1]), float(whole[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", default="ab7462e", help="the older commit (the issue's filing)")
    ap.add_argument("--hhus", type=int, default=32)
    ap.add_argument("--pairs", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hhu-beside-") as tmp:
        worktree = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree),
                        args.rev], check=True, capture_output=True)
        try:
            script = measured_copy(worktree)
            print(f"{'run':>10}{'HHUs':>6}{'of line rate':>14}{'depot cpu-s/MB':>16}"
                  f"{'daemon cpu-s/MB':>17}{'exports written':>17}{'new/old depot':>15}"
                  f"{'new/old daemon':>16}{'new/old written':>17}")
            for _ in range(args.pairs):
                old = run_old(script, args.hhus)
                print(f"{args.rev:>10}{args.hhus:>6}{old[0]:>14.3f}{old[1]:>16.3f}"
                      f"{old[2]:>17.3f}{old[3]:>17.3f}")
                new = run_new(args.hhus)
                print(f"{'this':>10}{args.hhus:>6}{new[0]:>14.3f}{new[1]:>16.3f}"
                      f"{new[2]:>17.3f}{new[3]:>17.3f}{new[1] / old[1]:>15.2f}"
                      f"{new[2] / old[2]:>16.2f}{new[3] / old[3]:>17.2f}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(worktree)], check=False, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
