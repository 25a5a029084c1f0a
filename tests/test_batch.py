"""Batch runs: sweep plans, local processes vs a Dask cluster, resuming after a kill or Ctrl-C,
failures recorded, Monte Carlo draws (elasticities, refining, substitution), report plots."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import blocmodel as bm
from blocmodel.batch import STORE, run_batch
from blocmodel.batch_report import axis_label, outcome_label, write_batch_report
from blocmodel.sweep import Axis, apply_factors, elasticity_factors, load_sweep, plan

GRID = """
name = "grid"
base = "bloc_ministerial+floor_ndpr_variable_levy"
chunk_size = {chunk}
outputs = ["designs", "members", "prices"]
[[axes]]
name = "mechanism"
path = "price_floors.0.mechanism"
values = ["variable_levy", "deficiency_payment"]
[[axes]]
name = "ndpr_floor"
path = "price_floors.0.price"
values = {floors}
"""


def _sweep(folder: Path, text: str, name: str = "sweep.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def _stored(out: Path) -> pd.DataFrame:
    with sqlite3.connect(out / STORE) as db:
        return pd.read_sql_query("SELECT key, idx, status, error FROM scenarios ORDER BY idx", db)


def _stored_so_far(out: Path) -> int:
    """Scenarios stored by a batch still running: 0 until its store has its tables."""
    try:
        return len(_stored(out)) if (out / STORE).exists() else 0
    except pd.errors.DatabaseError:  # the file is there, its schema not yet (or locked)
        return 0


# ------------------------------------------------------------------ plans
def test_plan_orders_the_grid_with_the_last_axis_fastest(tmp_path, shipped):
    sweep, file = load_sweep(_sweep(tmp_path, GRID.format(chunk=2, floors="[80000, 110000, 140000]")))
    tasks = plan(sweep, file, shipped)
    assert [t.point for t in tasks[:4]] == [
        {"mechanism": "variable_levy", "ndpr_floor": 80000}, {"mechanism": "variable_levy", "ndpr_floor": 110000},
        {"mechanism": "variable_levy", "ndpr_floor": 140000}, {"mechanism": "deficiency_payment", "ndpr_floor": 80000}]
    assert tasks[3].scenario["price_floors"][0] == {"product": "ndpr_oxide", "price": 80000, "mechanism": "deficiency_payment"}
    assert tasks[3].scenario["bloc"]["members"] == ["ministerial2026"]
    assert len({t.key for t in tasks}) == 6
    # the key is the scenario's content: the same sweep planned again gives the same keys
    assert [t.key for t in plan(sweep, file, shipped)] == [t.key for t in tasks]


def test_design_axis_replaces_the_base_and_ranges_expand(tmp_path, shipped):
    text = """
name = "designs"
[[axes]]
path = "design"
values = ["bloc_g7+cet25", "bloc_quad"]
[[axes]]
name = "cet"
path = "bloc.external_tariff_ad_valorem"
start = 0.0
stop = 0.5
num = 3
"""
    sweep, file = load_sweep(_sweep(tmp_path, text))
    tasks = plan(sweep, file, shipped)
    assert len(tasks) == 6
    assert [t.point["cet"] for t in tasks[:3]] == [0.0, 0.25, 0.5]
    assert "g7" in tasks[0].scenario["bloc"]["members"] and tasks[3].scenario["bloc"]["members"] == ["quad"]
    assert tasks[4].scenario["bloc"]["external_tariff_ad_valorem"] == 0.25
    assert tasks[4].point["design"] == "bloc_quad"


def test_sweep_mistakes_name_the_file_and_key(tmp_path, shipped):
    bad = _sweep(tmp_path, 'name = "x"\n[[axes]]\npath = "bloc.members"\nvalus = [1]\n')
    with pytest.raises(bm.InputError) as err:
        load_sweep(bad)
    text = str(err.value)
    assert "sweep.toml" in text and "axes[0].valus" in text and "values" in text
    bad = _sweep(tmp_path, 'name = "x"\n[[axes]]\npath = "price_floors.3.price"\nvalues = [1.0]\n', "b.toml")
    sweep, file = load_sweep(bad)
    with pytest.raises(bm.InputError, match=r"b.toml.*price_floors.3.price.*no item 3"):
        plan(sweep, file, shipped)
    bad = _sweep(tmp_path, 'name = "x"\n[[axes]]\npath = "bloc.external_tariff_ad_valorem"\nvalues = [-2.0]\n', "c.toml")
    sweep, file = load_sweep(bad)
    with pytest.raises(bm.InputError, match=r"c.toml.*bloc.external_tariff_ad_valorem"):
        plan(sweep, file, shipped)


def test_monte_carlo_factors_are_seeded_and_keep_signs(tmp_path, shipped):
    text = """
name = "mc"
[monte_carlo]
draws = 50
seed = 3
[[monte_carlo.elasticities]]
side = "supply"
distribution = "uniform"
low = 0.5
high = 2.0
[[monte_carlo.elasticities]]
mineral = "rare_earths"
side = "demand"
distribution = "lognormal"
sigma = 0.3
"""
    sweep, _ = load_sweep(_sweep(tmp_path, text))
    draws = elasticity_factors(sweep, shipped)
    assert draws == elasticity_factors(sweep, shipped)
    assert len(draws) == 50 and len({d["lithium|supply"] for d in draws}) == 50
    supply = np.array([d["lithium|supply"] for d in draws])
    assert supply.min() >= 0.5 and supply.max() <= 2.0
    assert "lithium|demand" not in draws[0] and "rare_earths|demand" in draws[0]
    data = apply_factors(shipped, draws[0])
    lithium = data.supply["product"].map(data.mineral_of) == "lithium"
    ratio = data.supply.loc[lithium, "elasticity"] / shipped.supply.loc[lithium, "elasticity"]
    assert np.allclose(ratio, draws[0]["lithium|supply"])
    assert (data.demand["elasticity"] <= 0).all() and (data.supply["elasticity"] >= 0).all()
    assert data.data_hash != shipped.data_hash


def test_substitution_and_refining_draws_recalibrate_a_fresh_dataset(shipped):
    """A drawn σ (products.csv substitution_elasticity) re-calibrates the route costs: g = P/(σ·x⁰),
    so doubling σ halves every rare-earth route's curvature, and the no-policy equilibrium still
    reproduces the observed 2024 flows; a drawn refining elasticity scales the refineries' slopes.
    Both change what a policy does. The draw is a fresh Dataset: nothing cached for one draw
    (the base market, calibrated routes, chain layouts) is used by another."""
    from blocmodel.policy import base_market

    factors = {"rare_earths|substitution": 2.0, "rare_earths|refining": 0.5}
    base0, _ = base_market(shipped)
    drawn = apply_factors(shipped, factors)
    assert drawn.cache is not shipped.cache and drawn.cache == {} and drawn.data_hash != shipped.data_hash
    rare = [p for p in shipped.product_codes if shipped.mineral_of[p] == "rare_earths"]
    sigma0 = shipped.products.set_index("product")["substitution_elasticity"]
    sigma1 = drawn.products.set_index("product")["substitution_elasticity"]
    assert np.allclose(sigma1[rare], 2 * sigma0[rare]) and sigma1.drop(rare).equals(sigma0.drop(rare))
    refining = drawn.processing["output"].isin(rare)
    assert np.allclose(drawn.processing.loc[refining, "elasticity"], 0.5 * shipped.processing.loc[refining, "elasticity"])
    base1, _ = base_market(drawn)
    assert base_market(shipped)[0] is base0                      # the shipped dataset's cache is untouched
    on_rare = np.isin(base0.routes.product, rare) & (base0.routes.curvature > 0)
    assert on_rare.sum() > 20
    assert base1.routes.curvature[on_rare] == pytest.approx(base0.routes.curvature[on_rare] / 2, rel=1e-12)
    assert np.array_equal(base1.routes.curvature[~on_rare], base0.routes.curvature[~on_rare])
    slopes = np.isin(base0.refining.output, rare) & (base0.refining.slope > 0)
    assert slopes.any() and base1.refining.slope[slopes] == pytest.approx(0.5 * base0.refining.slope[slopes], rel=1e-12)
    # no policy: the same calibrated equilibrium; a 110 USD/kg levy floor: a different answer
    design = "bloc_ministerial+floor_ndpr_variable_levy"
    runs = {}
    for name, data in (("shipped", shipped), ("drawn", drawn)):
        session = bm.Session(data)
        runs[name] = (session.solve(), session.solve(design))
    flows = [r[0].flows.set_index(["origin", "destination", "product"])["quantity"] for r in runs.values()]
    assert flows[1].reindex(flows[0].index).to_numpy() == pytest.approx(flows[0].to_numpy(), rel=1e-7, abs=1e-6)
    change = {name: policy.welfare_change(base).set_index("region").loc[policy.reference_members(), "total"].sum()
              for name, (base, policy) in runs.items()}
    assert abs(change["drawn"] / change["shipped"] - 1) > 0.05


# ------------------------------------------------------------------ runs
def test_local_processes_and_a_dask_cluster_give_identical_results(tmp_path):
    from blocmodel.batch import local_cluster

    sweep = _sweep(tmp_path, GRID.format(chunk=1, floors="[80000, 120000]"))
    local = run_batch(sweep, tmp_path / "local", workers=2, progress=False, log=lambda line: None)
    assert local["stored"] == 4 and local["failed"] == 0
    with local_cluster(1, host="127.0.0.1") as cluster:
        remote = run_batch(sweep, tmp_path / "cluster", scheduler=cluster.scheduler_address, progress=False,
                           log=lambda line: None)
    assert remote["stored"] == 4
    messages = []
    for folder in ("local", "cluster"):
        files = write_batch_report(tmp_path / folder, log=messages.append)
    for name in ("scenarios.csv", "outcomes.csv", "members.csv", "prices.csv"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "cluster" / name).read_bytes(), name
    # one numeric axis (the floor) and one category (the mechanism): line charts, not a heat map
    names = {p.name for p in files}
    assert {"line_welfare_bloc_change.png", "line_fiscal_cost_bloc.png", "line_floor_ndpr_oxide_buyers_price.png",
            "line_non_member_share_ndpr_oxide.png"} <= names and "heatmap_bloc_welfare.png" not in names
    assert all((tmp_path / "cluster" / n).stat().st_size > 10_000 for n in names if n.endswith(".png"))
    assert any("no fan charts (5–95% bands over draws): the sweep has no Monte Carlo draws" in m for m in messages)

    # every stored scenario is the equilibrium a cold solve of it gives
    outcomes = pd.read_csv(tmp_path / "local" / "outcomes.csv")
    row = outcomes[(outcomes["mechanism"] == "deficiency_payment") & (outcomes["ndpr_floor"] == 120000)]
    stored = row.set_index("variable")["value"]
    scenario = bm.load_scenario(Path("data/scenarios/floor_ndpr_deficiency_payment.toml"))
    cold = bm.solve(None, {"bloc": {"members": ["ministerial2026"]},
                           "price_floors": [{**scenario.price_floors[0].model_dump(), "price": 120000}]})
    base = bm.solve()
    members = cold.reference_members()
    change = cold.welfare_change(base).set_index("region").loc[members, "total"].sum()
    assert stored["welfare|bloc|change"] == pytest.approx(change, rel=1e-9, abs=1.0)
    fiscal = cold.welfare.set_index("region").loc[members, "fiscal_cost"].sum()
    assert stored["fiscal_cost|bloc"] == pytest.approx(fiscal, rel=1e-9) and fiscal > 0


def test_a_failed_scenario_is_recorded_and_the_rest_complete(tmp_path):
    text = """
name = "some_fail"
base = "floor_ndpr_variable_levy"
chunk_size = 3
[[axes]]
name = "members"
path = "bloc.members"
values = [["USA", "JPN"], ["USA", "ATLANTIS"], ["g7"]]
"""
    outcome = run_batch(_sweep(tmp_path, text), tmp_path / "out", workers=1, progress=False, log=lambda line: None)
    assert outcome["stored"] == 3 and outcome["failed"] == 1
    stored = _stored(tmp_path / "out")
    assert list(stored["status"]) == ["optimal", "input_error", "optimal"]
    assert "ATLANTIS" in stored.loc[1, "error"]
    messages = []
    files = write_batch_report(tmp_path / "out", log=messages.append)
    assert {p.name for p in files} >= {"scenarios.csv", "outcomes.csv", "members.csv"}
    assert not any(p.suffix == ".png" for p in files)
    assert any("no line chart or heat map: no axis is numeric" in m for m in messages)
    # a re-run finds everything stored (failures included) and solves nothing
    again = run_batch(_sweep(tmp_path, text), tmp_path / "out", workers=1, progress=False, log=lambda line: None)
    assert again["ran"] == 0
    # a different sweep may not write into the same folder
    with pytest.raises(bm.InputError, match="different sweep"):
        run_batch(_sweep(tmp_path, text.replace("g7", "quad")), tmp_path / "out", workers=1, progress=False,
                  log=lambda line: None)


def test_a_killed_batch_resumes_and_stores_every_scenario_once(tmp_path):
    floors = "[" + ", ".join(str(60000 + 10000 * i) for i in range(8)) + "]"
    sweep = _sweep(tmp_path, GRID.format(chunk=1, floors=floors))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "blocmodel.cli", "batch", str(sweep), "--out", str(out), "--workers", "1", "--no-report"]
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if _stored_so_far(out) >= 3:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the batch stored nothing within 120 s")
        os.killpg(proc.pid, signal.SIGKILL)     # the driver and its workers, mid-batch
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)   # reaped here, or the next test sees Popen's ResourceWarning
    partial = _stored(out)
    assert 3 <= len(partial) < 16
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"{len(partial)} already stored" in finished.stderr
    stored = _stored(out)
    assert len(stored) == 16 and stored["key"].is_unique and list(stored["idx"]) == list(range(16))
    assert (stored["status"] == "optimal").all()
    with sqlite3.connect(out / STORE) as db:
        per_key = pd.read_sql_query("SELECT key, tbl, count(*) AS n FROM outputs GROUP BY key, tbl", db)
    # no scenario half-written or written twice: every one has the same number of rows per table
    assert per_key.groupby("tbl")["n"].nunique().eq(1).all() and len(per_key) == 16 * 3


def test_monte_carlo_quantiles_and_plots(tmp_path):
    text = """
name = "mc"
base = "bloc_g7+cet25"
outputs = ["designs"]
[[axes]]
name = "cet"
path = "bloc.external_tariff_ad_valorem"
values = [0.1, 0.3]
[[axes]]
name = "floor"
path = "price_floors.0.price"
values = [90000, 130000]
[monte_carlo]
draws = 3
seed = 11
[[monte_carlo.elasticities]]
distribution = "triangular"
low = 0.5
mode = 1.0
high = 2.0
[[monte_carlo.elasticities]]
side = "substitution"
distribution = "lognormal"
sigma = 0.3
[[monte_carlo.elasticities]]
side = "refining"
distribution = "uniform"
low = 0.5
high = 1.5
"""
    text = text.replace('base = "bloc_g7+cet25"', 'base = "bloc_g7+cet25+floor_ndpr_deficiency_payment"')
    run_batch(_sweep(tmp_path, text), tmp_path / "out", workers=2, progress=False, log=lambda line: None)
    files = {p.name for p in write_batch_report(tmp_path / "out")}
    assert {"quantiles.csv", "heatmap_bloc_welfare.png", "fan_welfare_bloc_change.png"} <= files
    outcomes = pd.read_csv(tmp_path / "out" / "outcomes.csv")
    quantiles = pd.read_csv(tmp_path / "out" / "quantiles.csv")
    pick = outcomes[(outcomes["cet"] == 0.3) & (outcomes["floor"] == 130000) & (outcomes["variable"] == "welfare|bloc|change")]
    assert len(pick) == 3 and pick["value"].nunique() == 3       # the draws differ
    q = quantiles[(quantiles["cet"] == 0.3) & (quantiles["floor"] == 130000) & (quantiles["variable"] == "welfare|bloc|change")]
    assert q["q50"].item() == pytest.approx(np.median(pick["value"]), rel=1e-9)
    assert q["q05"].item() == pytest.approx(np.quantile(pick["value"], 0.05), rel=1e-9)
    assert q["draws"].item() == 3
    scenarios = pd.read_csv(tmp_path / "out" / "scenarios.csv")
    assert scenarios["draw"].nunique() == 3
    with sqlite3.connect(tmp_path / "out" / STORE) as db:
        factors = [json.loads(f) for (f,) in db.execute("SELECT factors FROM scenarios")]
    assert all({"rare_earths|substitution", "rare_earths|refining", "lithium|supply"} <= set(f) for f in factors)


def test_axis_and_outcome_labels_say_what_and_in_which_unit(shipped):
    scenario = {"price_floors": [{"product": "ndpr_oxide", "price": 110000}]}
    units = dict(shipped.unit)
    floor = axis_label(Axis(path="price_floors.0.price", name="ndpr_floor", values=[1.0]), scenario, units)
    assert floor.text == "NdPr oxide floor, USD/kg" and floor.scale == 1e-3          # 110,000 USD/t is shown as 110
    written = axis_label(Axis(path="price_floors.0.price", values=[1.0]),
                         {"price_floors": [{"product": "ndpr_oxide", "price": 110, "unit": "USD/kg"}]}, units)
    assert written.text == "NdPr oxide floor, USD/kg" and written.scale == 1.0
    tariff = axis_label(Axis(path="bloc.external_tariff_ad_valorem", values=[0.1]), scenario, units)
    assert tariff.text == "common external tariff, % ad valorem" and tariff.scale == 100
    assert axis_label(Axis(path="shocks.0.region", values=["CHN"]), scenario, units) is None
    custom = axis_label(Axis(path="shocks.0.capacity_factor", title="Chinese capacity", unit="share", values=[0.5]), scenario, units)
    assert custom.text == "Chinese capacity, share"
    assert outcome_label("welfare|bloc|change", units).text == "Bloc welfare change, million USD per year"
    assert outcome_label("non_member_share|ndpr_oxide", units).text == "Non-member share of the bloc's NdPr oxide use, %"
    assert outcome_label("focus_share|lithium_refined", units).words == "China's share of the bloc's refined lithium use"
    assert outcome_label("fiscal_cost|bloc", units).unit == "million USD per year"
    assert "|" not in outcome_label("welfare|bloc|consumer_surplus|change", units).text


def test_ctrl_c_prints_the_stored_count_and_the_resume_command(tmp_path):
    """Ctrl-C reaches every process of the terminal's group: the driver and the Dask workers.
    During the cluster's start-up and mid-batch it ends with the stored count and the exact
    command that resumes, and no traceback (the workers start with SIGINT blocked); the
    printed command finishes the batch."""
    floors = "[" + ", ".join(str(60000 + 10000 * i) for i in range(4)) + "]"
    sweep = _sweep(tmp_path, GRID.format(chunk=1, floors=floors))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "blocmodel.cli", "batch", str(sweep), "--out", str(out), "--workers", "1", "--no-report"]
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}

    def interrupted(when) -> tuple[int, str]:
        # SIGINT at its default in the child, as in a terminal: a runner started in the
        # background of a non-interactive shell ignores SIGINT, the child would inherit that
        # and finish the batch (exit 0, not 130)
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, env=env,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            when(proc)
            os.killpg(proc.pid, signal.SIGINT)       # what a terminal's Ctrl-C does
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        return proc.returncode, err

    def starting(proc):      # the plan is made and the cluster starting
        line = proc.stderr.readline()
        assert "to run" in line, line
        time.sleep(1.0)

    def running(proc):
        deadline = time.time() + 180
        while time.time() < deadline and _stored_so_far(out) < 2:
            time.sleep(0.1)

    for when in (starting, running):
        code, err = interrupted(when)
        assert code == 130, err
        assert "Traceback" not in err and "CommClosedError" not in err and "KeyboardInterrupt" not in err, err
        stored = len(_stored(out)) if (out / STORE).exists() else 0
        assert f"interrupted: {stored} of 8 scenarios are stored" in err, err
        resume = err.strip().splitlines()[-1]
        assert resume == f"resume with: blocmodel batch {sweep} --out {out} --workers 1 --no-report", err
    assert stored >= 2
    finished = subprocess.run([sys.executable, "-m", "blocmodel.cli", *resume.split()[3:]], capture_output=True, text=True,
                              env=env, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"{stored} already stored" in finished.stderr and "Traceback" not in finished.stderr
    assert len(_stored(out)) == 8 and _stored(out)["key"].is_unique
