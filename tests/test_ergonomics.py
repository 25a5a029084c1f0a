"""What an economist meets first in a notebook: library names and paths that work from
notebooks/, dict scenarios called 'custom', a short repr and an HTML summary, welfare
changes in USD m by region and by product, name matching that does not mislead, and
`blocmodel validate` that puts the known no-data regions on one line."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

import blocmodel as bm
from blocmodel.cli import app
from blocmodel.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data():
    return bm.load_dataset()


@pytest.fixture(scope="module")
def solved(data):
    session = bm.Session(data)
    return session.solve(), session.solve("full_bloc")


def test_library_names_and_paths_from_notebooks(data, monkeypatch):
    by_name = bm.solve(data, "full_bloc")
    monkeypatch.chdir(ROOT / "notebooks")
    by_path = bm.solve(data, "data/scenarios/full_bloc.toml")         # the docstring's path, from notebooks/
    assert by_name.scenario.name == by_path.scenario.name == "full_bloc"
    assert by_name.prices["price"].to_numpy() == pytest.approx(by_path.prices["price"].to_numpy(), rel=1e-12)


def test_dict_scenarios_are_called_custom(data):
    with pytest.raises(InputError) as err:
        bm.solve(data, {"bloc": {"members": ["USA", "XYZ"]}})
    assert "scenario 'custom', field 'bloc.members[1]'" in str(err.value)


def test_repr_is_short_and_html_summarises(solved):
    base, r = solved
    text = repr(r)
    assert len(text) < 200 and "full_bloc" in text and "medium run" in text and "bloc of 56" in text
    page = r._repr_html_()
    assert len(page) < 20_000
    for part in ("optimal", "medium run", "bloc of 56", "trade routes", "welfare_change", "binds", "prohibitive", "ndpr_oxide"):
        assert part in page, part
    assert "total" not in page                       # no welfare level anywhere
    assert "no bloc" in base._repr_html_()


def test_welfare_changes_in_usd_m_by_region_and_by_product(solved):
    """By region and by product are two cuts of the same change: their totals agree; USD m is USD / 1e6."""
    base, r = solved
    usd = r.welfare_change(base).set_index("region")["total"]
    usd_m = r.welfare_change(base, unit="USD m").set_index("region")["total"]
    assert usd_m.to_numpy() == pytest.approx(usd.to_numpy() / 1e6, rel=1e-12)
    by_product = r.welfare_change(base, by="product", unit="USD m").set_index("product")["total"]
    assert by_product.sum() == pytest.approx(usd_m.sum(), rel=1e-9, abs=1e-6)
    assert set(by_product.index) == set(r.data.product_codes)



def test_one_regions_welfare_by_product_is_its_rows_of_the_full_table(solved, ko):
    """`welfare_of_region` (what the findings read for the outsider they watch) equals that
    region's rows of `welfare_by("region_product")`, products it has no rows for at zero; on
    Krugman-Obstfeld's two countries (listed HOME, FOREIGN: not in name order), a specific
    tariff of 0.5 on Home's imports gives P* = 1.25, P = 1.75, imports 10: revenue 5 at Home."""
    base, r = solved
    full = r.welfare_by("region_product")
    for region in ("CHN", "AUS", "USA"):
        rows = full[full["region"] == region].drop(columns="region").set_index("product")
        mine = r.welfare_of_region(region)
        assert list(mine.columns) == list(rows.columns) and list(mine.index) == sorted(r.data.product_codes)
        assert (mine.loc[rows.index].to_numpy() == rows.to_numpy()).all()
        assert (mine.drop(index=rows.index).to_numpy() == 0).all()
        assert mine["total"].sum() == pytest.approx(float(r.welfare.set_index("region").at[region, "total"]), rel=1e-12)
    taxed = bm.solve(ko, {"tariffs": [{"exporter": "FOREIGN", "importer": "HOME", "product": "wheat", "specific": 0.5}]})
    assert taxed.welfare_of_region("HOME").at["wheat", "tariff_revenue"] == pytest.approx(5.0, rel=1e-9)
    assert taxed.welfare_of_region("FOREIGN").at["wheat", "tariff_revenue"] == 0.0


NAME_CASES = {
    # the cases: (what a user writes, what it must resolve to or which hint it must get)
    "CHI": "Regions whose name starts with 'Chi': Chile (CHL), China (CHN)",
    "ndpr": "did you mean 'ndpr_oxide'? products: lithium_mined",
}


@pytest.mark.parametrize("text,hint", NAME_CASES.items())
def test_unknown_names_get_hints_of_their_own_kind(data, text, hint):
    scenario = {"bloc": {"members": ["USA", text]}} if text.isupper() else \
        {"bloc": {"members": ["USA"]}, "price_floors": [{"product": text, "price": 110000}]}
    with pytest.raises(InputError) as err:
        bm.solve(data, scenario)
    message = str(err.value)
    assert hint in message
    assert "did you mean 'CHN'" not in message


@pytest.mark.parametrize("text,expected", [("chl", {"CHL"}), ("Chile", {"CHL"}), ("chile", {"CHL"}), ("CHL", {"CHL"})])
def test_codes_and_country_names_in_any_case(data, text, expected):
    assert data.resolve_region_name(text) == expected


def test_group_names_in_any_case_and_group_hints(data):
    msp = data.resolve_region_name("msp")
    assert data.resolve_region_name("MSP") == msp and len(msp) > 10 and "SGP" not in msp
    assert data.region_hint("mspp") == "did you mean the group 'msp'?"
    assert "SGP" not in data.region_hint("MSQ")          # a misspelt group never becomes a country swap
    assert data.region_hint("Chiile") == "did you mean Chile (CHL)?"


def test_validate_puts_no_data_regions_on_one_line():
    result = CliRunner().invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    note = [line for line in lines if line.startswith("note:")]
    assert len(note) == 1 and "5 regions marked 'no data'" in note[0] and "Angola (AGO)" in note[0]
    assert not [line for line in lines if "has no supply, demand, refining or routes" in line and line.startswith("warning")]
