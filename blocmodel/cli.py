"""The `blocmodel` command line (typer).

    blocmodel validate [--data DIR] [--scenario FILE ...]
    blocmodel solve [--data DIR] [--scenario FILE ...] --out DIR

Bad input exits with status 2 and one line per problem naming file, row and field; a
scenario with no equilibrium exits 3 naming the conflicting constraints; a solution that
fails the equilibrium check exits 4. Output files are written only once everything has
succeeded, each atomically.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import EquilibriumCheckError, InfeasibleError, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="blocmodel: a partial-equilibrium model of a preferential trade bloc for critical minerals.")

DataOption = Annotated[Optional[Path], typer.Option("--data", help="Dataset folder (default: the shipped data/).")]


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


@app.command()
def validate(
    data: DataOption = None,
    scenario: Annotated[Optional[list[Path]], typer.Option("--scenario", help="Also check these scenario TOMLs (composed) against the data, without solving.")] = None,
) -> None:
    """Check a dataset against the contract and its trade graph, and optionally scenarios
    against the dataset; print a short summary."""
    from . import graph
    from .dataset import load_dataset
    from .policy import resolve
    from .scenario import compose, load_scenario

    def run():
        dataset = load_dataset(data)
        warnings = graph.check_graph(dataset)
        typer.echo(f"{dataset.path}: valid — {len(dataset.regions)} regions, {len(dataset.products)} products, "
                   f"{len(dataset.supply)} supply, {len(dataset.demand)} demand, {len(dataset.routes)} routes, "
                   f"{len(dataset.processing)} refining rows (data hash {dataset.data_hash})")
        for w in warnings:
            typer.echo(f"warning: {w}", err=True)
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
    scenario: Annotated[Optional[list[Path]], typer.Option("--scenario", help="Scenario TOML; repeat to compose (base + bloc + floor).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log the solver's progress.")] = False,
) -> None:
    """Solve one scenario (default: no policy) on a dataset and write its equilibrium tables."""
    from .api import solve as solve_scenario
    from .scenario import compose, load_scenario

    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")

    def run():
        from .dataset import load_dataset
        from .indicators import bloc_dependency, dependency

        dataset = load_dataset(data)
        scen = compose([load_scenario(p) for p in scenario]) if scenario else None
        results = solve_scenario(dataset, scen)
        baseline = results if results.scenario.is_baseline else solve_scenario(dataset, None)
        members = results.reference_members()
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as staging:
            written = results.to_csv(staging)
            extra = {"welfare_change.csv": results.welfare_change(baseline)}
            if members:
                extra["indicators.csv"] = _with_baseline(dependency(results, members), dependency(baseline, members),
                                                         ["region", "product"])
                extra["bloc_indicators.csv"] = _with_baseline(bloc_dependency(results, members),
                                                              bloc_dependency(baseline, members), ["product"])
            for name, frame in extra.items():
                frame.to_csv(os.path.join(staging, name), index=False, float_format="%.10g")
                written.append(Path(staging) / name)
            out.mkdir(parents=True, exist_ok=True)
            for path in written:
                os.replace(path, out / path.name)
        summary = results.summary()
        typer.echo(f"{summary['scenario']}: {summary['status']}, max residual {summary.get('max_residual', float('nan')):.1e}, "
                   f"{results.run_info()['solve_seconds']:.2f} s; world welfare {summary['world_welfare']:,.0f} USD"
                   + (f"; bloc welfare {summary['bloc_welfare']:,.0f} USD" if summary["bloc_welfare"] is not None else "")
                   + f" -> {out}")
        for note in summary["notes"]:
            typer.echo(f"note: {note}")

    _guarded(run)


@app.command()
def compare(
    designs: Annotated[Optional[list[str]], typer.Argument(help="Designs: library names or TOML paths, composed with '+' (e.g. bloc_msp+cet25). Default: the --set.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder; the report goes into OUT/compare_<what was run>/.")] = Path("reports"),
    data: DataOption = None,
    set_name: Annotated[str, typer.Option("--set", help="Named set of designs in data/scenario_sets.toml.")] = "headline",
    title: Annotated[str, typer.Option("--title")] = "Critical-minerals bloc designs compared",
) -> None:
    """Solve several bloc designs, compare them with no policy, and write the report
    (report.html, report.xlsx, designs.csv, members.csv, markets.csv, flows.csv, manifest.json)."""
    import hashlib
    import shutil

    from .api import Session
    from .compare import Collection
    from .library import scenario_set
    from .report import write_report

    def run():
        chosen = list(designs) if designs else scenario_set(set_name)
        tag = set_name if not designs else "+".join(Path(d).stem for d in chosen)
        if len(tag) > 60:
            tag = f"{len(chosen)}designs-{hashlib.sha256(' '.join(chosen).encode()).hexdigest()[:8]}"
        target = out / f"compare_{tag.replace('/', '_')}"
        collection = Collection.solve(chosen, session=Session(data))
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out, prefix=".compare."))
        try:
            write_report(collection, staging, title=title)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        typer.echo(f"{len(collection.designs)} designs compared -> {target / 'report.html'}")

    _guarded(run)


def _with_baseline(frame, base, keys):
    """`frame` with the baseline's value of each indicator beside it (`baseline_<column>`)."""
    values = [c for c in frame.columns if c not in keys]
    base = base.rename(columns={c: f"baseline_{c}" for c in values})
    return frame.merge(base, on=keys, how="outer")


def main() -> None:
    app(prog_name="blocmodel")


if __name__ == "__main__":
    main()
