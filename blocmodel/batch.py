"""Batch runs: every task of a sweep solved on Dask workers, stored as each one finishes.

    blocmodel batch SWEEP.toml --out DIR [--workers N] [--scheduler tcp://host:port]

Without `--scheduler` a `dask.distributed.LocalCluster` of N single-threaded worker
processes is started; with it, the same code submits to an existing cluster. Workers keep a
`Session` per dataset draw (models built once, re-solved with new levers) and return, per
scenario, its status and output rows. Consecutive tasks go to one worker in chunks so that
neighbouring grid points re-solve from each other.

The store is one SQLite file, `DIR/results.sqlite`, written only by this process: each
scenario in its own transaction with its key, so a crash or Ctrl-C loses at most the chunks
in flight and never leaves half a scenario. Re-running the same command skips the keys that
are stored and runs the rest. A scenario that fails (bad input, no equilibrium, a failed
check) is stored with its error and the batch goes on.

Outputs per scenario (the sweep's `outputs`), every welfare figure a change against the
no-policy baseline of the same draw (levels mean nothing):
- `designs`: the key outcomes of `blocmodel compare` (`Collection.design_rows`: among them
  the bloc's dependency on China, `focus_share|P`, `focus_content_share|P`, and their
  baseline values) and, per floor, the use-weighted price members' buyers pay
  (`floor|P|buyers_price`), the floor (`floor|P|floor_price`) and how many of its markets
  are in each state (`floor|P|markets|binds`, `...|prohibitive`, `...|cannot bind`,
  `...|budget-limited`, `...|slack`; `Results.floors`);
- `members`: each region's welfare change;
- `prices`: buyers' prices by region and product;
- `floors`: `Results.floors` per floor market (floor, buyers' and producers' prices, levy
  collected, non-member imports, and `status|<state>` = 1).

Interrupts. The worker processes never see Ctrl-C: they start with SIGINT blocked (the
signal mask of the threads that spawn them), so only this process stops, closes the
cluster with Dask's logging silenced, and `blocmodel batch` prints how many scenarios are
stored and the command that resumes the batch. Nothing half-done is stored.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset, load_dataset
from .errors import EquilibriumCheckError, InfeasibleError, InputError, Problem
from .results import WELFARE_BY_REGION
from .sweep import Sweep, Task, apply_factors, load_sweep, plan

STORE = "results.sqlite"
SIGNIFICANT = 12   # stored values are rounded so that runs on any worker count give the same numbers

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS scenarios (
    key TEXT PRIMARY KEY, idx INTEGER, draw INTEGER, point TEXT, factors TEXT, scenario TEXT,
    status TEXT, error TEXT, max_residual REAL, seconds REAL);
CREATE TABLE IF NOT EXISTS outputs (
    key TEXT, tbl TEXT, region TEXT, product TEXT, variable TEXT, value REAL);
CREATE INDEX IF NOT EXISTS outputs_key ON outputs (key);
"""


class Store:
    """The results of one sweep in `DIR/results.sqlite`."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / STORE
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")    # a killed writer leaves the file consistent
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def bind(self, sweep_text: str, data_hash: str, versions: dict[str, str], units: dict[str, str] | None = None) -> None:
        """Tie the store to one sweep on one dataset: a different one must use another folder."""
        stored = dict(self.db.execute("SELECT name, value FROM meta"))
        if stored and (stored.get("sweep") != sweep_text or stored.get("data_hash") != data_hash):
            what = "sweep definition" if stored.get("sweep") != sweep_text else "dataset"
            raise InputError([Problem(str(self.path), f"holds results of a different {what}",
                                      hint="use a new --out folder, or delete this one")])
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                [("sweep", sweep_text), ("data_hash", data_hash), ("versions", json.dumps(versions, sort_keys=True)),
                                 ("product_units", json.dumps(units or {}, sort_keys=True))])

    def done(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM scenarios")}

    def count(self) -> tuple[int, int]:
        """(scenarios stored, of which failed)."""
        stored, failed = self.db.execute("SELECT count(*), coalesce(sum(status != 'optimal'), 0) FROM scenarios").fetchone()
        return int(stored), int(failed)

    def write(self, record: dict[str, Any]) -> bool:
        """Store one finished scenario atomically; False if it was already there."""
        return self.write_many([record])[0]

    def write_many(self, records: list[dict[str, Any]]) -> list[bool]:
        """Store finished scenarios in one transaction (a chunk's: one commit, not one per
        scenario; a crash loses the chunk, which re-runs); per record, False if it was
        already there (its outputs are then left as they were)."""
        new = []
        with self.db:
            for record in records:
                inserted = self.db.execute(
                    "INSERT OR IGNORE INTO scenarios VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (record["key"], record["index"], record["draw"], json.dumps(record["point"], sort_keys=True),
                     json.dumps(record["factors"], sort_keys=True), json.dumps(record["scenario"], sort_keys=True),
                     record["status"], record["error"], record["max_residual"], record["seconds"])).rowcount == 1
                if inserted:
                    self.db.executemany("INSERT INTO outputs VALUES (?,?,?,?,?,?)", [(record["key"], *row) for row in record["rows"]])
                new.append(inserted)
        return new

    def close(self) -> None:
        self.db.close()


# ---------------------------------------------------------------- the worker side
_WORKER: dict[str, Any] = {}    # per worker process: the last draw's sessions and baselines


def _session_for(data: Dataset, factors: dict[str, float]):
    """The Session of this draw, kept between tasks on the same worker."""
    from .api import Session
    from .solver import SolverOptions

    key = (data.data_hash, json.dumps(factors, sort_keys=True))
    if _WORKER.get("key") != key:
        _WORKER.clear()
        # one chain at a time: the workers are one process per core already
        _WORKER.update(key=key, session=Session(apply_factors(data, factors), SolverOptions(threads=1)), collections={})
    return _WORKER["session"]


def _collection_for(session, horizon: str):
    """The no-policy baseline of this draw at `horizon` (welfare changes are measured against
    the baseline of the scenario's own horizon), solved cold in a session of its own, so the
    tasks' warm starts never depend on which baselines a worker happened to need."""
    from .api import Session
    from .compare import Collection
    from .scenario import Scenario

    collections = _WORKER["collections"]
    if horizon not in collections:
        name = "baseline" if horizon == "medium_run" else f"baseline_{horizon}"
        base = Session(session.data, session.options).solve(Scenario(name=name, horizon=horizon))
        collections[horizon] = Collection({name: base}, baseline=name, data=session.data)
    return collections[horizon]


def run_chunk(data: Dataset, tasks: list[dict[str, Any]], outputs: list[str]) -> list[dict[str, Any]]:
    """Solve tasks in order on this worker; every one returns a record, failed or not."""
    from threadpoolctl import threadpool_limits

    records = []
    with threadpool_limits(1):
        for i, task in enumerate(tasks):
            records.append(_run_task(data, task, outputs, cold=i == 0))
    return records


def _run_task(data: Dataset, task: dict[str, Any], outputs: list[str], cold: bool) -> dict[str, Any]:
    start = time.perf_counter()
    record = {**task, "status": "optimal", "error": None, "max_residual": None, "rows": []}
    try:
        session = _session_for(data, task["factors"])
        collection = _collection_for(session, task["scenario"].get("horizon", "medium_run"))
        if cold:
            session.reset()    # a chunk starts cold: its results do not depend on what this worker ran before
        result = session.solve(task["scenario"])
        record["max_residual"] = result.check_report.max_residual
        record["rows"] = _output_rows(collection, result, outputs)
    except InputError as exc:
        record.update(status="input_error", error="; ".join(str(p) for p in exc.problems))
    except InfeasibleError as exc:
        record.update(status="infeasible", error=str(exc))
    except EquilibriumCheckError as exc:
        record.update(status="check_failed", error=str(exc))
    except Exception as exc:   # recorded, never fatal to the batch
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
        _WORKER.clear()        # start afresh: the session may be in a bad state
    record["seconds"] = round(time.perf_counter() - start, 4)
    return record


def _output_rows(collection, result, outputs: list[str]) -> list[tuple]:
    rows: list[tuple] = []
    name = "_task"
    collection.results[name] = result
    try:
        base = collection.results[collection.baseline]
        if "designs" in outputs:
            rows += [("designs", "", "", variable, _round(value)) for _, variable, value, _ in collection.design_rows(name)]
            rows += [("designs", "", "", variable, _round(value)) for variable, value in _floor_design_rows(result)]
        if "members" in outputs:
            members = set(collection.members(name))
            total = WELFARE_BY_REGION.index("total")
            change = result.welfare_by_region[:, total] - base.welfare_by_region[:, total]
            for region, value in zip(result.data.region_codes, change):
                rows.append(("members", region, "", "welfare|change|member" if region in members else "welfare|change",
                             _round(value)))
        if "prices" in outputs:
            rows += [("prices", r, p, "price", _round(v)) for r, p, v in result.prices[["region", "product", "price"]].itertuples(index=False)]
        if "floors" in outputs and result.policy.floors:
            for f in result.floors.itertuples(index=False):
                for variable in ("floor_price", "buyers_price", "producers_price", "levy_collected", "non_member_imports"):
                    rows.append(("floors", f.market, f.product, variable, _round(getattr(f, variable))))
                rows.append(("floors", f.market, f.product, f"status|{f.status}", 1.0))
    finally:
        del collection.results[name]
    return rows


FLOOR_STATES = ("binds", "prohibitive", "cannot bind", "budget-limited", "slack")


def _floor_design_rows(result) -> list[tuple[str, float]]:
    """What the batch adds to `design_rows`: what each floor holds (`Results.floors`)."""
    if not result.policy.floors:
        return []
    rows: list[tuple[str, float]] = []
    floors = result.floors
    floor_product, market, status = (floors[c].to_numpy(dtype=object) for c in ("product", "market", "status"))
    buyers_price, floor_price = (floors[c].to_numpy(dtype=float) for c in ("buyers_price", "floor_price"))
    m = result.market_columns
    for product in sorted(set(floor_product)):
        g = floor_product == product
        here = m["product"] == product
        use = dict(zip(m["region"][here], m["use"][here]))
        price = buyers_price[g]
        buying = np.isfinite(price)                    # markets where no one buys show no buyers' price
        weight = np.array([use.get(r, 0.0) for r in market[g]])[buying]
        price = price[buying]
        mean = float((price * weight).sum() / weight.sum()) if weight.sum() > 0 else float(price.mean()) if len(price) else math.nan
        rows.append((f"floor|{product}|floor_price", float(floor_price[g].max())))
        rows.append((f"floor|{product}|buyers_price", mean))
        for state in FLOOR_STATES:
            rows.append((f"floor|{product}|markets|{state}", float((status[g] == state).sum())))
    return rows


def _round(value) -> float | None:
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{SIGNIFICANT}g}")


# ---------------------------------------------------------------- the driver side
QUIET_LOGGERS = ("distributed", "tornado", "asyncio", "bokeh")


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread meanwhile: threads started here (Dask's event loop) and the
    worker processes they spawn inherit the mask, so Ctrl-C reaches this process alone; one
    pressed meanwhile is delivered when the block ends. (multiprocessing's resource tracker,
    when it starts, unblocks SIGINT in the thread that starts it: it is started first.)"""
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask")
    if main:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if main:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's loggers silenced (closing a cluster after an interrupt logs CommClosedError and
    the like, which say nothing to a user)."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _close_quietly(*things) -> None:
    with _quiet_dask(), _sigint_blocked():
        for thing in things:
            if thing is None:
                continue
            try:
                thing.close()
            except Exception:   # a connection already gone: nothing to close
                pass


# What a dashboard would show, sampled in every worker while it computes: with no dashboard
# the statistical profiler (a thread that takes the GIL every 10 ms to walk the compute
# thread's stack) and the 20-100 ms monitors cost the tasks 15-25% of their time on 2 cores
# (the bench's 1,000-scenario sweep, alternately: tasks phase 21.3-22.7 s without, 26.2-29.0 s with).
_QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "200ms",
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
}


def local_cluster(workers: int, **options):
    """A LocalCluster of single-threaded worker processes with no dashboard, whose HTTP
    endpoints take a free port (the scheduler's default, 8787, may be another cluster's),
    and without the dashboard's samplers (the workers take the config as they start)."""
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set(_QUIET_WORKERS):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"}, **options)


@contextmanager
def dask_client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A client on an existing scheduler, or on a LocalCluster of single-threaded processes
    that never see Ctrl-C (see the module docstring); closed quietly however the block ends."""
    from dask.distributed import Client

    cluster = client = None
    try:
        if scheduler:
            with _sigint_blocked():
                client = Client(scheduler, timeout="30s")
        else:
            os.environ.setdefault("OMP_NUM_THREADS", "1")    # inherited by the worker processes
            n = workers or max(1, os.cpu_count() or 1)
            with _sigint_blocked():
                cluster = local_cluster(n, silence_logs=logging.ERROR)
                client = Client(cluster)
        yield client
    finally:
        _close_quietly(client, cluster)


def chunks(tasks: list[Task], size: int | None = None) -> list[list[Task]]:
    """Consecutive tasks of one draw together: each chunk starts cold and re-solves from
    one task to the next. The chunks depend on the sweep alone (about 16 of them, at most
    50 tasks each), never on the workers, so any number of workers gives the same bits."""
    size = size or max(1, min(50, math.ceil(len(tasks) / 16)))
    out: list[list[Task]] = []
    for task in tasks:
        if out and len(out[-1]) < size and out[-1][-1].draw == task.draw:
            out[-1].append(task)
        else:
            out.append([task])
    return out


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch: what is stored stays stored; `stored` of `total` scenarios."""

    def __init__(self, stored: int, total: int, ran: int):
        super().__init__(f"{stored} of {total} scenarios stored")
        self.stored, self.total, self.ran = stored, total, ran


def run_batch(sweep_file: str | Path, out: str | Path, *, data: str | Path | None = None, workers: int | None = None,
              scheduler: str | None = None, progress: bool | None = None, log=None) -> dict[str, Any]:
    """Run every task of a sweep not yet in `out`'s store; returns counts and timing. Ctrl-C
    raises `BatchInterrupted` (a KeyboardInterrupt) with the stored count."""
    from .api import versions

    sweep, file = load_sweep(sweep_file)
    folder = Path(data) if data is not None else (file.parent / sweep.data if sweep.data else None)
    dataset = load_dataset(folder)
    tasks = plan(sweep, file, dataset)
    out = Path(out)
    store = Store(out)
    counts = {"stored": 0, "failed": 0}
    try:
        store.bind(file.read_text(encoding="utf-8-sig"), dataset.data_hash, versions(), dict(dataset.unit))
        done = store.done()
        todo = [t for t in tasks if t.key not in done]
        # whole chunks of the full plan: a chunk cut short by a crash re-runs from its start
        groups = [g for g in chunks(tasks, sweep.chunk_size) if any(t.key not in done for t in g)]
        say = log or (lambda line: print(line, file=sys.stderr, flush=True))
        say(f"batch '{sweep.name}': {len(tasks)} scenarios, {len(tasks) - len(todo)} already stored, {len(todo)} to run")
        start = time.perf_counter()
        if todo:
            with dask_client(workers, scheduler) as client:
                with _Progress(len(todo), progress, say) as bar:
                    _run(client, dataset, groups, sweep, store, counts, bar)
        seconds = time.perf_counter() - start
        say(f"batch '{sweep.name}': {counts['stored']} stored ({counts['failed']} failed) in {seconds:.1f} s")
        return {"scenarios": len(tasks), "ran": len(todo), **counts, "seconds": seconds, "store": str(store.path)}
    except KeyboardInterrupt:
        with _sigint_blocked():     # a second Ctrl-C must not cut the count short
            stored, _ = store.count()
        raise BatchInterrupted(stored, len(tasks), counts["stored"]) from None
    finally:
        store.close()


def _run(client, dataset: Dataset, groups: list[list[Task]], sweep: Sweep, store: Store, counts: dict, bar) -> None:
    from dask.distributed import as_completed

    remote = client.scatter(dataset, broadcast=True)
    futures = [client.submit(run_chunk, remote, [asdict(t) for t in group], list(sweep.outputs), pure=False)
               for group in groups]
    lost = 0
    for future in as_completed(futures):
        try:
            records = future.result()
        except Exception as exc:   # a worker died: these scenarios stay unstored and run next time
            lost += 1
            bar.note(f"a chunk was lost ({type(exc).__name__}: {exc}); re-run the command to finish it")
            continue
        new = 0
        for record, stored in zip(records, store.write_many(records)):
            if stored:
                new += 1
                counts["failed"] += record["status"] != "optimal"
        counts["stored"] += new
        bar.advance(new, counts["failed"])
    if lost:
        counts["lost_chunks"] = lost


def solve_scenarios(client, data: Dataset, scenarios: list[dict[str, Any]], outputs: list[str],
                    chunk: int = 25) -> list[dict[str, Any]]:
    """Solve a list of scenarios (dicts of the TOML's content) on the Dask workers behind
    `client`, in chunks of neighbours, and return their records (status, error, output rows)
    in order. No store: for callers that keep their own results (coalition games)."""
    from dask.distributed import as_completed

    remote = client.scatter(data, broadcast=True)
    tasks = [{"key": str(i), "index": i, "draw": None, "point": {}, "scenario": s, "factors": {}}
             for i, s in enumerate(scenarios)]
    futures = [client.submit(run_chunk, remote, tasks[i:i + chunk], outputs, pure=False) for i in range(0, len(tasks), chunk)]
    records: dict[int, dict[str, Any]] = {}
    for future in as_completed(futures):
        for record in future.result():
            records[record["index"]] = record
    return [records[i] for i in range(len(tasks))]


class _Progress:
    """A rich progress bar with ETA on a terminal; plain log lines (about every 5%) otherwise."""

    def __init__(self, total: int, interactive: bool | None, say):
        self.total, self.say, self.done, self.failed = total, say, 0, 0
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.start = time.perf_counter()
        self.next_line = 0

    def __enter__(self):
        if self.interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            self.bar = Progress(TextColumn("solving"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"),
                                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=False)
            self.bar.__enter__()
            self.task = self.bar.add_task("batch", total=self.total, failed=0)
        return self

    def advance(self, n: int, failed: int) -> None:
        self.done += n
        self.failed = failed
        if self.interactive:
            self.bar.update(self.task, advance=n, failed=failed)
        elif self.done >= self.next_line or self.done == self.total:
            elapsed = time.perf_counter() - self.start
            eta = elapsed / self.done * (self.total - self.done)
            self.say(f"  {self.done}/{self.total} done, {failed} failed, {elapsed:.1f} s elapsed, ETA {eta:.0f} s")
            self.next_line = self.done + max(1, self.total // 20)

    def note(self, line: str) -> None:
        (self.bar.console.print if self.interactive else self.say)(line)

    def __exit__(self, *exc):
        if self.interactive:
            self.bar.__exit__(*exc)


__all__ = ["run_batch", "run_chunk", "solve_scenarios", "Store", "dask_client", "local_cluster", "chunks", "STORE",
           "BatchInterrupted"]
