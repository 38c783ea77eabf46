"""P.01 parse bench: how fast the client decodes a VDEW load profile.

    python bench/profile_parse.py [--meters 20] [--days 35] [--channels 4] [--interval 30]
                                  [--block 1024] [--repeat 3]

The text is what a meter answers (headers and value lines, a status change every day,
as a meter flags its daily events), encoded by the meter role's encoder. Three stages,
each timed on its own, best of ``--repeat`` (the machine is shared):

* ``parse``: ``ProfileParser`` fed R6-sized pieces of ``--block`` characters;
* ``parse+series``: that, then ``to_series`` (UTC times, integer mantissas);
* ``wire+parse``: the bytes of the partial blocks (STX data EOT BCC) through the
  client ``ClientConnection`` (framing, BCC, ACK per block), then the parser.

Prints a table of MB/s (of profile text) and intervals/s per stage.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hhu_sync.iec62056 import (  # noqa: E402
    NEED_DATA,
    Ack,
    ClientConnection,
    ClientSettings,
    MeterConnection,
    OptionSelect,
    Password,
    PasswordRequest,
    ProfileData,
    ProfileRequest,
    SignOnRequest,
)
from hhu_sync.iec62056.frames import Identification, encode_data  # noqa: E402
from hhu_sync.iec62056.loadprofile import (  # noqa: E402
    LocalStamp,
    MeterClock,
    ProfileHeader,
    ProfileParser,
    ProfileSection,
    encode_sections,
    format_value,
    split_blocks,
    to_series,
)
from hhu_sync.profile.series import Channel  # noqa: E402

CODES = ("1.8", "2.8", "3.8", "4.8", "5.8", "6.8", "7.8", "8.8")


def profile_text(meters: int, days: int, channels: int, interval: int) -> tuple[str, int]:
    """The concatenated P.01 answers of ``meters`` meters and their interval count."""
    chans = tuple(Channel(CODES[i % len(CODES)], "kWh") for i in range(channels))
    per_day = 24 * 60 // interval
    lines: list[str] = []
    count = 0
    for m in range(meters):
        start = datetime(2026, 10, 1)
        sections = []
        for d in range(days):
            day = start + timedelta(days=d, minutes=interval)
            rows = tuple(tuple(format_value((m * 7 + d * 13 + i * 31 + c) % 5000, -3, 5)
                               for c in range(channels)) for i in range(per_day))
            header = ProfileHeader(LocalStamp(day, 0), 0x0080 if d % 2 else 0, interval,
                                   chans, 8)
            sections.append(ProfileSection(header, rows))
            count += per_day
        lines.extend(encode_sections(sections))
    return "".join(lines), count


def best(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def parse(pieces: list[str]) -> ProfileParser:
    parser = ProfileParser(max_intervals=1 << 24)
    for piece in pieces:
        parser.feed(piece)
    parser.close()
    return parser


def programming_client() -> tuple[ClientConnection, MeterConnection]:
    client = ClientConnection(ClientSettings(max_profile_bytes=1 << 31,
                                             max_profile_blocks=1 << 24))
    meter = MeterConnection()

    def pump(src, dst, event) -> None:
        src.send(event)
        dst.receive_data(src.data_to_send())
        while dst.next_event() is not NEED_DATA:
            pass

    pump(client, meter, SignOnRequest(""))
    pump(meter, client, Identification("EMH", "5", "LZQJXC"))
    pump(client, meter, OptionSelect("1", "0"))
    pump(meter, client, PasswordRequest("00000000"))
    client.send(Password("00000000"))
    client.data_to_send()
    client.receive_data(b"\x06")
    while client.next_event() is not NEED_DATA:
        pass
    return client, meter


def wire_and_parse(wire: list[bytes]) -> None:
    client, _ = programming_client()
    client.send(ProfileRequest("P.01", ";", True))
    client.data_to_send()
    parser = ProfileParser(max_intervals=1 << 24)
    for data in wire:
        client.receive_data(data)
        while (ev := client.next_event()) is not NEED_DATA:
            assert isinstance(ev, ProfileData)
            parser.feed(ev.data, ev.offset)
            if not ev.final:
                client.send(Ack())
                client.data_to_send()
    parser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meters", type=int, default=20)
    ap.add_argument("--days", type=int, default=35)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--interval", type=int, default=30)
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    text, count = profile_text(args.meters, args.days, args.channels, args.interval)
    mb = len(text) / 1e6
    pieces = list(split_blocks(text.splitlines(keepends=True), args.block))
    wire = [encode_data(piece, partial=i < len(pieces) - 1)   # what the meter sends
            for i, piece in enumerate(pieces)]
    clock = MeterClock(standard_offset_s=3600)
    stages = [
        ("parse", lambda: parse(pieces)),
        ("parse+series", lambda: to_series(parse(pieces).result.sections, clock)),
        ("wire+parse", lambda: wire_and_parse(wire)),
    ]
    print(f"P.01 text: {args.meters} meters x {args.days} days x {args.channels} channels "
          f"at {args.interval} min = {count} intervals, {count * args.channels} values, "
          f"{mb:.1f} MB, {len(pieces)} blocks of <= {args.block} characters")
    print(f"{'stage':<14} {'seconds':>9} {'MB/s':>8} {'intervals/s':>12}")
    results = {}
    for name, fn in stages:
        seconds = best(args.repeat, fn)
        results[name] = mb / seconds
        print(f"{name:<14} {seconds:>9.3f} {mb / seconds:>8.2f} {count / seconds:>12,.0f}")
    print("profile_parse: " + ", ".join(f"{k} {v:.2f} MB/s" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
