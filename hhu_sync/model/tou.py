"""The time-of-use engine: which rate is active at a given moment, for a simulated meter
and for the depot's billing determinants (one calendar, so both agree).

Same structure as :class:`hhu_sync.model.scheme.Scheme` (rates, day profiles, week
profiles, seasons, special days), so a scheme can be loaded straight into a meter and a
meter programmed over the optical port ends up with the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from hhu_sync.model.scheme import DayProfile, Rate, Scheme, Season, SpecialDay, Switch, WeekProfile


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class TouTable:
    """An active switching table. Build with :meth:`from_scheme` or :meth:`flat`."""

    rates: tuple[Rate, ...]
    day_profiles: tuple[DayProfile, ...]
    week_profiles: tuple[WeekProfile, ...]
    seasons: tuple[Season, ...] = ()
    special_days: tuple[SpecialDay, ...] = ()

    @classmethod
    def flat(cls) -> TouTable:
        """One rate all day, every day: a single-rate meter."""
        return cls((Rate(1, "Rate 1", ("1.8.1",)),),
                   (DayProfile("all", (Switch("00:00", 1),)),),
                   (WeekProfile("all", ("all",) * 7),))

    @classmethod
    def from_scheme(cls, scheme: Scheme) -> TouTable:
        return cls(scheme.rates, scheme.day_profiles, scheme.week_profiles,
                   tuple(sorted(scheme.seasons, key=lambda s: s.start)), scheme.special_days)

    def problems(self) -> list[str]:
        """What stops this table from running (dangling references, empty parts)."""
        out: list[str] = []
        rate_numbers = {r.number for r in self.rates}
        days = {d.id: d for d in self.day_profiles}
        weeks = {w.id for w in self.week_profiles}
        if not self.rates:
            out.append("no rates")
        if not self.day_profiles:
            out.append("no day profiles")
        if not self.week_profiles:
            out.append("no week profiles")
        for d in self.day_profiles:
            if not d.switches or _minutes(d.switches[0].at) != 0:
                out.append(f"day profile {d.id} does not start at 00:00")
            times = [_minutes(s.at) for s in d.switches]
            if times != sorted(set(times)):
                out.append(f"day profile {d.id} switch times are not increasing")
            out += [f"day profile {d.id} uses undefined rate {s.rate}"
                    for s in d.switches if s.rate not in rate_numbers]
        for w in self.week_profiles:
            if len(w.days) != 7:
                out.append(f"week profile {w.id} does not have 7 days")
            out += [f"week profile {w.id} uses undefined day profile {d}"
                    for d in w.days if d not in days]
        out += [f"season {s.id} uses undefined week profile {s.week}"
                for s in self.seasons if s.week not in weeks]
        out += [f"special day {s.date} uses undefined day profile {s.day_profile}"
                for s in self.special_days if s.day_profile not in days]
        if len(self.week_profiles) > 1 and not self.seasons:
            out.append("several week profiles but no seasons")
        return out

    # -- lookups ----------------------------------------------------------------------------

    def week_for(self, day: date) -> WeekProfile:
        """The week profile of the season ``day`` falls in (seasons wrap over new year)."""
        if not self.seasons:
            return self.week_profiles[0]
        key = f"{day.month:02d}-{day.day:02d}"
        ordered = sorted(self.seasons, key=lambda s: s.start)
        current = ordered[-1]  # before the first start of the year: last year's last season
        for season in ordered:
            if season.start <= key:
                current = season
        return next(w for w in self.week_profiles if w.id == current.week)

    def day_profile_for(self, day: date) -> DayProfile:
        """Special day first (``YYYY-MM-DD`` beats ``MM-DD``), else season and weekday."""
        by_id = {d.id: d for d in self.day_profiles}
        once = day.isoformat()
        yearly = once[5:]
        for special in self.special_days:
            if special.date == once:
                return by_id[special.day_profile]
        for special in self.special_days:
            if special.date == yearly:
                return by_id[special.day_profile]
        return by_id[self.week_for(day).days[day.weekday()]]

    def rate_at(self, when: datetime) -> int:
        minute = when.hour * 60 + when.minute
        rate = 0
        for switch in self.day_profile_for(when.date()).switches:
            if _minutes(switch.at) <= minute:
                rate = switch.rate
        return rate

    def next_change(self, when: datetime) -> datetime:
        """The next moment the rate may change: a later switch today, else midnight."""
        minute = when.hour * 60 + when.minute
        for switch in self.day_profile_for(when.date()).switches:
            at = _minutes(switch.at)
            if at > minute:
                return datetime.combine(when.date(), time(at // 60, at % 60))
        return datetime.combine(when.date() + timedelta(days=1), time())

    def registers_for(self, rate: int) -> tuple[str, ...]:
        for r in self.rates:
            if r.number == rate:
                return r.registers
        return ()
