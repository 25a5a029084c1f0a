"""The same inputs give byte-identical output files; every output says what produced it."""

import json
import shutil
import subprocess
import sys

from typer.testing import CliRunner

import blocmodel as bm
from blocmodel.cli import app
from blocmodel.scenario import scenario_from_dict
from blocmodel.synthetic import synthetic_dataset

SCENARIO = '''
name = "bloc with a floor"
[bloc]
members = ["even"]
external_tariff_ad_valorem = 0.1
[[price_floors]]
product = "m00_metal"
price = 2400
mechanism = "deficiency_payment"
[[anti_dumping]]
exporter = "odd"
importer = "bloc"
ad_valorem = 0.2
'''


def test_identical_inputs_give_identical_files(tmp_path):
    """Two runs — one in a fresh process, one in this one, on a copy of the data in another
    folder — write the same bytes to every file but run.json."""
    data = synthetic_dataset(tmp_path / "data", regions=8, minerals=2, two_stage=True, seed=5)
    copy = shutil.copytree(data, tmp_path / "elsewhere" / "copy")
    scenario = tmp_path / "floor.toml"
    scenario.write_text(SCENARIO)
    proc = subprocess.run([sys.executable, "-m", "blocmodel.cli", "solve", "--data", str(data), "--scenario", str(scenario),
                           "--out", str(tmp_path / "a")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = CliRunner().invoke(app, ["solve", "--data", str(copy), "--scenario", str(scenario), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert {"prices.csv", "flows.csv", "markets.csv", "welfare.csv", "summary.json", "run.json"} <= set(files)
    for name in files:
        if name != "run.json":
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["data"] == str(copy.resolve()) and run["solve_seconds"] > 0


def test_chains_solved_two_at_a_time_give_the_same_bits(tmp_path):
    """A cold solve runs its chains on two threads; the chains share nothing, so every
    number is bit for bit the one-thread answer (40 regions, three two-stage chains that
    need HiGHS, the vertex restart and route generation; and a bloc scenario on top)."""
    from blocmodel.solver import SolverOptions

    data = bm.load_dataset(synthetic_dataset(tmp_path / "d", regions=40, minerals=3, two_stage=True, neighbours=20, seed=5))
    scenario = scenario_from_dict({"bloc": {"members": ["even"], "external_tariff_ad_valorem": 0.2}})
    one, two = (bm.Session(data, SolverOptions(threads=n)) for n in (1, 2))
    for scenario_ in (None, scenario):
        a, b = one.solve(scenario_), two.solve(scenario_)
        for table in ("prices", "flows", "markets", "welfare"):
            assert getattr(a, table).equals(getattr(b, table)), table


def test_summary_records_what_produced_it(tmp_path):
    data = bm.load_dataset(synthetic_dataset(tmp_path / "data", regions=6, minerals=1, seed=2))
    scenario = scenario_from_dict({"bloc": {"members": ["odd"], "external_tariff_ad_valorem": 0.3}})
    r = bm.solve(data, scenario)
    r.to_csv(tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["scenario_hash"] == scenario.hash and len(scenario.hash) == 16
    assert summary["data_hash"] == data.data_hash and len(data.data_hash) == 16
    assert {"blocmodel", "pyomo", "highspy", "pandas", "numpy", "python"} <= set(summary["versions"])
    assert summary["check_passed"] is True
    text = json.dumps(summary)
    assert str(tmp_path) not in text and "seconds" not in text      # nothing that changes between identical runs


def test_data_hash_follows_the_contents_not_the_folder(tmp_path):
    folder = synthetic_dataset(tmp_path / "one", regions=4, minerals=1, seed=1)
    copy = shutil.copytree(folder, tmp_path / "two")
    assert bm.load_dataset(folder).data_hash == bm.load_dataset(copy).data_hash
    demand = copy / "demand.csv"
    demand.write_text(demand.read_text().replace("assumption", "Assumption", 1))
    assert bm.load_dataset(folder).data_hash != bm.load_dataset(copy).data_hash


def test_scenario_hash_ignores_metadata_but_not_policy():
    a = scenario_from_dict({"name": "a", "title": "A", "tariffs": [{"exporter": "X", "ad_valorem": 0.1}]})
    b = scenario_from_dict({"name": "b", "tariffs": [{"exporter": "X", "ad_valorem": 0.1}]})
    c = scenario_from_dict({"name": "a", "tariffs": [{"exporter": "X", "ad_valorem": 0.2}]})
    assert a.hash == b.hash != c.hash


def test_a_failed_run_writes_nothing(tmp_path):
    data = synthetic_dataset(tmp_path / "data", regions=4, minerals=1, seed=1)
    scenario = tmp_path / "bad.toml"
    scenario.write_text('[[stockpile]]\nregion = "R000"\nproduct = "m00_metal"\nquantity = 1e12\n'
                        '[[supply_shocks]]\nregion = "*"\ncapacity_factor = 1.0\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["solve", "--data", str(data), "--scenario", str(scenario), "--out", str(out)])
    assert result.exit_code == 3
    assert "R000/m00_metal cannot clear" in result.stderr and "Traceback" not in result.output
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
