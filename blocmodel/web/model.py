"""The model behind the negotiation table, built once per process and shared.

- The dataset, its no-policy market and chain layouts are built once and only read.
- A bounded pool of `blocmodel.Session`s (the engines) solves designs. A Session keeps
  warm-start state, so each engine serves one solve at a time (taken from a queue); with
  fewer engines than users, users wait for a free one rather than the memory growing.
- The no-policy baseline is solved once per horizon, and its dependency indicators are
  cached per member set (on the baseline, bounded): a lever change costs one solve.
- Views of solved designs are cached by their scenario (least recently used first out),
  so a pinned design, a reload or a shared link costs no solve.

`evaluate(design)` is the one way from a design to what the page shows: it validates the
design exactly as the command line does (`scenario_from_dict`, then `policy.resolve`
inside `Session.solve`), solves it, and returns an `Outcome`: a view, the problems with
the form field each belongs to, or the conflicts of an infeasible design.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api import Session, as_dataset
from ..errors import EquilibriumCheckError, InfeasibleError, InputError
from ..indicators import bloc_dependency
from ..scenario import HORIZONS, Scenario, scenario_from_dict
from .design import Design, field_of
from .views import View, design_view

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a design gives: `view` when it solved; else `problems` (input errors, each with
    the form field it belongs to, or None) or `conflicts` (no equilibrium exists)."""

    design: Design
    view: View | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    infeasible: str | None = None
    conflicts: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    solve_seconds: float = 0.0        # Session.solve: resolve, chains, independent check
    view_seconds: float = 0.0         # results tables, indicators, findings
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.view is not None


class LRU:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class SharedModel:
    def __init__(self, data=None, engines: int = 2, view_cache: int = 64):
        start = time.perf_counter()
        self.data = as_dataset(data)
        self.engines = engines
        self._pool: queue.Queue[Session] = queue.Queue()
        for _ in range(engines):
            self._pool.put(Session(self.data))
        self._baselines: dict[str, Any] = {}
        self._baseline_lock = threading.Lock()
        self._views = LRU(view_cache)
        self.product_unit = dict(self.data.unit)
        regions = self.data.regions
        self.names = {r: str(n) for r, n in zip(regions["region"], regions["name"])}
        for horizon in HORIZONS:               # solved once, then only read
            self.baseline(horizon)
        self.startup_seconds = time.perf_counter() - start

    # ------------------------------------------------------------ engines
    @contextmanager
    def engine(self):
        """A Session for one solve; blocks until one is free."""
        session = self._pool.get()
        try:
            yield session
        finally:
            self._pool.put(session)

    def baseline(self, horizon: str):
        """The no-policy results of `horizon`, solved once; every table the views read is built
        here, before any request can share it."""
        with self._baseline_lock:
            if horizon not in self._baselines:
                with self.engine() as session:
                    base = session.solve(Scenario(name="baseline" if horizon == "medium_run" else f"baseline_{horizon}",
                                                  horizon=horizon))
                for table in ("markets", "welfare", "prices", "flows", "floors", "route_detail", "supply_detail", "refining_detail",
                              "reserve_detail"):
                    getattr(base, table)
                base.welfare_by("region")
                bloc_dependency(base, list(self.data.groups.get("ministerial2026", ())))   # builds its flow caches
                self._baselines[horizon] = base
            return self._baselines[horizon]

    # ------------------------------------------------------------ designs
    def scenario_key(self, design: Design) -> str:
        content, _ = design.scenario(self.product_unit)
        for key in ("name", "title", "description"):      # naming a design changes none of its numbers
            content.pop(key, None)
        return json.dumps(content, sort_keys=True, default=str)

    def cached(self, design: Design) -> View | None:
        return self._views.get(self.scenario_key(design))

    def evaluate(self, design: Design) -> Outcome:
        start = time.perf_counter()
        content, fmap = design.scenario(self.product_unit)
        key = self.scenario_key(design)
        view = self._views.get(key)
        if view is not None:
            return Outcome(design, view=view, seconds=time.perf_counter() - start, cached=True)
        try:
            scenario = scenario_from_dict(content, source="design")
            with self.engine() as session:
                solving = time.perf_counter()
                results = session.solve(scenario)          # resolves the scenario (policy.resolve) as the CLI does
                solved = time.perf_counter()
            baseline = self.baseline(scenario.horizon)
            view = design_view(results, baseline, title=design.title)
            viewed = time.perf_counter()
        except InputError as exc:
            problems = [{"field": field_of(p.field, fmap), "key": p.field, "message": p.message + (f" ({p.hint})" if p.hint else ""),
                         "text": str(p)} for p in exc.problems]
            return Outcome(design, problems=problems, seconds=time.perf_counter() - start)
        except InfeasibleError as exc:
            return Outcome(design, infeasible=str(exc), conflicts=list(exc.conflicts), seconds=time.perf_counter() - start)
        except EquilibriumCheckError as exc:
            return Outcome(design, error=f"the solution failed the equilibrium check: {exc}", seconds=time.perf_counter() - start)
        self._views.put(key, view)
        return Outcome(design, view=view, seconds=time.perf_counter() - start, solve_seconds=solved - solving,
                       view_seconds=viewed - solved)

    def scenario(self, design: Design) -> Scenario:
        content, _ = design.scenario(self.product_unit)
        return scenario_from_dict(content, source="design")

    def report(self, designs: list[tuple[str, Design]], folder: Path, title: str) -> str | None:
        """The comparison report (HTML and XLSX) of `designs` [(name, design)] in `folder`,
        against the no-policy baseline of their horizon. Designs of both horizons share the
        medium-run baseline: the returned note says so (None otherwise)."""
        from ..compare import BASELINE, Collection
        from ..report import write_report

        scenarios = []
        for name, design in designs:
            content, _ = design.scenario(self.product_unit)
            content["name"] = name
            scenarios.append(scenario_from_dict(content, source=name))
        horizons = {s.horizon for s in scenarios}
        horizon = next(iter(horizons)) if len(horizons) == 1 else "medium_run"
        results = {BASELINE: self.baseline(horizon)}
        with self.engine() as session:
            for scenario in scenarios:
                results[scenario.name] = session.solve(scenario)
        write_report(Collection(results, BASELINE, self.data), folder, title=title)
        if len(horizons) > 1:
            return ("These designs mix the short and the medium run; every change in this report is against the "
                    "no-policy medium run, so the short-run designs' changes include the horizon's own effect.")
        return None
