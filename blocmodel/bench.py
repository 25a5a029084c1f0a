"""Benchmarks: blocmodel against the same model written the obvious way, in one run.

    python -m blocmodel.bench            # the figures of DESIGN.md §4; writes reports/benchmarks.csv
    python -m blocmodel.bench --quick    # smaller sweep and scale runs

Each case runs in its own process so its peak memory can be read. Cases:
- `reference`: the deterministic synthetic instance of 60 regions × 10 products with a route
  between every pair of regions, solved by one monolithic Pyomo QP through HiGHS
  (`reference.py`) and by blocmodel cold; both must agree on every price;
- `shipped`: the shipped dataset: the monolithic QP (given blocmodel's border charges, so both
  solve the same problem) against blocmodel cold; the median re-solve after changing one
  lever; a sweep (membership × mechanism × external tariff × NdPr floor) run by `blocmodel
  batch` on local Dask processes, timed end to end (cluster start, store, checks);
- `scale`: synthetic instances up to 250 regions × 30 products (two-stage chains), cold.
blocmodel's times include its independent equilibrium check.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _charges(results) -> np.ndarray:
    a = results.arc_detail
    return (a["tariff"] + a["anti_dumping"] + a["levy"] - a["export_subsidy"]).to_numpy()


def _agreement(reference_prices: pd.DataFrame, results) -> float:
    merged = reference_prices.merge(results.prices, on=["region", "product"], suffixes=("_reference", ""))
    scale = merged["product"].map({p: s for c in results.chains for p, s in c.price_scale.items()})
    return float(((merged["price_reference"] - merged["price"]).abs() / scale).max())


def case_reference(regions: int, products: int, time_limit: float) -> dict:
    import blocmodel as bm
    from blocmodel.reference import solve_monolithic
    from blocmodel.synthetic import synthetic_dataset

    with tempfile.TemporaryDirectory() as tmp:
        data = bm.load_dataset(synthetic_dataset(Path(tmp) / "reference", regions=regions, minerals=products))
    start = time.perf_counter()
    results = bm.Session(data).solve()
    cold = time.perf_counter() - start
    row = {"case": f"reference {regions}x{products} all pairs", "regions": regions, "products": products,
           "routes": len(data.routes), "blocmodel_cold_s": cold, "max_residual": results.check_report.max_residual}
    try:
        prices, timing = solve_monolithic(data, results.policy, _charges(results), time_limit=time_limit)
        row.update(reference_s=timing["seconds"], agreement=_agreement(prices, results))
    except RuntimeError as exc:   # the reference gave up (time limit) - record it as a lower bound
        row.update(reference_s=float("nan"), reference_note=str(exc))
    row["peak_mb"] = _peak_mb()
    return row


def case_shipped(sweep: int, workers: int, time_limit: float) -> dict:
    import blocmodel as bm
    from blocmodel.reference import solve_monolithic

    data = bm.load_dataset()
    start = time.perf_counter()
    session = bm.Session(data)
    base = session.solve()
    cold = time.perf_counter() - start
    try:
        prices, timing = solve_monolithic(data, base.policy, _charges(base), time_limit=time_limit)
        reference = {"reference_s": timing["seconds"], "agreement": _agreement(prices, base)}
    except RuntimeError as exc:   # the reference gave up (time limit)
        reference = {"reference_s": float("nan"), "reference_note": str(exc)}
    # Re-solve: change one lever at a time (an NdPr floor, a tariff), median of the solves.
    bloc = {"members": ["ministerial2026"], "external_tariff_ad_valorem": 0.25}
    session.solve({"bloc": bloc})
    changes = [{"bloc": bloc, "price_floors": [{"product": "ndpr_oxide", "price": float(p)}]} for p in np.linspace(60_000, 140_000, 9)]
    changes += [{"bloc": bloc, "tariffs": [{"exporter": "CHN", "importer": "USA", "product": "graphite", "ad_valorem": float(t)}]}
                for t in (0.1, 0.3, 0.5, 0.935)]
    times = []
    for scenario in changes:
        t0 = time.perf_counter()
        session.solve(scenario)
        times.append(time.perf_counter() - t0)
    sweep_seconds, solved = run_sweep(sweep, workers)
    return {"case": "shipped dataset", "regions": len(data.regions), "products": len(data.products), "routes": len(data.routes),
            "blocmodel_cold_s": cold, **reference,
            "resolve_median_ms": 1000 * statistics.median(times), "sweep_scenarios": solved, "sweep_s": sweep_seconds,
            "sweep_per_s": solved / sweep_seconds, "max_residual": base.check_report.max_residual, "peak_mb": _peak_mb()}


def sweep_file(n: int, folder: Path) -> Path:
    """A sweep of about `n` scenarios of the shipped data: membership × floor mechanism ×
    external tariff × NdPr floor (the grid of data/sweeps/ndpr_floor_grid.toml, resized)."""
    per_axis = max(2, round((n / 10) ** 0.5))
    text = (Path(__file__).resolve().parent.parent / "data" / "sweeps" / "ndpr_floor_grid.toml").read_text()
    text = text.replace("num = 10", f"num = {per_axis}")
    path = folder / "bench_sweep.toml"
    path.write_text(text)
    return path


def run_sweep(n: int, workers: int) -> tuple[float, int]:
    """The sweep through `blocmodel batch` (Dask local processes, the store, every check), timed end to end."""
    from blocmodel.batch import run_batch

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        outcome = run_batch(sweep_file(n, Path(tmp)), Path(tmp) / "out", workers=workers, progress=False, log=lambda line: None)
        return time.perf_counter() - start, outcome["stored"] - outcome["failed"]


def case_scale(regions: int, products: int, stages: int = 2) -> dict:
    import blocmodel as bm
    from blocmodel.synthetic import synthetic_dataset

    with tempfile.TemporaryDirectory() as tmp:
        minerals = max(1, products // stages)
        folder = synthetic_dataset(Path(tmp) / "scale", regions=regions, minerals=minerals, two_stage=stages == 2,
                                   neighbours=min(regions - 1, 40))
        data = bm.load_dataset(folder)
    start = time.perf_counter()
    results = bm.Session(data).solve()
    return {"case": f"scale {regions}x{len(data.products)}, {stages} stage{'s' * (stages > 1)}", "regions": regions,
            "products": len(data.products), "stages": stages, "routes": len(data.routes),
            "blocmodel_cold_s": time.perf_counter() - start, "max_residual": results.check_report.max_residual,
            "peak_mb": _peak_mb()}


def plot_scale(table: pd.DataFrame, path: Path) -> Path:
    """Log-log: cold-solve time and peak memory against the number of routes, by stages."""
    from matplotlib.figure import Figure

    scale = table[table["case"].str.startswith("scale")]
    fig = Figure(figsize=(10, 3.8), constrained_layout=True)
    axes = fig.subplots(1, 2)
    for stages, part in scale.groupby("stages"):
        for ax, column in zip(axes, ("blocmodel_cold_s", "peak_mb")):
            ax.loglog(part["routes"], part[column], marker="o", label=f"{int(stages)} stage(s)")
            for _, row in part.iterrows():
                ax.annotate(f"{row['regions']}x{row['products']}", (row["routes"], row[column]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
    reference = table[table["case"].str.startswith("reference")]
    if len(reference) and reference["reference_s"].notna().any():
        axes[0].loglog(reference["routes"], reference["reference_s"], "k^", label="monolithic Pyomo QP (reference)")
    axes[0].set(xlabel="routes", ylabel="cold solve incl. check, s", title="time")
    axes[1].set(xlabel="routes", ylabel="peak memory, MB", title="memory")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(True, which="both", lw=0.3)
    fig.savefig(path, dpi=110)
    return path


def _run(case, *args) -> dict:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(case, *args).result()


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 90-scenario sweep and scale runs up to 120 regions")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reference-time-limit", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=REPORTS / "benchmarks.csv")
    args = parser.parse_args(argv)
    sweep = 90 if args.quick else 1000
    sizes = [(30, 10, 2), (60, 10, 2), (60, 10, 1), (120, 20, 2)]
    if not args.quick:
        sizes += [(120, 20, 1), (250, 30, 2)]
    rows = [_run(case_reference, 60, 10, args.reference_time_limit),
            _run(case_shipped, sweep, args.workers, args.reference_time_limit)]
    rows += [_run(case_scale, r, p, k) for r, p, k in sizes]
    table = pd.DataFrame(rows)
    table["speedup"] = table["reference_s"] / table["blocmodel_cold_s"]
    table.insert(0, "date", date.today().isoformat())
    table["machine"] = f"{platform.machine()} {mp.cpu_count()} cores, Python {platform.python_version()}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4g")
    plot_scale(table, args.out.with_name("benchmarks_scale.png"))
    show = ["case", "routes", "reference_s", "blocmodel_cold_s", "speedup", "agreement", "resolve_median_ms", "sweep_scenarios",
            "sweep_s", "peak_mb", "max_residual"]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(table[[c for c in show if c in table]].to_string(index=False))
    print(f"-> {args.out}")
    return table


if __name__ == "__main__":
    main()
