"""The `blocmodel` command line (typer).

    blocmodel validate [--data DIR] [--scenario FILE ...]
    blocmodel solve [--data DIR] [--scenario FILE ...] --out DIR
    blocmodel compare [DESIGN ...] [--data DIR] --out DIR
    blocmodel batch SWEEP.toml --out DIR [--workers N] [--scheduler tcp://host:port]
    blocmodel batch-report DIR
    blocmodel optimize --scenario FILE [--data DIR] --out DIR
    blocmodel frontier --scenario FILE --product P --targets 0.45,0.4 [--mechanisms ...] --out DIR
    blocmodel coalition --scenario FILE --out DIR [--permutations N] [--seed S]
    blocmodel serve [--data DIR] [--host 127.0.0.1] [--port 8050]

Bad input exits with status 2 and one line per problem naming file, row and field; a
scenario with no equilibrium exits 3 naming the conflicting constraints; a solution that
fails the equilibrium check exits 4; an optimisation whose targets no lever value in the
bounds meets exits 5 (optimum.json says why). Output files are written only once everything has
succeeded, each atomically.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from .errors import EquilibriumCheckError, InfeasibleError, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="blocmodel: a partial-equilibrium model of a preferential trade bloc for critical minerals.")

DataOption = Annotated[Path | None, typer.Option("--data", help="Dataset folder (default: the shipped data/).")]


def _fail(lines: list[str], code: int) -> None:
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def _guarded(action):
    """Run `action`, turning every failure into clear lines and an exit code (no traceback)."""
    try:
        return action()
    except InputError as exc:
        _fail([str(p) for p in exc.problems], 2)
    except InfeasibleError as exc:
        _fail([str(exc)] + [f"conflict: {c}" for c in exc.conflicts if c not in str(exc)], 3)
    except EquilibriumCheckError as exc:
        _fail([str(exc)], 4)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        _fail(["interrupted"], 130)
    except Exception as exc:  # an internal error: still one line, with a way to see more
        if os.environ.get("BLOCMODEL_DEBUG"):
            raise
        _fail([f"internal error ({type(exc).__name__}): {exc} — set BLOCMODEL_DEBUG=1 for the traceback"], 1)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_equilibrium(results, baseline, out: Path, extra_text: dict[str, str] | None = None) -> None:
    """Write what `blocmodel solve` writes (prices, flows, markets, welfare, summary.json,
    welfare_change.csv and, with a bloc, indicators.csv and bloc_indicators.csv) plus
    `extra_text` files into `out`; staged first, so a failure leaves `out` untouched."""
    from .indicators import bloc_dependency, dependency

    members = results.reference_members()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as staging:
        written = results.to_csv(staging, baseline=baseline)
        extra = {}
        if members:
            extra["indicators.csv"] = _with_baseline(dependency(results, members), dependency(baseline, members),
                                                     ["region", "product"])
            extra["bloc_indicators.csv"] = _with_baseline(bloc_dependency(results, members),
                                                          bloc_dependency(baseline, members), ["product"])
        for name, frame in extra.items():
            frame.to_csv(os.path.join(staging, name), index=False, float_format="%.10g")
            written.append(Path(staging) / name)
        for name, text in (extra_text or {}).items():
            (Path(staging) / name).write_text(text)
            written.append(Path(staging) / name)
        out.mkdir(parents=True, exist_ok=True)
        for path in written:
            os.replace(path, out / path.name)


@app.command()
def validate(
    data: DataOption = None,
    scenario: Annotated[list[Path] | None, typer.Option("--scenario", help="Also check these scenario TOMLs (composed) against the data, without solving.")] = None,
) -> None:
    """Check a dataset against the contract and its trade graph, and optionally scenarios
    against the dataset; print a short summary."""
    from . import graph
    from .dataset import load_dataset
    from .policy import resolve
    from .scenario import compose, load_scenario

    def run():
        dataset = load_dataset(data)
        network = graph.trade_graph(dataset)
        warnings = graph.check_graph(dataset, network)
        typer.echo(f"{dataset.path}: valid — {len(dataset.regions)} regions, {len(dataset.products)} products, "
                   f"{len(dataset.supply)} supply, {len(dataset.demand)} demand, {len(dataset.routes)} routes, "
                   f"{len(dataset.processing)} refining rows (data hash {dataset.data_hash})")
        for w in warnings:
            typer.echo(f"warning: {w}", err=True)
        note = graph.no_data_note(dataset, network)
        if note:
            typer.echo(f"note: {note}")
        if scenario:
            scen = compose([load_scenario(p) for p in scenario])
            policy = resolve(dataset, scen, source=f"scenario '{scen.name}'")
            typer.echo(f"{scen.name}: valid (scenario hash {scen.hash})")
            for note in policy.notes:
                typer.echo(f"note: {note}")

    _guarded(run)


@app.command()
def solve(
    out: Annotated[Path, typer.Option("--out", help="Folder for prices.csv, flows.csv, markets.csv, welfare.csv, summary.json, run.json.")],
    data: DataOption = None,
    scenario: Annotated[list[str] | None, typer.Option("--scenario", help="Scenario TOML or library name (e.g. full_bloc); repeat to compose (base + bloc + floor).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log the solver's progress.")] = False,
) -> None:
    """Solve one scenario (default: no policy) on a dataset and write its equilibrium tables
    and its welfare change against the no-policy baseline (same horizon)."""
    from .api import Session
    from .library import load_design

    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")

    def run():
        from .dataset import load_dataset

        dataset = load_dataset(data)
        scen = load_design("+".join(scenario)) if scenario else None
        session = Session(dataset)
        results = session.solve(scen)
        baseline = results if results.scenario.is_baseline else session.solve(results.scenario.baseline_scenario())
        write_equilibrium(results, baseline, out)
        summary = results.summary()
        change = results.welfare_change(baseline).set_index("region")["total"]
        members = sorted(results.policy.members)
        typer.echo(f"{summary['scenario']}: {summary['status']}, max residual {summary.get('max_residual', float('nan')):.1e}, "
                   f"{results.run_info()['solve_seconds']:.2f} s; welfare change against no policy: world "
                   f"{change.sum() / 1e6:+,.1f} m USD"
                   + (f", bloc {change.reindex(members).sum() / 1e6:+,.1f} m USD" if members else "") + f" -> {out}")
        for note in summary["notes"]:
            typer.echo(f"note: {note}")
        if results.policy.floors:
            from .findings import unit_price

            for label, g in results.floors.groupby("floor", sort=False):
                product = g["product"].iloc[0]
                buyers, producers = g["buyers_price"].dropna(), g["producers_price"].dropna()
                typer.echo(f"floor {label}: buyers pay {unit_price(results, product, buyers.min())}–{unit_price(results, product, buyers.max())}"
                           + (f", members' producers get {unit_price(results, product, producers.min())}–"
                              f"{unit_price(results, product, producers.max())}" if len(producers) else "")
                           + "; " + ", ".join(f"{k} in {v}" for k, v in g["status"].value_counts().items()))

    _guarded(run)


@app.command()
def compare(
    designs: Annotated[list[str] | None, typer.Argument(help="Designs: library names or TOML paths, composed with '+' (e.g. bloc_msp+cet25). Default: the --set.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder; the report goes into OUT/compare_<what was run>/.")] = Path("reports"),
    data: DataOption = None,
    set_name: Annotated[str, typer.Option("--set", help="Named set of designs in data/scenario_sets.toml (also gives the key products and focus region of the report).")] = "headline",
    baseline: Annotated[str | None, typer.Option("--baseline", help="What designs are measured against: 'baseline' (no policy, the default) or a library scenario such as status_quo_2025, which every design is then applied on top of.")] = None,
    title: Annotated[str, typer.Option("--title")] = "Critical-minerals bloc designs compared",
) -> None:
    """Solve several bloc designs, compare them with a baseline (no policy, or e.g. the 2025
    status quo), and write the report (report.html, report.xlsx, designs.csv, members.csv,
    floors.csv, markets.csv, flows.csv, manifest.json)."""
    import hashlib
    import shutil

    from .api import Session
    from .compare import NO_POLICY, Collection
    from .library import scenario_set, scenario_set_options
    from .report import write_report

    def run():
        options = scenario_set_options(set_name)
        chosen = list(designs) if designs else scenario_set(set_name)
        against = baseline if baseline is not None else options.get("baseline")
        tag = set_name if not designs else "+".join(Path(d).stem for d in chosen)
        if len(tag) > 60:
            tag = f"{len(chosen)}designs-{hashlib.sha256(' '.join(chosen).encode()).hexdigest()[:8]}"
        if against is not None and against.strip().lower() not in NO_POLICY:
            tag += f"_vs_{Path(against).stem}"
        target = out / f"compare_{tag.replace('/', '_')}"
        collection = Collection.solve(chosen, session=Session(data), baseline=against,
                                      key_products=options.get("key_products"), focus=options.get("focus"))
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out, prefix=".compare."))
        try:
            write_report(collection, staging, title=title)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
            target.chmod(0o755)             # mkdtemp made it private
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        typer.echo(f"{len(collection.designs)} designs compared with {collection.baseline_title} -> {target / 'report.html'}")

    _guarded(run)


@app.command()
def batch(
    sweep: Annotated[Path, typer.Argument(help="Sweep TOML: a base design, axes and/or Monte Carlo draws (see data/sweeps/).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for results.sqlite and the summary tables and plots.")],
    data: DataOption = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Local worker processes (default: one per core).")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Address of a running Dask scheduler, e.g. tcp://host:8786.")] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write the summary tables and plots when done.")] = True,
) -> None:
    """Run every scenario of a sweep (resumable: a re-run skips what is stored), then summarise it.
    Ctrl-C stops it cleanly and prints how many scenarios are stored and the command to resume."""
    from .batch import BatchInterrupted, Store, run_batch

    def resume_command() -> str:
        import shlex

        words = ["blocmodel", "batch", str(sweep), "--out", str(out)]
        words += ["--data", str(data)] if data is not None else []
        words += ["--workers", str(workers)] if workers else []
        words += ["--scheduler", scheduler] if scheduler else []
        words += [] if report else ["--no-report"]
        return shlex.join(words)

    def run():
        try:
            outcome = run_batch(sweep, out, data=data, workers=workers, scheduler=scheduler)
        except KeyboardInterrupt as exc:
            if isinstance(exc, BatchInterrupted):
                count = f"{exc.stored} of {exc.total} scenarios are stored ({exc.ran} in this run)"
            else:
                stored = Store(out).count()[0] if (out / "results.sqlite").is_file() else 0
                count = f"{stored} scenarios are stored"
            typer.echo(f"interrupted: {count} in {out / 'results.sqlite'}; none is half-written.", err=True)
            typer.echo(f"resume with: {resume_command()}", err=True)
            raise typer.Exit(130) from None
        if report:
            from .batch_report import write_batch_report
            files = write_batch_report(out, log=lambda line: typer.echo(line, err=True))
            typer.echo(f"summary: {', '.join(sorted(p.name for p in files))} -> {out}")
        if outcome.get("lost_chunks"):
            _fail([f"{outcome['lost_chunks']} chunk(s) were lost with their worker; run the same command again to finish: "
                   f"{resume_command()}"], 5)

    _guarded(run)


@app.command()
def optimize(
    scenario: Annotated[list[Path], typer.Option("--scenario", help="Scenario TOML with an [optimize] table; repeat to compose.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for optimum.json and the equilibrium files at the optimum.")],
    data: DataOption = None,
) -> None:
    """Find the lever values of the scenario's [optimize] table (bounded search over exact
    equilibria) and write optimum.json plus the equilibrium tables of `solve` at the optimum."""
    import json

    from .api import Session
    from .optimize import optimize as find_optimum
    from .optimize import solve_with_retry
    from .results import _jsonable
    from .scenario import compose, load_scenario

    def run():
        session = Session(data)
        scen = compose([load_scenario(p) for p in scenario])
        baseline = solve_with_retry(session, scen.baseline_scenario())
        optimum = find_optimum(scen, session=session, baseline=baseline)
        text = json.dumps(optimum.to_dict(), indent=2, default=_jsonable) + "\n"
        if optimum.results is None:
            write_atomically(out / "optimum.json", text)
        else:
            write_equilibrium(optimum.results, baseline, out, {"optimum.json": text})
        levers = ", ".join(f"{k} = {v:,.10g}" if v is not None else f"{k}: none" for k, v in optimum.levers.items())
        objective = "n/a" if optimum.objective is None else f"{optimum.objective:,.10g}"
        typer.echo(f"{scen.name}: {optimum.status}; {levers}; {optimum.sense} {optimum.objective_name} = {objective} "
                   f"({optimum.evidence.get('evaluations')} equilibria) -> {out}")
        cert = optimum.certificate
        for path, c in ({"": cert} if cert and "kind" in cert else (cert or {})).items():
            if c:
                if c["kind"] == "target binds":
                    detail = f"{c['constraint']}, relative residual {c['relative_residual']:.1e}"
                elif c["kind"] == "lever bound binds":
                    detail = f"the {c['bound']} bound"
                elif c.get("relative_derivative") is not None:
                    detail = f"relative derivative {c['relative_derivative']:.1e}"
                else:
                    detail = c.get("note", c.get("condition", ""))
                typer.echo(f"certificate{' ' + path if path else ''}: {c['kind']} ({detail})")
        for line in optimum.evidence.get("why", []):
            typer.echo(f"why: {line}", err=True)
        if optimum.status == "infeasible":
            raise typer.Exit(5)

    _guarded(run)


@app.command("batch-report")
def batch_report(out: Annotated[Path, typer.Argument(help="A folder written by `blocmodel batch`.")]) -> None:
    """Write the tidy tables, quantiles and plots of a batch's stored results."""
    from .batch_report import write_batch_report

    def run():
        files = write_batch_report(out, log=lambda line: typer.echo(line, err=True))
        typer.echo(f"summary: {', '.join(sorted(p.name for p in files))} -> {out}")

    _guarded(run)


@app.command()
def frontier(
    scenario: Annotated[list[Path], typer.Option("--scenario", help="The bloc design (TOML); repeat to compose.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for frontier.csv, frontier.png and frontier.json.")],
    product: Annotated[str, typer.Option("--product", help="The product whose non-member share is targeted.")] = "ndpr_oxide",
    targets: Annotated[str, typer.Option("--targets", help="Comma-separated non-member shares to reach.")] = "0.45,0.4,0.35,0.3,0.25,0.2",
    mechanisms: Annotated[str, typer.Option("--mechanisms", help="Comma-separated floor mechanisms.")] = "variable_levy,deficiency_payment,stockpile,price_support",
    bounds: Annotated[str | None, typer.Option("--bounds", help="LOWER,UPPER floor prices searched (default: 0.5-2.5x the reference price).")] = None,
    cost: Annotated[str, typer.Option("--cost", help="What is minimised: welfare_loss (of the bloc) or fiscal_cost; both are reported.")] = "welfare_loss",
    data: DataOption = None,
) -> None:
    """Trace the least-cost floor for each dependency target and mechanism; plot cost against dependency."""
    import json

    from .api import Session
    from .errors import InputError, Problem
    from .frontier import frontier as trace
    from .frontier import plot_frontier
    from .scenario import compose, load_scenario

    def numbers(text: str, name: str) -> list[float]:
        try:
            return [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise InputError([Problem(f"--{name}", f"expected comma-separated numbers (got {text!r})")]) from None

    def run():
        scen = compose([load_scenario(p) for p in scenario])
        span = numbers(bounds, "bounds") if bounds else None
        if span is not None and (len(span) != 2 or span[0] >= span[1]):
            raise InputError([Problem("--bounds", f"expected LOWER,UPPER with LOWER < UPPER (got {bounds!r})")])
        table = trace(scen, product, numbers(targets, "targets"), [m.strip() for m in mechanisms.split(",") if m.strip()],
                      tuple(span) if span else None, cost, session=Session(data))
        out.mkdir(parents=True, exist_ok=True)
        write_atomically(out / "frontier.csv", table.to_csv(index=False, float_format="%.10g"))
        write_atomically(out / "frontier.json", json.dumps({"scenario": scen.name, **table.attrs}, indent=2) + "\n")
        plot_frontier(table, out / "frontier.png")
        reached = table[table["status"] == "optimal"]
        typer.echo(f"{len(reached)} of {len(table)} (mechanism, target) pairs reachable; cost = {cost} -> {out / 'frontier.png'}")

    _guarded(run)


@app.command()
def coalition(
    scenario: Annotated[list[Path], typer.Option("--scenario", help="The bloc design (TOML); repeat to compose.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for members.csv, shapley.csv, side_payments.csv, coalition.json.")],
    permutations: Annotated[int, typer.Option("--permutations", min=2, help="Random orders sampled for the Shapley values.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampled orders.")] = 0,
    exact: Annotated[bool, typer.Option("--exact", help="Also compute exact Shapley values by enumerating every coalition (≤ 14 players).")] = False,
    data: DataOption = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Solve coalitions on this many local Dask worker processes.")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="...or on a running Dask scheduler, e.g. tcp://host:8786.")] = None,
) -> None:
    """Members' welfare changes, gains from joining, Shapley values (with 95% intervals) and side payments of a bloc design."""
    import json

    from .coalition import CoalitionGame, coalition_analysis, exact_shapley
    from .results import _jsonable
    from .scenario import compose, load_scenario

    def run():
        from contextlib import nullcontext

        from .batch import dask_client

        with dask_client(workers, scheduler) if (workers or scheduler) else nullcontext() as client:
            game = CoalitionGame(compose([load_scenario(p) for p in scenario]), data, client=client)
            tables = coalition_analysis(game, permutations, seed)
            values = exact_shapley(game) if exact else None
        summary = tables["summary"]
        if exact:
            shapley_table = tables["shapley"]
            shapley_table["exact_shapley"] = shapley_table["player"].map(values)
            rounding = 1e-9 * max(1.0, abs(summary["bloc_welfare_change"]))     # a zero-width interval still counts
            modelled = shapley_table["data"] != "no data"
            shapley_table.loc[~modelled, "exact_shapley"] = float("nan")          # no data: not a finding
            inside = ((shapley_table["exact_shapley"] >= shapley_table["ci95_low"] - rounding)
                      & (shapley_table["exact_shapley"] <= shapley_table["ci95_high"] + rounding))
            summary["exact_inside_ci95"] = int(inside[modelled].sum())
            summary["exact_compared"] = int(modelled.sum())
            summary["coalitions_solved"] = game.solves
        out.mkdir(parents=True, exist_ok=True)
        for name in ("members", "shapley", "side_payments"):
            write_atomically(out / f"{name}.csv", tables[name].to_csv(index=False, float_format="%.10g"))
        write_atomically(out / "coalition.json", json.dumps(summary, indent=2, default=_jsonable) + "\n")
        typer.echo(f"{summary['design']}: {summary['players']} players, bloc welfare change {summary['bloc_welfare_change']:,.0f} USD/yr "
                   f"= sum of Shapley values {summary['shapley_sum']:,.0f}; {summary['coalitions_solved']} coalitions solved in "
                   f"{summary['solve_seconds']:.1f} s -> {out}")

    _guarded(run)


@app.command()
def serve(
    data: DataOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but 127.0.0.1/localhost exposes the app (it has no authentication).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8050,
    engines: Annotated[int, typer.Option("--engines", min=1, max=16, help="Solver sessions shared by all users (each solves one design at a time).")] = 2,
    max_sessions: Annotated[int, typer.Option("--max-sessions", min=1, help="Most browser sessions held at once.")] = 50,
    idle_minutes: Annotated[float, typer.Option("--idle-minutes", min=1.0, help="A browser session idle this long ends.")] = 30.0,
) -> None:
    """Start the negotiation table: a browser app to assemble a bloc design and see its consequences at once."""
    from .web import serve as run

    _guarded(lambda: run(data, host=host, port=port, engines=engines, max_sessions=max_sessions, idle_minutes=idle_minutes,
                         echo=typer.echo))


def _with_baseline(frame, base, keys):
    """`frame` with the baseline's value of each indicator beside it (`baseline_<column>`)."""
    values = [c for c in frame.columns if c not in keys]
    base = base.rename(columns={c: f"baseline_{c}" for c in values})
    return frame.merge(base, on=keys, how="outer")


@app.command()
def calibration(
    out: Annotated[Path, typer.Option("--out", help="Folder for calibration_products.csv, calibration_routes.csv, calibration_misses.csv, calibration_scatter.png.")],
    data: DataOption = None,
) -> None:
    """How well the no-policy equilibrium reproduces the observed trade: per product, model
    against observed flows, China's exports and imports, the largest misses, a log-log plot."""

    def run():
        from .api import solve as solve_scenario
        from .calibration_report import calibration_tables, write_calibration_report

        results = solve_scenario(data)
        write_calibration_report(results, out)
        products = calibration_tables(results)["calibration_products"]
        worst = products["largest_miss"].abs().max() if len(products) else 0.0
        typer.echo(f"calibration: {len(products)} products with observed flows, largest miss on a route {worst:.1e} -> {out}")

    _guarded(run)


def main() -> None:
    app(prog_name="blocmodel")


if __name__ == "__main__":
    main()
