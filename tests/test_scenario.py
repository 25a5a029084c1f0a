"""Scenario files: parsing, composition, name resolution and every kind of bad input."""

import subprocess
import sys

import pytest

import blocmodel as bm
from blocmodel.errors import InputError
from blocmodel.policy import resolve
from blocmodel.scenario import compose, load_scenario, scenario_from_dict
from blocmodel.testing import linear, write_dataset


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def messages(exc):
    return [str(p) for p in exc.value.problems]


def test_contract_example_parses(tmp_path):
    s = load_scenario(write(tmp_path, '''
name = "Full bloc, NdPr floor"
[bloc]
members = ["USA", "JPN"]
external_tariff_ad_valorem = 0.0
[[tariffs]]
exporter = "CHN"
importer = "USA"
product = "*"
ad_valorem = 0.25
[[price_floors]]
product = "ndpr_oxide"
price = 110000
markets = ["bloc"]
mechanism = "variable_levy"
'''))
    assert s.name == "Full bloc, NdPr floor"
    assert s.bloc.members == ["USA", "JPN"]
    assert s.price_floors[0].price == 110000
    assert len(s.hash) == 16


def test_unknown_key_suggests_the_nearest(tmp_path):
    with pytest.raises(InputError) as exc:
        load_scenario(write(tmp_path, '[[price_floors]]\nproduct = "x"\nprice = 1\nmechansim = "stockpile"\n'))
    (msg,) = messages(exc)
    assert "s.toml" in msg and "price_floors[0].mechansim" in msg and "did you mean 'mechanism'" in msg


def test_unknown_top_level_table(tmp_path):
    with pytest.raises(InputError) as exc:
        load_scenario(write(tmp_path, '[[tarifs]]\nexporter = "CHN"\nad_valorem = 0.1\n'))
    assert "did you mean 'tariffs'" in messages(exc)[0]


def test_malformed_toml_names_the_line(tmp_path):
    with pytest.raises(InputError) as exc:
        load_scenario(write(tmp_path, 'name = "x"\n[bloc\nmembers = []\n'))
    assert "is not valid TOML" in messages(exc)[0] and "line 2" in messages(exc)[0]


@pytest.mark.parametrize("body, words", [
    ('[[price_floors]]\nproduct = "x"\nprice = -5\n', "price_floors[0].price"),
    ('[[tariffs]]\nad_valorem = -1.5\n', "tariffs[0].ad_valorem"),
    ('[[tariffs]]\nexporter = "CHN"\n', "give ad_valorem and/or specific"),
    ('[[price_floors]]\nproduct = "x"\nprice = 5\nmechanism = "levy"\n', "price_floors[0].mechanism"),
    ('[[price_floors]]\nproduct = "x"\nprice = 5\nbudget = 10\n', "budget applies only to mechanism = 'stockpile'"),
    ('[[export_restrictions]]\nexporter = "CHN"\nban = true\nquota = 5\n', "exactly one of ban = true or quota"),
    ('[bloc]\nmembers = "USA"\n', "bloc.members"),
])
def test_bad_values(tmp_path, body, words):
    with pytest.raises(InputError) as exc:
        load_scenario(write(tmp_path, body))
    assert any(words in m for m in messages(exc)), messages(exc)


def test_compose_concatenates_and_overrides():
    base = scenario_from_dict({"name": "base", "bloc": {"members": ["A"], "external_tariff_ad_valorem": 0.1}})
    floor = scenario_from_dict({"name": "floor", "price_floors": [{"product": "p", "price": 2}]})
    more = scenario_from_dict({"name": "more", "bloc": {"external_tariff_ad_valorem": 0.25}})
    s = compose([base, floor, more])
    assert s.name == "base+floor+more"
    assert s.bloc.members == ["A"] and s.bloc.external_tariff_ad_valorem == 0.25
    assert len(s.price_floors) == 1


@pytest.fixture
def eu(tmp_path):
    """Three EU nodes in one customs union, one outsider that sells to all."""
    regions = [{"region": r, "customs_union": "EU", "groups": "eu"} for r in ("DEU", "FRA", "EU14")]
    regions.append({"region": "CHN", "groups": "asia"})
    supply = [{"region": "CHN", "product": "ree", **linear(0, 10, 2.0)},
              {"region": "FRA", "product": "ree", **linear(0, 5, 2.0)}]
    demand = [{"region": r, "product": "ree", **linear(30, -5, 2.0)} for r in ("DEU", "FRA", "EU14")]
    routes = [{"origin": o, "destination": d, "product": "ree", "transport_cost": 0.1, "tariff_ad_valorem": 0.05}
              for o in ("CHN", "FRA", "DEU", "EU14") for d in ("DEU", "FRA", "EU14") if o != d]
    write_dataset(tmp_path / "eu", regions=regions, products=[{"product": "ree"}], supply=supply, demand=demand, routes=routes)
    return bm.load_dataset(tmp_path / "eu")


def test_customs_union_trade_is_free_and_measures_apply_to_the_whole_union(eu):
    p = resolve(eu, scenario_from_dict({"tariffs": [{"exporter": "CHN", "importer": "DEU", "ad_valorem": 0.3}]}))
    arcs = p.arcs.set_index(["origin", "destination"])
    assert arcs.loc[("FRA", "DEU"), "tariff_ad_valorem"] == 0.0        # inside the union: free, whatever routes.csv says
    for member in ("DEU", "FRA", "EU14"):                               # a tariff set by DEU is the union's
        assert arcs.loc[("CHN", member), "tariff_ad_valorem"] == 0.3
    assert any("customs union EU" in n for n in p.notes)


def test_a_member_brings_its_customs_union_into_the_bloc(eu):
    p = resolve(eu, scenario_from_dict({"bloc": {"members": ["FRA"], "external_tariff_ad_valorem": 0.2}}))
    assert p.members == {"DEU", "FRA", "EU14"}
    arcs = p.arcs.set_index(["origin", "destination"])
    assert arcs.loc[("CHN", "EU14"), "tariff_ad_valorem"] == 0.2


def test_unknown_names_in_scenario_are_errors(eu):
    with pytest.raises(InputError) as exc:
        resolve(eu, scenario_from_dict({"tariffs": [{"exporter": "CHA", "importer": "bloc", "product": "reee", "specific": 1}]}))
    text = " | ".join(messages(exc))
    assert "unknown region or group 'CHA'" in text and "did you mean 'CHN'" in text
    assert "'bloc' is used but the scenario has no [bloc] members" in text
    assert "unknown product or mineral 'reee'" in text and "did you mean 'ree'" in text


def test_ban_and_quota_on_the_same_route_conflict(eu):
    with pytest.raises(InputError) as exc:
        resolve(eu, scenario_from_dict({"export_restrictions": [
            {"exporter": "CHN", "destinations": ["eu"], "ban": True},
            {"exporter": "CHN", "destinations": ["DEU"], "quota": 5}]}))
    assert "already banned" in messages(exc)[0]


def test_levy_floor_against_non_members_of_the_bloc(eu):
    """Floor 3.5 by levy in the EU bloc (above CHN's landed 3.12): CHN lands at exactly 3.5; FRA, a member, pays no levy."""
    r = bm.solve(eu, {"bloc": {"members": ["eu"]}, "price_floors": [{"product": "ree", "price": 3.5}]})
    arcs = r.arc_detail.set_index(["origin", "destination"])
    assert arcs.loc[("FRA", "DEU"), "levy"] == 0.0
    flowing = r.flows[r.flows["origin"] == "CHN"]
    assert len(flowing) and (flowing["landed_price"] - 3.5).abs().max() < 1e-8


def test_infeasible_stockpile_is_explained(eu, tmp_path):
    """A fixed purchase above what capacity allows: CHN capped at 10 and FRA at 0."""
    r_ok = bm.solve(eu)
    assert r_ok.status == "optimal"
    with pytest.raises(bm.InfeasibleError) as exc:
        bm.solve(eu, {"supply_shocks": [{"region": "CHN", "capacity_factor": 0.5}, {"region": "FRA", "capacity_factor": 0}],
                      "stockpile": [{"region": "DEU", "product": "ree", "quantity": 1000}]})
    text = str(exc.value)
    assert "DEU/ree cannot clear" in text and "fixed stockpile purchase of 1,000" in text
    assert "supply capacity" in text or "route" in text


def test_cli_solve_bad_scenario_exits_cleanly(eu, tmp_path):
    path = write(tmp_path, '[[tariffs]]\nexporter = "CHA"\nspecific = 1\n')
    proc = subprocess.run([sys.executable, "-m", "blocmodel.cli", "solve", "--data", eu.path, "--scenario", str(path),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "unknown region or group 'CHA'" in proc.stderr
    assert not (tmp_path / "out").exists()
