"""The equilibrium problem as typed arrays: what a dataset under a policy comes to.

`policy.resolve` fills a `Market` (every supply, demand, refining row and every route of
the dataset, plus the home routes, with the levers the scenario's instruments set);
`chain_problem` cuts it into independent mineral chains (products linked by refining).

Nodes. Goods keep their origin: each (region, product) has up to two nodes, a
*producers'* node (its mines, secondary supply and refinery output of the product, at the
producers' price) and a *buyers'* node (its final demand and refinery input, at the
buyers' price). Routes run from producers' nodes to buyers' nodes, the region's own
market included (the home route); nothing is re-exported.

Fields marked `structure` fix the shape of the solver's system (which nodes, rows and
unknowns exist); the others are levers a re-solve may change. `same_structure` and
`same_levers` are derived from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache

import numpy as np

from .pricing import RouteTerms, same_values

PRODUCER, BUYER = 0, 1


def _structure():
    return field(metadata={"structure": True})


@dataclass
class SupplyTable:
    """Supply rows (aligned with the dataset's supply.csv): Q = intercept + slope · received
    price, cut at 0 and capacity; received price = max(floor, market price) + subsidy."""

    region: np.ndarray
    product: np.ndarray
    intercept: np.ndarray
    slope: np.ndarray
    capacity: np.ndarray            # inf: none (in the medium run dataset capacities do not bind)
    subsidy: np.ndarray             # production subsidy per unit (treasury of the region)
    floor: np.ndarray               # deficiency-payment floor (−inf: none)
    floor_id: np.ndarray            # which scenario floor pays it (−1: none)


@dataclass
class DemandTable:
    """Demand rows: Q = max(0, intercept + slope · buyers' price), slope <= 0."""

    region: np.ndarray
    product: np.ndarray
    intercept: np.ndarray
    slope: np.ndarray


@dataclass
class RefiningTable:
    """Refineries: output z = intercept + slope · margin (cut at 0 and capacity), margin =
    received output price − input price / yield; a refinery without a curve refines at a
    constant `unit_cost` up to capacity (`constant_cost`)."""

    region: np.ndarray
    input: np.ndarray
    output: np.ndarray
    yield_: np.ndarray
    intercept: np.ndarray
    slope: np.ndarray
    constant_cost: np.ndarray       # bool
    unit_cost: np.ndarray           # the constant unit cost (constant-cost refineries)
    capacity: np.ndarray
    subsidy: np.ndarray
    floor: np.ndarray
    floor_id: np.ndarray


@dataclass
class RouteTable:
    """Every route of the dataset plus one home route per region that both makes and uses a
    product. Unit trade cost c + a + g·x (transport c, calibrated intercept a and
    curvature g; g = 0 is the classic constant cost) plus the charges in `terms`."""

    origin: np.ndarray
    destination: np.ndarray
    product: np.ndarray
    home: np.ndarray                # bool
    dataset_row: np.ndarray         # row of routes.csv (−1 for home routes)
    intercept: np.ndarray           # a, USD per unit
    curvature: np.ndarray           # g, USD per unit per unit of flow
    capacity: np.ndarray
    observed: np.ndarray            # 2024 flow the calibration reproduces (nan: none observed)
    terms: RouteTerms

    def __len__(self) -> int:
        return len(self.origin)


@dataclass
class Coupling:
    """A limit on the total flow over a set of routes, held by a licence price (the quota
    rent). `cap_specific`/`cap_rate` (per route) bound what a licence is worth: importing
    outside the quota costs that much more (tariff-rate quota); inf for a plain quota."""

    routes: np.ndarray              # positions in the Market's route table
    limit: float
    cap_specific: np.ndarray
    cap_rate: np.ndarray            # on the customs (CIF) value
    rent_to: str                    # "exporter" or "importer"
    kind: str                       # the instrument that made it (scenario key)
    label: str
    product: str


@dataclass
class Reserve:
    """A reserve that buys, at the producers' price, from producers in `origins` whatever
    holds that price at `floor`, spending at most `budget` a year (inf: no limit)."""

    floor_id: int
    product: str
    floor: float
    budget: float
    origins: tuple[str, ...]        # regions whose producers it buys from
    payers: dict[str, float]        # region -> share of the cost
    label: str


def _copy_table(table):
    """A copy of a table whose levers a scenario may change; its name columns (object
    arrays: regions, products) are shared, and read-only (`freeze_names`)."""
    return type(table)(**{f.name: _copy_column(getattr(table, f.name)) for f in fields(table)})


def _copy_column(column):
    return column if isinstance(column, np.ndarray) and column.dtype == object else column.copy()


def freeze_names(table) -> None:
    """Make a table's name columns read-only: every copy shares them (see `_copy_table`)."""
    for f in fields(table):
        column = getattr(table, f.name)
        if isinstance(column, np.ndarray) and column.dtype == object:
            column.flags.writeable = False


@dataclass
class Market:
    """The whole dataset under one policy."""

    supply: SupplyTable
    demand: DemandTable
    refining: RefiningTable
    routes: RouteTable
    couplings: list[Coupling] = field(default_factory=list)
    reserves: list[Reserve] = field(default_factory=list)
    purchases: dict[tuple[str, str], float] = field(default_factory=dict)    # (region, product) -> fixed purchase (+) at buyers' node
    releases: dict[tuple[str, str], float] = field(default_factory=dict)     # (region, product) -> release at producers' node
    closures: dict[int, str] = field(default_factory=dict)    # route position -> the instrument that closed it
    purchase_keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (region, product) -> scenario key of the purchase

    def copy(self) -> Market:
        """A copy a scenario may change (its arrays copied; name columns shared read-only)."""
        return Market(supply=_copy_table(self.supply), demand=_copy_table(self.demand), refining=_copy_table(self.refining),
                      routes=_copy_table(self.routes),
                      couplings=list(self.couplings), reserves=list(self.reserves), purchases=dict(self.purchases),
                      releases=dict(self.releases), closures=dict(self.closures), purchase_keys=dict(self.purchase_keys))


def changed_products(old: Market, new: Market) -> set[str] | None:
    """The products whose rows or instruments differ between two markets of one dataset
    (values compared exactly, NaN equal to NaN); None when they cannot be compared row by
    row (different lengths, or a field this does not know). A chain none of whose products
    is named builds the same `ChainProblem` from both markets (`chain_problem` reads only
    its own rows and the instruments on its products), so a re-solve can skip it."""
    touched: set[str] = set()
    for f in fields(Market):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if f.name in ("supply", "demand", "routes"):
            rows = _changed_rows(a, b)
            if rows is None:
                return None
            touched.update(a.product[rows].tolist() + b.product[rows].tolist())
        elif f.name == "refining":
            rows = _changed_rows(a, b)
            if rows is None:
                return None
            touched.update(a.input[rows].tolist() + a.output[rows].tolist() + b.input[rows].tolist() + b.output[rows].tolist())
        elif f.name in ("couplings", "reserves"):
            touched.update(_changed_items(a, b))
        elif f.name in ("purchases", "releases", "purchase_keys"):
            touched.update(product for _, product in a.keys() ^ b.keys())
            touched.update(key[1] for key in a.keys() & b.keys() if a[key] != b[key])
        elif f.name == "closures":
            routes = list(a.keys() ^ b.keys()) + [k for k in a.keys() & b.keys() if a[k] != b[k]]
            touched.update(new.routes.product[np.asarray(routes, dtype=int)].tolist())
        else:
            return None
    return touched


def _changed_rows(a, b) -> np.ndarray | None:
    """Rows of two tables (or RouteTerms) of one length that differ in any field."""
    changed = None
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, RouteTerms):
            diff = _changed_rows(x, y)
            if diff is None:
                return None
        elif x.shape != y.shape:
            return None
        elif same_values(x, y):     # the usual case: shared (names) or the same bytes
            continue
        elif x.dtype.kind == "f":
            diff = (x != y) & ~(np.isnan(x) & np.isnan(y))
        else:
            diff = x != y
        changed = diff if changed is None else changed | diff
    return changed if changed is not None else np.zeros(len(getattr(a, fields(a)[0].name)), dtype=bool)


def _changed_items(old: list, new: list) -> set[str]:
    """Products of couplings (or reserves) from the first position where the two lists
    differ on: a chain filters the list by its products, so one whose products are all
    before that position sees the same items in the same order."""
    same = 0
    while same < min(len(old), len(new)) and _same_item(old[same], new[same]):
        same += 1
    return {x.product for x in old[same:] + new[same:]}


def _same_item(x, y) -> bool:
    return x is y or all(_equal(getattr(x, f.name), getattr(y, f.name)) for f in fields(x))


# --------------------------------------------------------------------------- chains
@dataclass(eq=False)
class ChainLayout:
    """What a chain's system looks like whatever the levers: nodes and which rows of the
    Market's tables belong to it. Built once per dataset."""

    products: tuple[str, ...]
    node_region: np.ndarray
    node_product: np.ndarray
    node_side: np.ndarray
    node_of: dict
    price_scale: np.ndarray         # per node: its product's reference price, USD per unit
    quantity_scale: np.ndarray      # per node: its product's world market, units
    supply_rows: np.ndarray
    supply_node: np.ndarray
    demand_rows: np.ndarray
    demand_node: np.ndarray
    refining_rows: np.ndarray
    refining_input_node: np.ndarray
    refining_output_node: np.ndarray
    route_rows: np.ndarray
    route_origin_node: np.ndarray
    route_destination_node: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.node_region)

    def node(self, region: str, product: str, side: int) -> int | None:
        return self.node_of.get((region, product, side))


@dataclass(eq=False, kw_only=True)
class ChainProblem:
    """One chain under one policy: the layout and every lever, aligned with its rows."""

    layout: ChainLayout = _structure()
    # supply
    supply_intercept: np.ndarray
    supply_slope: np.ndarray
    supply_capacity: np.ndarray
    supply_subsidy: np.ndarray
    supply_floor: np.ndarray
    # demand
    demand_intercept: np.ndarray
    demand_slope: np.ndarray
    # refining
    refining_yield: np.ndarray
    refining_intercept: np.ndarray
    refining_slope: np.ndarray
    refining_constant_cost: np.ndarray = _structure()
    refining_unit_cost: np.ndarray
    refining_capacity: np.ndarray
    refining_subsidy: np.ndarray
    refining_floor: np.ndarray
    # routes
    route_intercept: np.ndarray
    route_curvature: np.ndarray = _structure()      # g = 0 routes are complementarity unknowns
    route_capacity: np.ndarray
    route_terms: RouteTerms
    # instruments that add unknowns
    coupling_routes: tuple = _structure()                  # per coupling: positions in the chain's routes
    coupling_limit: np.ndarray
    coupling_cap_specific: tuple                  # per coupling: array over its routes
    coupling_cap_rate: tuple
    reserve_nodes: tuple = _structure()                     # per reserve: producers' nodes it buys from
    reserve_budgeted: tuple = _structure()                  # per reserve: has a finite budget
    reserve_floor: np.ndarray
    reserve_budget: np.ndarray
    fixed_use: np.ndarray                       # per node: fixed purchase (+) or release (−)
    labels: dict = field(default_factory=dict)  # for explanations: closed routes, purchases' scenario keys

    @property
    def n_couplings(self) -> int:
        return len(self.coupling_routes)

    @property
    def n_reserves(self) -> int:
        return len(self.reserve_nodes)

    def same_structure(self, other: ChainProblem) -> bool:
        """Whether `other` fits the same system: same layout and same structural fields."""
        structure, _ = _field_names()
        return self.layout is other.layout and all(_equal(getattr(self, name), getattr(other, name)) for name in structure)

    def same_levers(self, other: ChainProblem) -> bool:
        """Whether every lever is identical too (then so is the equilibrium)."""
        _, levers = _field_names()
        return self.same_structure(other) and all(_equal(getattr(self, name), getattr(other, name)) for name in levers)


@cache
def _field_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """ChainProblem's structural fields (but its layout, compared by identity) and its levers."""
    structure = tuple(f.name for f in fields(ChainProblem) if f.metadata.get("structure") and f.name != "layout")
    levers = tuple(f.name for f in fields(ChainProblem) if not f.metadata.get("structure"))
    return structure, levers


def _equal(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, RouteTerms):
        return a.equals(b)
    if isinstance(a, np.ndarray):
        return same_values(a, b)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b
