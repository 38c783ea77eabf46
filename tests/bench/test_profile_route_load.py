"""The whole-route bench's noisy load is noisy in what the meters record: a daily shape
that repeated exactly would let zlib take whole days back from its window, and the
bench's goodput would measure the simulator, not the upload's coding."""

from __future__ import annotations

from bench import profile as route

DAY = 86_400


def test_the_noisy_load_records_other_values_every_day(tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(route.fleet_toml(1, 1, 4, 30, "vdew"))
    ends = [int(route.VISIT.timestamp()) - DAY + 1800 * i for i in range(48)]
    for load, alike in (("noisy", False), ("steps", True)):
        (meter,) = route.load_route_fleet(fleet, load).fleet.meters
        rec = meter.recorder
        meter.at(route.VISIT.replace(tzinfo=None))
        same = [rec.values(end)[0] == rec.values(end - DAY)[0]
                for end in ends if not rec.status(end) and not rec.status(end - DAY)]
        assert len(same) > 40
        assert all(same) if alike else sum(same) < len(same) / 4, load
