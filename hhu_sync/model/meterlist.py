"""Meter lists: ordered routes of meters with read/program tasks, from TOML or CSV.

TOML has a ``[list]`` table and ``[[meters]]`` entries. CSV starts with ``# key: value``
lines for the list (list, name, hhu, crew, due, notes), then a header row and one row per
meter; CSV line numbers in messages are exact.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from hhu_sync.model.catalog import Catalog
from hhu_sync.model.fields import Fields
from hhu_sync.model.fit import scheme_fit_problems
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme import Scheme

TASKS = ("read", "program", "read+program")
MAX_ENTRIES = 10_000
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
_LIST_KEYS = ("id", "name", "hhu", "crew", "due", "notes")
_ENTRY_KEYS = ("serial", "site", "address", "task", "scheme", "model", "notes")
CSV_COLUMNS = _ENTRY_KEYS


@dataclass(frozen=True)
class MeterEntry:
    serial: str
    site: str
    address: str
    task: str
    scheme: str | None
    model: str | None
    notes: str


@dataclass(frozen=True)
class MeterList:
    id: str
    name: str
    hhu: str | None
    crew: str | None
    due: str            # ISO date
    notes: str
    meters: tuple[MeterEntry, ...]

    @property
    def scheme_ids(self) -> tuple[str, ...]:
        """Schemes the list needs, in first-use order: they travel with it."""
        return tuple(dict.fromkeys(m.scheme for m in self.meters if m.scheme))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for msgpack and JSON (by hand: ``asdict`` deep-copies, ten times slower
        on a route of a thousand meters)."""
        return {"id": self.id, "name": self.name, "hhu": self.hhu, "crew": self.crew,
                "due": self.due, "notes": self.notes,
                "meters": [{"serial": m.serial, "site": m.site, "address": m.address,
                            "task": m.task, "scheme": m.scheme, "model": m.model,
                            "notes": m.notes} for m in self.meters]}


def meter_list_from_dict(data: dict[str, Any]) -> MeterList:
    return MeterList(
        id=data["id"], name=data["name"], hhu=data["hhu"], crew=data["crew"], due=data["due"],
        notes=data["notes"], meters=tuple(MeterEntry(**m) for m in data["meters"]))


def _build(f: Fields, head: dict[str, Any], head_path: str, rows: list[tuple[str, int | None,
           dict[str, Any]]], schemes: Mapping[str, Scheme] | None, catalog: Catalog) -> MeterList:
    f.unknown(head, head_path, _LIST_KEYS)
    lid = f.ident(head, head_path, "id")
    name = f.get(head, head_path, "name", str, required=False, default="")
    hhu = f.ident(head, head_path, "hhu", required=False)
    crew = f.ident(head, head_path, "crew", required=False)
    if "hhu" not in head and "crew" not in head:
        f.add(f"{head_path}.hhu", "a meter list needs a target: hhu = \"ID\" or crew = \"NAME\"")
    notes = f.get(head, head_path, "notes", str, required=False, default="")
    due_raw = head.get("due")
    due: str | None = None
    if due_raw is None:
        f.add(f"{head_path}.due", "missing")
    elif isinstance(due_raw, date) and not hasattr(due_raw, "hour"):
        due = due_raw.isoformat()
    elif isinstance(due_raw, str):
        try:
            due = date.fromisoformat(due_raw.strip()).isoformat()
        except ValueError:
            f.add(f"{head_path}.due", f"{due_raw!r} is not a date YYYY-MM-DD")
    else:
        f.add(f"{head_path}.due", f"{due_raw!r} is not a date YYYY-MM-DD")

    if not rows:
        f.add("meters", "the meter list is empty")
    if len(rows) > MAX_ENTRIES:
        f.add("meters", f"{len(rows)} meters is more than the limit of {MAX_ENTRIES}")
    entries: list[MeterEntry] = []
    first_seen: dict[str, str] = {}
    for path, line, row in rows:
        def add(field: str, message: str, path=path, line=line) -> None:
            f.add(f"{path}.{field}" if path else field, message, line)

        for key in row:
            if key not in _ENTRY_KEYS:
                add(key, f"unknown field (expected one of: {', '.join(_ENTRY_KEYS)})")
        serial = row.get("serial")
        if not isinstance(serial, str) or not _SERIAL.match(serial):
            add("serial", f"{serial!r} is not a meter serial (1-32 letters, digits, '-')")
            serial = None
        elif serial in first_seen:
            add("serial", f"duplicate meter serial {serial!r} (first at {first_seen[serial]})")
        else:
            first_seen[serial] = f"line {line}" if line else path
        task = row.get("task")
        if task not in TASKS:
            add("task", f"{task!r} is not a task ({', '.join(TASKS)})")
        scheme_id = row.get("scheme") or None
        model = row.get("model") or None
        if scheme_id is not None and not isinstance(scheme_id, str):
            add("scheme", "expected a scheme id (text)")
            scheme_id = None
        if model is not None and not isinstance(model, str):
            add("model", "expected a meter model name (text)")
            model = None
        if model is not None and model not in catalog:
            add("model", f"unknown meter model {model!r}")
        if task in ("program", "read+program") and not scheme_id:
            add("scheme", f"task {task!r} needs a scheme id")
        elif task == "read" and scheme_id:
            add("scheme", "a read-only task takes no scheme (use task read+program)")
        elif scheme_id and schemes is not None:
            scheme = schemes.get(scheme_id)
            if scheme is None:
                add("scheme", f"unknown scheme id {scheme_id!r}")
            elif model and model in catalog:
                for problem in scheme_fit_problems(scheme, model, catalog):
                    add("scheme", problem)
        texts = {}
        for key in ("site", "address", "notes"):
            value = row.get(key, "")
            if not isinstance(value, str):
                add(key, "expected text")
                value = ""
            texts[key] = value
        if serial and task in TASKS:
            entries.append(MeterEntry(serial, texts["site"], texts["address"], task,
                                      scheme_id, model, texts["notes"]))
    if f.problems:
        raise ModelError(f.problems)
    return MeterList(lid, name or lid, hhu, crew, due, notes, tuple(entries))


def parse_meter_list_toml(data: dict[str, Any], file: str, catalog: Catalog,
                          schemes: Mapping[str, Scheme] | None = None,
                          locate=None) -> MeterList:
    f = Fields(file, locate)
    f.unknown(data, "", ("list", "meters"))
    head = f.get(data, "", "list", dict, default={})
    meters = f.get(data, "", "meters", list, required=False, default=[])
    rows = []
    for index, item in enumerate(meters):
        path = f"meters[{index}]"
        if isinstance(item, dict):
            rows.append((path, None, item))
        else:
            f.add(path, "expected a table")
    return _build(f, head, "list", rows, schemes, catalog)


def parse_meter_list_csv(text: str, file: str, catalog: Catalog,
                         schemes: Mapping[str, Scheme] | None = None) -> MeterList:
    head: dict[str, Any] = {}
    head_lines: dict[str, int] = {}
    f = Fields(file, head_lines.get)
    lines = text.splitlines()
    start = 0
    for start, line in enumerate(lines):  # noqa: B007 - start is used after the loop
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        if ":" in stripped:
            key, _, value = stripped[1:].partition(":")
            key = key.strip().lower()
            key = "id" if key == "list" else key
            head[key] = value.strip()
            head_lines[f"list.{key}"] = start + 1
    else:
        start = len(lines)
    reader = csv.reader(io.StringIO("\n".join(lines[start:])))
    rows = []
    try:
        header = next(reader, None)
        if header is None:
            f.add("header", "no header row (expected: " + ",".join(CSV_COLUMNS) + ")",
                  start + 1)
        else:
            header = [h.strip().lower() for h in header]
            for col in header:
                if col not in CSV_COLUMNS:
                    f.add(f"column {col!r}", "unknown column (expected: "
                          + ",".join(CSV_COLUMNS) + ")", start + 1)
            for col in ("serial", "task"):
                if col not in header:
                    f.add(f"column {col!r}", "missing from the header row", start + 1)
            for values in reader:
                number = start + reader.line_num
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    f.add("row", f"{len(values)} columns, the header has "
                          f"{len(header)}", number)
                    continue
                row = {k: v.strip() for k, v in zip(header, values, strict=True)
                       if k in CSV_COLUMNS}
                rows.append(("", number, row))
    except csv.Error as exc:
        f.add("csv", f"not valid CSV: {exc}", start + reader.line_num)
    return _build(f, head, "list", rows, schemes, catalog)


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_meter_list_toml(m: MeterList) -> str:
    """TOML text that :func:`parse_meter_list_toml` reads back to an equal list."""
    out = ["[list]", f"id = {_q(m.id)}", f"name = {_q(m.name)}"]
    out += [f"hhu = {_q(m.hhu)}"] if m.hhu else []
    out += [f"crew = {_q(m.crew)}"] if m.crew else []
    out += [f"due = {m.due}", f"notes = {_q(m.notes)}", ""]
    for e in m.meters:
        out += ["[[meters]]", f"serial = {_q(e.serial)}", f"site = {_q(e.site)}",
                f"address = {_q(e.address)}", f"task = {_q(e.task)}", f"notes = {_q(e.notes)}"]
        out += [f"scheme = {_q(e.scheme)}"] if e.scheme else []
        out += [f"model = {_q(e.model)}"] if e.model else []
        out.append("")
    return "\n".join(out)


def render_meter_list_csv(m: MeterList) -> str:
    """CSV text that :func:`parse_meter_list_csv` reads back to an equal list."""
    buf = io.StringIO()
    buf.write(f"# list: {m.id}\n# name: {m.name}\n")
    if m.hhu:
        buf.write(f"# hhu: {m.hhu}\n")
    if m.crew:
        buf.write(f"# crew: {m.crew}\n")
    buf.write(f"# due: {m.due}\n")
    if m.notes:
        buf.write(f"# notes: {m.notes}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in m.meters:
        writer.writerow([getattr(e, c) or "" for c in CSV_COLUMNS])
    return buf.getvalue()
