"""A cradle that fell back to version 1 offers version 1 at the next dockings, for a
bounded time and a bounded number of dockings, then probes version 2 again."""

from __future__ import annotations

import pytest

from hhu_sync.config import parse_config
from hhu_sync.io.versions import VersionMemory
from hhu_sync.model.problems import ModelError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_cradle_offers_version_2_until_it_fell_back() -> None:
    memory = VersionMemory(3600.0, 5, clock=Clock())
    assert memory.offer("c1") == 2
    memory.fell_back("c1")
    assert memory.offer("c1") == 1
    assert memory.offer("c2") == 2                 # per cradle
    assert memory.fallbacks == {"c1": 1}


def test_a_remembered_fallback_expires_after_its_time() -> None:
    clock = Clock()
    memory = VersionMemory(3600.0, 100, clock=clock)
    memory.fell_back("c1")
    clock.now += 3599.0
    assert memory.offer("c1") == 1
    clock.now += 1.0
    assert memory.offer("c1") == 2                 # the re-probe
    assert not memory.remembered("c1")
    assert memory.offer("c1") == 2


def test_a_remembered_fallback_expires_after_its_dockings() -> None:
    memory = VersionMemory(1e9, 3, clock=Clock())
    memory.fell_back("c1")
    assert [memory.offer("c1") for _ in range(5)] == [1, 1, 1, 2, 2]


def test_a_fallback_again_at_the_re_probe_starts_the_memory_afresh() -> None:
    clock = Clock()
    memory = VersionMemory(10.0, 100, clock=clock)
    memory.fell_back("c1")
    clock.now += 10.0
    assert memory.offer("c1") == 2
    memory.fell_back("c1")
    assert memory.offer("c1") == 1
    assert memory.fallbacks == {"c1": 2}


def test_the_link_section_of_the_config() -> None:
    config = parse_config({"link": {"min_version": 2, "fallback_hours": 1,
                                    "fallback_dockings": 3}}, None)
    assert (config.link.min_version, config.link.fallback_hours,
            config.link.fallback_dockings) == (2, 1, 3)
    assert parse_config({}, None).link.min_version == 1


@pytest.mark.parametrize("value", [0, 3, -1])
def test_a_min_version_the_dock_does_not_speak_is_named(value: int) -> None:
    with pytest.raises(ModelError) as info:
        parse_config({"link": {"min_version": value}}, None)
    assert "link.min_version" in str(info.value.problems[0])
