"""The README's command tour runs as written, top to bottom, in a fresh copy of the repo.

The blocks of README.md's "Command tour" are read from the README itself, so the README
is what is tested, not a copy of it:

- a ```sh block preceded by ``<!-- tour -->`` is run, one command at a time, in order;
  ``<!-- tour: needs /dev/... -->`` (a real device) is the only kind that is skipped;
- a command exits 0 unless its comment starts with ``# exit N``;
- a line ending in ``&`` runs in the background until the end of its block, when it is
  sent SIGTERM and must stop cleanly (exit 0); one with ``--listen HOST:PORT`` must be
  accepting connections before the next command runs.

It runs in a temporary copy of the checkout's files (what a fresh clone holds, so
``var/`` starts empty) with the virtual environment's ``bin`` first on ``PATH``. The
TCP ports the tour documents are mapped to free ones, consistently, so a busy port on
the test machine cannot fail it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## Command tour"
_MARK = re.compile(r"^<!--\s*tour(?::\s*needs\s+(?P<needs>.*?))?\s*-->$")
_EXIT = re.compile(r"^#\s*exit\s+(\d+)\b")
_PORT = re.compile(r"127\.0\.0\.1:(\d{2,5})\b")
COMMAND_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Block:
    line: int                  # of the opening fence, in README.md
    marked: bool
    needs: str | None
    text: str


@dataclass(frozen=True)
class Command:
    line: int
    code: str                  # the shell text, comment removed
    expect: int
    background: bool


def tour_blocks(text: str = README.read_text()) -> list[Block]:
    """Every ```sh block of the Command tour section, with its marker (if any)."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == SECTION)
    end = next((n for n in range(start + 1, len(lines)) if lines[n].startswith("## ")),
               len(lines))
    blocks: list[Block] = []
    n = start + 1
    while n < end:
        if lines[n].strip() in ("```sh", "```bash", "```shell"):
            body_start = n + 1
            close = next(k for k in range(body_start, end) if lines[k].strip() == "```")
            before = next((lines[k].strip() for k in range(n - 1, start, -1)
                           if lines[k].strip()), "")
            mark = _MARK.match(before)
            blocks.append(Block(n + 1, mark is not None,
                                mark.group("needs") if mark else None,
                                "\n".join(lines[body_start:close])))
            n = close
        n += 1
    return blocks


def split_comment(line: str) -> tuple[str, str]:
    """(code, comment): the comment starts at a ``#`` outside quotes after a blank."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i:]
    return line.rstrip(), ""


def commands(block: Block) -> list[Command]:
    out: list[Command] = []
    pending: list[str] = []
    first = 0
    for offset, raw in enumerate(block.text.splitlines()):
        number = block.line + 1 + offset
        code, comment = split_comment(raw)
        if not pending:
            first = number
        if code.endswith("\\"):
            pending.append(code[:-1])
            continue
        pending.append(code)
        whole = " ".join(part.strip() for part in pending).strip()
        pending = []
        if not whole:
            continue
        expect = int(m.group(1)) if (m := _EXIT.match(comment)) else 0
        background = whole.endswith("&") and not whole.endswith("&&")
        out.append(Command(first, whole[:-1].rstrip() if background else whole, expect,
                           background))
    assert not pending, f"README.md:{first}: a continued line with nothing after it"
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_copy(dest: Path) -> None:
    """The checkout's files as a clone would have them: tracked and unignored ones."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"], capture_output=True, check=True, timeout=30).stdout
        names = [n for n in listed.decode().split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()
                 and not {".git", ".venv", "var", "__pycache__"} & set(p.parts)]
    for name in names:
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _environment(repo: Path) -> dict[str, str]:
    bin_dir = Path(sys.executable).parent
    venv = Path(sys.prefix)
    if (venv / "bin" / "activate").is_file():
        (repo / ".venv").symlink_to(venv)
    else:   # not run from a virtual environment: an activate that only sets PATH
        (repo / ".venv" / "bin").mkdir(parents=True)
        (repo / ".venv" / "bin" / "activate").write_text(f'PATH="{bin_dir}:$PATH"\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ("HHU_SYNC_CONFIG", "HHU_SYNC_CATALOG", "COLUMNS")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Tour:
    """Runs the commands; remembers the background ones to stop them at a block's end."""

    def __init__(self, repo: Path, env: dict[str, str], ports: dict[str, str]) -> None:
        self.repo, self.env, self.ports = repo, env, ports
        self.background: list[tuple[Command, subprocess.Popen, Path]] = []

    def localise(self, code: str) -> str:
        return _PORT.sub(lambda m: f"127.0.0.1:{self.ports[m.group(1)]}", code)

    def run(self, cmd: Command) -> None:
        code = self.localise(cmd.code)
        if cmd.background:
            self.start(cmd, code)
            return
        try:
            done = subprocess.run(["bash", "-o", "pipefail", "-c", code], cwd=self.repo,
                                  env=self.env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"README.md:{cmd.line}: {cmd.code}\ndid not end within "
                        f"{COMMAND_TIMEOUT_S:g} s")
        if done.returncode != cmd.expect:
            pytest.fail(f"README.md:{cmd.line}: {cmd.code}\nexited {done.returncode}, the "
                        f"README says {cmd.expect}\n--- stdout\n{done.stdout[-3000:]}"
                        f"\n--- stderr\n{done.stderr[-3000:]}")

    def start(self, cmd: Command, code: str) -> None:
        log = self.repo / f".tour-bg-{len(self.background)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(["bash", "-c", f"exec {code}"], cwd=self.repo,
                                    env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.background.append((cmd, proc, log))
        listen = re.search(r"--listen\s+(?:127\.0\.0\.1:)?(\d+)", code)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"README.md:{cmd.line}: {cmd.code}\nended at once (exit "
                            f"{proc.returncode}):\n{log.read_text()[-3000:]}")
            if listen and _accepts(int(listen.group(1))):
                return
            if not listen and log.stat().st_size > 0:
                return     # it has started: it logs once it is up (and its signals set)
            time.sleep(0.05)
        pytest.fail(f"README.md:{cmd.line}: {cmd.code}\nnot ready within "
                    f"{READY_TIMEOUT_S:g} s:\n{log.read_text()[-3000:]}")

    def stop_background(self) -> None:
        """SIGTERM each, newest first; each must stop cleanly (exit 0) in time."""
        failures = []
        while self.background:
            cmd, proc, log = self.background.pop()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                failures.append(f"README.md:{cmd.line}: {cmd.code}\ndid not stop within "
                                f"{STOP_TIMEOUT_S:g} s of SIGTERM")
                continue
            if proc.returncode != 0:
                failures.append(f"README.md:{cmd.line}: {cmd.code}\nexited "
                                f"{proc.returncode} on SIGTERM:\n{log.read_text()[-3000:]}")
        if failures:
            pytest.fail("\n\n".join(failures))

    def kill_all(self) -> None:
        for _cmd, proc, _log in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.background.clear()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _needs_a_device(needs: str | None) -> bool:
    return bool(needs) and re.fullmatch(r"/dev/\S+", needs.strip()) is not None


def test_every_shell_block_of_the_tour_is_marked():
    blocks = tour_blocks()
    assert len([b for b in blocks if b.marked and b.needs is None]) >= 3
    unmarked = [b.line for b in blocks if not b.marked]
    assert unmarked == [], f"README.md lines {unmarked}: a tour block without <!-- tour -->"


def test_only_blocks_needing_a_real_device_are_skipped_and_they_are_few():
    needing = [b for b in tour_blocks() if b.needs is not None]
    assert all(_needs_a_device(b.needs) for b in needing), \
        [(b.line, b.needs) for b in needing if not _needs_a_device(b.needs)]
    assert len(needing) <= 1
    assert all(len(commands(b)) <= 2 for b in needing)


def test_a_command_line_is_split_into_code_comment_and_expected_exit():
    block = Block(10, True, None, "a 'x # y' # exit 3: why\n"
                                  "b --c \\\n    d   # note\n"
                                  "srv --listen 127.0.0.1:1 &  # in the background\n")
    assert commands(block) == [Command(11, "a 'x # y'", 3, False),
                               Command(12, "b --c d", 0, False),
                               Command(14, "srv --listen 127.0.0.1:1", 0, True)]


#: the tour is every README command in turn (each bounded by COMMAND_TIMEOUT_S): with the
#: suite on three workers on two cores it took 120 s and more as the README grew
@pytest.mark.timeout(420)
def test_the_command_tour_runs_as_written(tmp_path):
    repo = tmp_path / "clone"
    repo.mkdir()
    _fresh_copy(repo)
    assert not (repo / "var").exists()
    blocks = tour_blocks()
    documented = sorted({port for b in blocks for c in commands(b)
                         for port in _PORT.findall(c.code)})
    tour = Tour(repo, _environment(repo), {p: str(_free_port()) for p in documented})
    ran = 0
    try:
        for block in blocks:
            if not block.marked or _needs_a_device(block.needs):
                continue
            for cmd in commands(block):
                tour.run(cmd)
                ran += 1
            tour.stop_background()
    finally:
        tour.kill_all()
    assert ran >= 20, f"only {ran} commands of the tour were run"


# -- the prose around the tour: the configuration reference and the documentation --------


def _config_table() -> dict[str, str]:
    """README's "Configuration reference" rows: key (as written) -> default cell."""
    text = README.read_text()
    section = text[text.index("## Configuration reference"):]
    section = section[:section.index("\n## ", 1)]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows[cells[0]] = cells[1]
    return rows


def _documented_keys() -> set[str]:
    keys: set[str] = set()
    for cell in _config_table():
        table = re.match(r"`\[\[([\w.]+)\]\]`\s*(.*)", cell)
        if table:       # `[[docks]]` `name` / `[[hhus]]` `id`, `crew` / `[[remote.gateways]]`
            keys |= {f"{table.group(1)}.{k}" for k in re.findall(r"`(\w+)`", table.group(2))}
        else:
            keys |= set(re.findall(r"`([\w.]+)`", cell))
    return keys


def _config_keys() -> dict[str, object]:
    """Every key hhu_sync.config reads, with its default where it has a simple one."""
    from dataclasses import fields

    from hhu_sync.config import (
        PATH_KEYS,
        Demo,
        Dock,
        Limits,
        Link,
        Remote,
        Schedule,
        StoreSettings,
        Web,
    )

    keys: dict[str, object] = {"depot.id": "depot", "serial.handler_packages": []}
    keys |= {f"paths.{k}": None for k in PATH_KEYS}
    keys |= {f"docks.{f.name}": None for f in fields(Dock)}
    keys |= {"hhus.id": None, "hhus.crew": None}
    keys |= {f"schedule.{f.name}": f.default for f in fields(Schedule)}
    keys |= {f"limits.{f.name}": f.default for f in fields(Limits)}
    keys |= {f"link.{f.name}": f.default for f in fields(Link)}
    keys |= {f"web.{f.name}": f.default for f in fields(Web)}
    keys |= {f"remote.{f.name}": f.default for f in fields(Remote) if f.name != "gateways"}
    keys |= {"remote.gateways.port": None, "remote.gateways.sessions": None}
    keys |= {f"store.{f.name}": None for f in fields(StoreSettings)}
    keys |= {f"demo.{f.name}": None for f in fields(Demo)}
    return keys


def test_the_configuration_reference_names_every_key_the_configuration_reads():
    documented = _documented_keys()
    missing = sorted(set(_config_keys()) - documented)
    assert missing == [], f"README.md's configuration table lacks {missing}"
    unknown = sorted(k for k in documented - set(_config_keys()) if "." in k)
    assert unknown == [], f"README.md's configuration table names keys nobody reads: {unknown}"


def test_the_configuration_reference_gives_the_defaults_the_code_has():
    table = {re.sub(r"`", "", k): v for k, v in _config_table().items()}
    for key, default in _config_keys().items():
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            shown = re.fullmatch(r"`([\d.]+)`", table[key])
            assert shown and float(shown.group(1)) == default, \
                f"README.md: {key} is documented as {table[key]}, the code's default is {default}"


def test_the_example_configuration_loads_and_shows_every_key(tmp_path):
    from hhu_sync.config import load_config

    example = ROOT / "config" / "example.toml"
    load_config(example)                          # valid as shipped
    text = example.read_text()
    for key in _config_keys():
        section, name = key.rsplit(".", 1)
        if section == "demo":
            continue                                  # demo only: config/demo.toml
        assert re.search(rf"^\s*(#\s*)?\[{{1,2}}{re.escape(section)}\]{{1,2}}\s*$", text,
                         re.M), \
            f"config/example.toml has no [{section}] table"
        assert re.search(rf"^\s*(#\s*)?{name}\s*=", text, re.M), \
            f"config/example.toml does not show {key}"
    # Uncommenting every `# key = value` line (the documented defaults) still loads.
    uncommented = re.sub(r"^# ((?!\[\[)\w+ = .*)$", r"\1", text, flags=re.M)
    uncommented = re.sub(r"^# (\[\[docks\]\]|\[\[hhus\]\]|\[\[remote\.gateways\]\])", r"\1",
                         uncommented, flags=re.M)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "example.toml").write_text(uncommented)
    config = load_config(tmp_path / "config" / "example.toml")
    assert [d.name for d in config.docks] == ["cradle-1", "cradle-2"]
    assert config.hhus == {"HHU-001": "crew-north"}
    assert config.remote.gateways == (("socket://10.1.0.20:4001", 4),)


def test_every_document_is_linked_from_the_readme_and_every_link_exists():
    text = README.read_text()
    linked = set(re.findall(r"\]\((docs/[^)#]+)\)", text))
    assert sorted(p for p in linked if not (ROOT / p).is_file()) == []
    present = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert sorted(present - linked) == [], "documents the README does not link"


# -- the set-up scripts ----------------------------------------------------------------


@pytest.mark.parametrize("script", ["run-demo", "test"])
def test_a_set_up_script_on_a_python_too_old_says_what_to_install_and_makes_nothing(
        tmp_path, script):
    (tmp_path / "scripts").mkdir()
    for name in ("run-demo", "test", "setup-venv"):
        shutil.copy2(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'Python 3.10.12'"
                                  "\nexit 1\n")
    (fake / "python3").chmod(0o755)
    for tool in ("dirname", "cut"):
        found = shutil.which(tool)
        assert found, tool
        (fake / tool).symlink_to(found)
    done = subprocess.run(["/bin/bash", str(tmp_path / "scripts" / script)],
                          env={"PATH": str(fake), "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "needs Python 3.11 or newer; found: Python 3.10.12" in done.stderr
    assert "PYTHON=" in done.stderr
    assert not (tmp_path / ".venv").exists()
