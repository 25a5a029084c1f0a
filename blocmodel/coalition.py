"""Members' gains and coalitions of a bloc design: each member's welfare change, whether it
gains from joining, its Shapley value of the bloc's welfare gain, and side payments.

    >>> game = CoalitionGame("data/scenarios/full_bloc.toml")
    >>> tables = coalition_analysis(game, permutations=200, seed=1)
    >>> tables["shapley"], tables["members"], tables["side_payments"]

**Players** are the units that can join: a region, or a whole customs union (a member
brings its union, `policy.py`), named by the union (`EU`).

**The game.** v(S) is the total welfare change, against no policy, of the regions of S
when the bloc's members are S and the rest of the design is unchanged (its floors and
common external tariff then apply to S). v(∅) = 0: a bloc of nobody is the no-policy
world. v(N) is the bloc's total gain under the design.

**Shapley values** φ_i = E[v(P_i ∪ {i}) − v(P_i)] over uniformly random orders, P_i the
players before i. They are estimated by sampling orders (seeded): each order's marginal
contributions telescope to v(N) − v(∅), so the estimates sum to the bloc's total gain
exactly (to rounding), whatever the sample. Each φ_i carries its standard error
s_i/√m (s_i the standard deviation of i's m sampled marginal contributions) and a 95%
interval φ_i ± 1.96·SE. `exact_shapley` enumerates all 2^n coalitions for small games.

**Side payments** (transfers summing to zero, so the bloc total is kept):
- `transfer_shapley` = φ_i − Δw_i: after it every member has its Shapley value; every
  member gains if every φ_i > 0;
- `transfer_no_loser`: the least total transfer after which no member is worse off than
  without the bloc: each loser gets its loss back, gainers pay in proportion to their
  gains (possible when v(N) ≥ 0);
- `transfer_to_join`: the same against each member's outside option (its welfare change
  when the others form the bloc without it), so every member prefers joining.

Coalitions are solved by `evaluate_scenarios`, one function from a list of scenarios to
welfare changes: serially on a `Session`, or, given a Dask client (`blocmodel coalition
--workers N` or `--scheduler ADDRESS`), on its workers through the batch machinery, in
chunks of neighbouring coalitions (each order's prefixes differ by one player, so they
re-solve from each other); v(S) is cached by frozenset of players. A solve that fails from a warm start is solved
once more from a cold one (`optimize.solve_with_retry`, through `Session.solve(retries=...)`);
the summary counts them.

Regions with no published data (regions.csv `data_status = "no data"`) are players like
any other (a member's payments under a `gdp` burden-sharing rule can fall on them), but
their own welfare figures are not findings: the tables mark them (`data` = "no data") and
leave their welfare columns empty, and the counts of members gaining or losing leave them
out.
Cost: one solve per distinct coalition, about n·m for n players and m orders once n is
large (the full ministerial bloc, 43 players × 200 orders: 8,047 solves).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from .api import Session, as_scenario
from .dataset import Dataset
from .errors import InputError, Problem
from .optimize import solve_with_retry
from .policy import resolve
from .results import NO_CHANGE, Results
from .scenario import Scenario, scenario_from_dict

Z95 = 1.96


def players_of(data: Dataset, members: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The bloc's joinable units: customs unions as one player, other regions alone."""
    out: dict[str, list[str]] = {}
    for region in sorted(members):
        union = data.customs_union_of.get(region)
        out.setdefault(union or region, []).append(region)
    return {name: tuple(regions) for name, regions in out.items()}


def coalition_scenarios(design: Scenario, coalitions: list[list[str]]) -> list[Scenario]:
    """The design with its bloc's members replaced by each coalition's regions."""
    tree = design.model_dump(exclude={"optimize"})
    out = []
    for regions in coalitions:
        tree["bloc"] = {**(tree.get("bloc") or {}), "members": sorted(regions)}
        tree["name"] = f"{design.name}[{len(regions)} regions]"
        out.append(scenario_from_dict(tree, source=design.name))
    return out


def evaluate_scenarios(scenarios: list[Scenario], session: Session, baseline: Results, client=None,
                       counter: dict | None = None) -> list[pd.Series]:
    """Welfare change (total, by region, against `baseline`) of each scenario, each an exact,
    checked equilibrium: serially on `session`, or with a Dask `client` on its workers
    through the batch machinery (`batch.solve_scenarios`); a scenario that fails there is
    solved again here. `counter["retried"]` counts solves retried from a cold start."""
    def change(scenario: Scenario) -> pd.Series:
        return solve_with_retry(session, scenario, counter).welfare_change(baseline).set_index("region")["total"]

    if client is None:
        return [change(s) for s in scenarios]
    from .batch import solve_scenarios

    regions = pd.Index(session.data.region_codes, name="region")
    trees = [s.model_dump(exclude={"optimize"}, exclude_defaults=True) for s in scenarios]
    out = []
    for scenario, record in zip(scenarios, solve_scenarios(client, session.data, trees, ["members"])):
        if record["status"] == "optimal":
            values = pd.Series({region: value for _, region, _, _, value in record["rows"]}, name="total")
            out.append(values.reindex(regions))
        else:
            if counter is not None:
                counter["retried"] = counter.get("retried", 0) + 1
            out.append(change(scenario))
    return out


class CoalitionGame:
    """v(S) for a bloc design, solved on demand and cached by frozenset of players."""

    def __init__(self, design: Scenario | str | Path | dict, data: Dataset | str | Path | None = None,
                 session: Session | None = None, baseline: Results | None = None, client=None):
        self.design = as_scenario(design)
        self.client = client     # a dask.distributed Client: coalitions are solved on its workers
        self.session = session or Session(data)
        self.counter: dict[str, int] = {"retried": 0}
        self.baseline = baseline if baseline is not None else solve_with_retry(self.session, self.design.baseline_scenario(),
                                                                               self.counter)
        members = resolve(self.session.data, self.design, source=self.design.name).members
        if not members:
            raise InputError([Problem(self.design.name, "the design has no [bloc] members to form coalitions of", field="bloc.members")])
        self.players = players_of(self.session.data, members)
        self.no_data = set(self.session.data.no_data_regions)
        self.changes: dict[frozenset[str], pd.Series] = {frozenset(): self.baseline.welfare.set_index("region")["total"] * 0.0}
        self.solves = 0
        self.seconds = 0.0

    @property
    def grand(self) -> frozenset[str]:
        return frozenset(self.players)

    def regions(self, coalition: Iterable[str]) -> list[str]:
        return [r for p in coalition for r in self.players[p]]

    def solve(self, coalitions: Iterable[frozenset[str]]) -> None:
        """Solve every coalition not yet known, in one call of `evaluate_scenarios`."""
        todo = list(dict.fromkeys(c for c in coalitions if c not in self.changes))
        if not todo:
            return
        start = time.perf_counter()
        scenarios = coalition_scenarios(self.design, [self.regions(c) for c in todo])
        for coalition, change in zip(todo, evaluate_scenarios(scenarios, self.session, self.baseline, self.client, self.counter)):
            self.changes[coalition] = change
        self.solves += len(todo)
        self.seconds += time.perf_counter() - start

    def change(self, coalition: frozenset[str]) -> pd.Series:
        """Every region's welfare change when `coalition` is the bloc (index 'region')."""
        self.solve([coalition])
        return self.changes[coalition]

    def value(self, coalition: frozenset[str]) -> float:
        """v(S): the summed welfare change of the coalition's regions."""
        if not coalition:
            return 0.0
        return float(self.change(coalition).loc[self.regions(coalition)].sum())


def shapley(game: CoalitionGame, permutations: int = 200, seed: int = 0, chunk: int = 25) -> pd.DataFrame:
    """Permutation-sampling Shapley values with standard errors and 95% intervals."""
    names = sorted(game.players)
    rng = np.random.default_rng(seed)
    orders = [[names[k] for k in rng.permutation(len(names))] for _ in range(permutations)]
    marginals = {p: [] for p in names}
    for start in range(0, len(orders), chunk):
        batch = orders[start:start + chunk]
        game.solve(frozenset(order[:k]) for order in batch for k in range(1, len(order) + 1))
        for order in batch:
            before, value = frozenset(), 0.0
            for player in order:
                after = before | {player}
                next_value = game.value(after)
                marginals[player].append(next_value - value)
                before, value = after, next_value
    rows = []
    for p in names:
        sample = np.array(marginals[p])
        se = float(sample.std(ddof=1) / math.sqrt(len(sample))) if len(sample) > 1 else math.nan
        mean = float(sample.mean())
        rows.append({"player": p, "regions": " ".join(game.players[p]), "data": _data_status(game, game.players[p]),
                     "shapley": mean, "standard_error": se,
                     "ci95_low": mean - Z95 * se, "ci95_high": mean + Z95 * se, "permutations": len(sample)})
    return pd.DataFrame(rows)


def exact_shapley(game: CoalitionGame) -> pd.Series:
    """Shapley values by enumerating every coalition (2^n solves: small games only)."""
    names = sorted(game.players)
    n = len(names)
    if n > 14:
        raise ValueError(f"{n} players: 2^{n} coalitions is too many to enumerate; use shapley()")
    subsets = [frozenset(c) for k in range(n + 1) for c in itertools.combinations(names, k)]
    game.solve(subsets)
    out = {}
    for p in names:
        others = [q for q in names if q != p]
        total = 0.0
        for k in range(n):
            weight = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for c in itertools.combinations(others, k):
                s = frozenset(c)
                total += weight * (game.value(s | {p}) - game.value(s))
        out[p] = total
    return pd.Series(out, name="shapley")


def member_gains(game: CoalitionGame) -> pd.DataFrame:
    """Each player's welfare change in the bloc, outside it (the others' bloc) and from joining."""
    grand = game.grand
    game.solve([grand] + [grand - {p} for p in grand])
    inside = game.change(grand)
    rows = []
    for p in sorted(grand):
        regions = list(game.players[p])
        outside = float(game.change(grand - {p}).loc[regions].sum()) if len(grand) > 1 else 0.0
        here = float(inside.loc[regions].sum())
        rows.append({"player": p, "regions": " ".join(regions), "data": _data_status(game, regions),
                     "welfare_change": here, "welfare_change_outside": outside,
                     "gain_from_joining": here - outside, "gains": here > NO_CHANGE,
                     "gains_from_joining": here - outside > NO_CHANGE})
    return pd.DataFrame(rows)


def _data_status(game: CoalitionGame, regions) -> str:
    """'no data' when none of a player's regions has published data, 'partial' when some lack it."""
    missing = [r for r in regions if r in game.no_data]
    return "no data" if len(missing) == len(regions) else ("partial: no data for " + " ".join(missing) if missing else "published")


def minimal_transfers(gains: pd.Series) -> pd.Series:
    """The least total transfer that leaves no one below zero: each negative gain is paid
    back, positive gains pay in proportion to their size. NaN when the total is negative."""
    losses = -gains.clip(upper=0.0)
    positive = gains.clip(lower=0.0)
    if positive.sum() < losses.sum():
        return gains * math.nan
    if losses.sum() == 0:
        return gains * 0.0
    return losses - positive / positive.sum() * losses.sum()


def side_payments(members: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    frame = members.set_index("player")[["data", "welfare_change", "gain_from_joining"]].join(values.set_index("player")["shapley"])
    frame["transfer_shapley"] = frame["shapley"] - frame["welfare_change"]
    frame["transfer_no_loser"] = minimal_transfers(frame["welfare_change"])
    frame["transfer_to_join"] = minimal_transfers(frame["gain_from_joining"])
    frame["after_shapley"] = frame["welfare_change"] + frame["transfer_shapley"]
    frame["after_no_loser"] = frame["welfare_change"] + frame["transfer_no_loser"]
    return frame.reset_index()


def coalition_analysis(game: CoalitionGame, permutations: int = 200, seed: int = 0) -> dict:
    """Members' gains, Shapley values and side payments of a design, with a summary. Players
    without published data keep their values in the computation but show them empty."""
    start = time.perf_counter()
    members = member_gains(game)
    values = shapley(game, permutations, seed)
    total = game.value(game.grand)
    modelled = members["data"] != "no data"
    summary = {
        "design": game.design.name, "players": len(game.players), "regions": sum(map(len, game.players.values())),
        "bloc_welfare_change": total, "shapley_sum": float(values["shapley"].sum()),
        "shapley_sum_error": float(values["shapley"].sum() - total), "permutations": permutations, "seed": seed,
        "confidence": "95% (±1.96 standard errors of the permutation mean)",
        "coalitions_solved": game.solves, "solve_seconds": round(game.seconds, 2),
        "solves_retried_cold": game.counter.get("retried", 0),
        "seconds": round(time.perf_counter() - start, 2),
        "members_gaining": int(members.loc[modelled, "gains"].sum()),
        "members_gaining_from_joining": int(members.loc[modelled, "gains_from_joining"].sum()),
        "players_without_data": sorted(members.loc[~modelled, "player"]),
    }
    pay = side_payments(members, values)
    return {"members": _blank_no_data(members), "shapley": _blank_no_data(values), "side_payments": _blank_no_data(pay),
            "summary": summary}


def _blank_no_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Welfare figures of players without published data left empty: a zero would read as a finding."""
    frame = frame.copy()
    none = frame["data"] == "no data"
    if none.any():
        for column in frame.columns:
            if column in ("player", "regions", "data"):
                continue
            if pd.api.types.is_bool_dtype(frame[column]):
                frame[column] = frame[column].astype(object)
                frame.loc[none, column] = None
            elif pd.api.types.is_numeric_dtype(frame[column]):
                frame[column] = frame[column].astype(float)
                frame.loc[none, column] = np.nan
    return frame
