"""One check of a scheme against a meter's model, for meter lists and `meter program`."""

from __future__ import annotations

import dataclasses

import pytest

from hhu_sync.model.fit import model_of_identification, scheme_fit_problems
from hhu_sync.model.loader import load_toml
from hhu_sync.model.meterlist import parse_meter_list_toml
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme import Rate, parse_scheme


@pytest.fixture
def tou(catalog, examples):
    data, locate = load_toml(examples / "a1700-ci-tou.toml")
    return parse_scheme(data, "a1700-ci-tou.toml", catalog, locate)


def test_the_identification_names_the_model(catalog):
    assert model_of_identification("GEC A1700", catalog) == "A1700"
    assert model_of_identification("ELS as230", catalog) == "AS230"
    assert model_of_identification("LGZ 2ZMD120APt.G03", catalog) is None


def test_another_model_and_an_unknown_one_do_not_fit(tou, catalog):
    assert scheme_fit_problems(tou, "A1700", catalog) == []
    (problem,) = scheme_fit_problems(tou, "AS230", catalog)
    assert "A1700" in problem and "AS230" in problem
    assert "unknown meter model" in scheme_fit_problems(tou, "ZMD120", catalog)[0]


def test_a_scheme_over_the_catalog_limits_does_not_fit(tou, catalog):
    shrunk = dict(catalog)
    shrunk["A1700"] = dataclasses.replace(catalog["A1700"], max_rates=2, max_seasons=1)
    problems = scheme_fit_problems(tou, "A1700", shrunk)
    assert any("rates" in p and "takes 2" in p for p in problems)
    assert any("seasons" in p for p in problems)
    many = dataclasses.replace(tou, rates=tuple(Rate(n, f"r{n}", ("1.8.1",))
                                                for n in range(1, 10)))
    assert any("9 rates" in p for p in scheme_fit_problems(many, "A1700", catalog))


def test_a_meter_list_refuses_the_same_misfits(tou, catalog):
    shrunk = dict(catalog)
    shrunk["A1700"] = dataclasses.replace(catalog["A1700"], max_rates=2)
    data = {"list": {"id": "L", "hhu": "HHU-001", "due": "2026-12-01"},
            "meters": [{"serial": "M1", "task": "program", "scheme": tou.id,
                        "model": "A1700"}]}
    with pytest.raises(ModelError) as err:
        parse_meter_list_toml(data, "l.toml", shrunk, {tou.id: tou})
    assert "takes 2" in str(err.value.problems[0])
