"""The dataset contract (DESIGN.md §3), declared once.

Each CSV table is a frozen pydantic model of one row: its fields carry type, unit,
bounds and a description. Loading, validation messages and the reference docs
(`reference_docs.py`, docs/reference.md) all come from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False, populate_by_name=True)

    source: str = Field(min_length=1, description="Where the number comes from, or 'assumption: <why>'.")

    @field_validator("source")
    @classmethod
    def _source_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("every row needs a source (a citation, or 'assumption: <why>')")
        return value.strip()


class RegionRow(_Row):
    region: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+$", description="Region code (ISO 3166 alpha-3 for countries).")
    name: str = Field(min_length=1, description="Readable name.")
    customs_union: str | None = Field(None, description="Customs union the region belongs to (blank if none); members share external tariffs and trade freely.")
    groups: tuple[str, ...] = Field((), description="Group names separated by ';' (e.g. 'ministerial2026;msp').")
    latitude: float | None = Field(None, ge=-90, le=90, description="Degrees north, for transport distances and maps.")
    longitude: float | None = Field(None, ge=-180, le=180, description="Degrees east.")
    data_status: Literal["no data"] | None = Field(None, description="'no data' where no source publishes any activity of the region: results show it as no data, never as a finding of zero (blank otherwise).")
    gdp: float | None = Field(None, ge=0, description="GDP, USD bn (optional; used by burden_sharing = 'gdp').")

    @field_validator("groups", mode="before")
    @classmethod
    def _split_groups(cls, value):
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(g.strip() for g in value.split(";") if g.strip())
        return tuple(value)


class ProductRow(_Row):
    product: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+$", description="Product code, a mineral at a stage (e.g. 'ndpr_oxide').")
    mineral: str = Field(min_length=1, description="Mineral the product belongs to (e.g. 'rare_earths').")
    stage: Literal["mined", "refined"] = Field(description="'mined' (ore/concentrate, metal content) or 'refined'.")
    unit: str = Field(min_length=1, description="Unit of quantity; prices are USD per this unit. Its first word (t, kg, lb) is the mass unit that price units such as 'USD/kg' convert from.")
    substitution_elasticity: float | None = Field(None, gt=0, description="How readily buyers switch suppliers: a route's flow changes by about this many percent per 1% change in its delivered cost, other prices held (an Armington elasticity among sources). Sets the curvature of calibrated trade costs; required where routes.csv has observed flows of the product, ignored otherwise.")
    hs_code: str | None = Field(None, description="HS6 code(s) whose bilateral trade data give the observed flows (blank: flows from an assumption); the calibration report groups products by it.")


class SupplyRow(_Row):
    region: str = Field(min_length=1, description="Region whose producers (mines, secondary supply) it is.")
    product: str = Field(min_length=1, description="Product they make.")
    ref_price: float = Field(gt=0, description="Reference price, USD per unit.")
    ref_quantity: float = Field(gt=0, description="Quantity supplied at the reference price, units per year.")
    elasticity: float = Field(ge=0, description="Point price elasticity of supply at the reference point (>= 0).")
    capacity: float | None = Field(None, ge=0, description="Most that can be produced within the year, units per year (blank: none); binds in the short run.")


class DemandRow(_Row):
    region: str = Field(min_length=1, description="Region whose buyers it is.")
    product: str = Field(min_length=1, description="Product they use (refined products in the shipped data).")
    ref_price: float = Field(gt=0, description="Reference price, USD per unit.")
    ref_quantity: float = Field(gt=0, description="Quantity demanded at the reference price, units per year.")
    elasticity: float = Field(lt=0, description="Point price elasticity of demand at the reference point (< 0).")


class RouteRow(_Row):
    origin: str = Field(min_length=1, description="Region whose producers ship (goods keep their origin: only what it makes).")
    destination: str = Field(min_length=1, description="Region whose buyers receive (not the origin: a region serves its own market by its home route).")
    product: str = Field(min_length=1, description="Product shipped.")
    transport_cost: float = Field(ge=0, description="USD per unit shipped.")
    tariff_ad_valorem: float = Field(0.0, gt=-1, description="Importer's MFN ad valorem tariff as a fraction of the customs (CIF) value.")
    tariff_specific: float = Field(0.0, ge=0, description="Importer's MFN specific tariff, USD per unit.")
    capacity: float | None = Field(None, ge=0, description="Maximum flow, units per year (blank: none).")
    ref_quantity: float | None = Field(None, ge=0, description="Observed flow in the reference year, units per year (blank: no trade observed). Where a product has observed flows, trade costs are calibrated so that the no-policy equilibrium reproduces them.")
    ref_value: float | None = Field(None, ge=0, description="Observed value of that flow, USD (for the calibration report; blank if unknown).")


class ProcessingRow(_Row):
    region: str = Field(min_length=1, description="Region whose refineries it is.")
    input: str = Field(min_length=1, description="Mined product consumed.")
    output: str = Field(min_length=1, description="Refined product made.")
    yield_: float = Field(alias="yield", gt=0, description="Units of output per unit of input.")
    unit_cost: float = Field(ge=0, description="Refining cost, USD per unit of output (the marginal cost at ref_quantity when a curve is given).")
    capacity: float | None = Field(None, ge=0, description="Most that can be refined within the year, units of output per year (blank: none); binds in the short run.")
    ref_quantity: float | None = Field(None, gt=0, description="Extension: output at a margin equal to unit_cost; with elasticity, refiners follow a curve in the margin.")
    elasticity: float | None = Field(None, ge=0, description="Extension: elasticity of output with respect to the refining margin (output price − input price / yield).")


@dataclass(frozen=True)
class Table:
    """One CSV file of a dataset."""

    name: str
    row: type[_Row]
    key: tuple[str, ...]
    required: bool = True

    @property
    def file(self) -> str:
        return f"{self.name}.csv"

    @property
    def columns(self) -> list[str]:
        """Columns in contract order, `source` last."""
        names = [f.alias or name for name, f in self.row.model_fields.items()]
        return [n for n in names if n != "source"] + ["source"]

    @property
    def required_columns(self) -> list[str]:
        return [c for c in self.columns if self.row.model_fields[_field_name(self.row, c)].is_required()]


def _field_name(row: type[_Row], column: str) -> str:
    return next(name for name, f in row.model_fields.items() if (f.alias or name) == column)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("regions", RegionRow, ("region",)),
        Table("products", ProductRow, ("product",)),
        Table("supply", SupplyRow, ("region", "product")),
        Table("demand", DemandRow, ("region", "product")),
        Table("routes", RouteRow, ("origin", "destination", "product")),
        Table("processing", ProcessingRow, ("region", "input", "output"), required=False),
    )
}


# ------------------------------------------------------------------ outputs
@dataclass(frozen=True)
class Column:
    name: str
    unit: str
    meaning: str


@dataclass(frozen=True)
class Output:
    """One output table: what each row is, and its columns in order."""

    name: str
    row: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _cols(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


_WELFARE = _cols(
    ("region", "", "Region code."),
    ("consumer_surplus", "USD/yr", "Area under its demand curves above the buyers' price."),
    ("producer_surplus", "USD/yr", "Area above its supply curves below the price producers receive (market price + deficiency payment + subsidy), below capacity."),
    ("capacity_rent", "USD/yr", "What producers and refiners at capacity earn above their marginal cost (binding in the short run)."),
    ("refiner_rent", "USD/yr", "Refineries' surplus in the refining margin."),
    ("tariff_revenue", "USD/yr", "Border charges it collects as importer: tariffs, anti-dumping duties, levies, out-of-quota duties."),
    ("quota_rent", "USD/yr", "Value of the quota licences it holds (export quotas, tariff-rate quotas)."),
    ("trade_rent", "USD/yr", "Importers' rent on routes: ½·g·x² per calibrated route, plus flow × the price gap above its marginal cost on a route at capacity."),
    ("stockpile_value", "USD/yr", "Stock bought (+) or released (−) by its reserves, at the product's reference price times STOCK_VALUATION, in its share of the reserve."),
    ("fiscal_cost", "USD/yr", "What its treasury pays: deficiency payments and reserve purchases (its burden-sharing share), production and export subsidies, fixed stock purchases net of sales."),
    ("dumping_cost", "USD/yr", "Discount its exporters give below their home price (export-price discrimination)."),
    ("total", "USD/yr", "CS + PS + capacity rent + refiner rent + tariff revenue + quota rent + trade rent + stockpile value − fiscal cost − dumping cost. A level has no meaning of its own: compare two runs."),
    ("deficiency_payments", "USD/yr", "Part of fiscal_cost."),
    ("reserve_purchases", "USD/yr", "Part of fiscal_cost."),
    ("production_subsidies", "USD/yr", "Part of fiscal_cost."),
    ("export_subsidies", "USD/yr", "Part of fiscal_cost."),
    ("stockpile_spending", "USD/yr", "Part of fiscal_cost: fixed stock purchases less sales."),
)

OUTPUTS: dict[str, Output] = {o.name: o for o in (
    Output("prices", "one per region and product with a market", _cols(
        ("region", "", "Region code."), ("product", "", "Product code."),
        ("price", "USD/unit", "What buyers in the region pay; where the region buys none of the product, its producers' price."),
        ("producer_price", "USD/unit", "The producers' market price in the region (before any deficiency payment; blank where none produce)."))),
    Output("flows", "one per route that carries goods, the home route (origin = destination) included", _cols(
        ("origin", "", "Where the goods were made (goods keep their origin)."), ("destination", "", "Where they are used."),
        ("product", "", "Product code."), ("quantity", "unit/yr", "Flow."),
        ("home", "", "True for a region's own market."), ("transport_cost", "USD/unit", "Freight."),
        ("tariff", "USD/unit", "Tariff paid (ad valorem on the CIF value, plus specific)."),
        ("anti_dumping", "USD/unit", "Anti-dumping duty paid."), ("levy", "USD/unit", "Variable levy paid (floors)."),
        ("export_subsidy", "USD/unit", "Export subsidy received from the exporter's treasury."),
        ("dumping_discount", "USD/unit", "Discount of the export price below the exporter's home price."),
        ("quota_rent", "USD/unit", "Licence charge per unit under a quota or tariff-rate quota."),
        ("trade_cost", "USD/unit", "Calibrated marginal trade cost a + g·x (negative where established relations are worth a premium)."),
        ("exporter_price", "USD/unit", "Producers' price at origin."),
        ("landed_price", "USD/unit", "Exporter price − discount − subsidy + freight + tariff + duty + levy."),
        ("importer_price", "USD/unit", "Buyers' price at destination."))),
    Output("markets", "one per region and product with a market", _cols(
        ("region", "", "Region code."), ("product", "", "Product code."),
        ("supply", "unit/yr", "Production: mines, secondary supply and refinery output."),
        ("demand", "unit/yr", "Final demand."), ("price", "USD/unit", "Buyers' price (producers' where none buy)."),
        ("producer_price", "USD/unit", "What producers receive on average (with deficiency payments and subsidies)."),
        ("market_producer_price", "USD/unit", "Producers' market price."),
        ("processing_in", "unit/yr", "Refinery input of this (mined) product."), ("processing_out", "unit/yr", "Refinery output of this (refined) product."),
        ("imports", "unit/yr", "From other regions."), ("exports", "unit/yr", "To other regions."),
        ("home_flow", "unit/yr", "From its own producers to its own buyers."),
        ("stockpile", "unit/yr", "Fixed stockpile purchases (+) or releases (−) here."),
        ("stock_purchases", "unit/yr", "Bought from its producers by price-holding reserves (not use)."),
        ("use", "unit/yr", "Final demand + refinery input (what dependency is measured on; stock purchases excluded)."),
        ("production", "unit/yr", "Supply plus releases."),
        ("capacity", "unit/yr", "Dataset capacity of its mines and refineries (binds in the short run)."),
        ("capacity_rent", "USD/yr", "Capacity rent earned here."),
        ("disposed", "unit/yr", "Thrown away here at a price of 0, producers' and buyers' markets together (free disposal: "
                                "output with nowhere to go is not sold at a negative price)."))),
    Output("welfare", "one per region (levels; see welfare_change)", _WELFARE),
    Output("welfare_change", "one per region: this run minus the no-policy baseline of the same horizon", _WELFARE),
    Output("welfare_change_by_product", "one per product: this run minus the baseline", (Column("product", "", "Product code."),) + _WELFARE[1:]),
    Output("floors", "one per price floor and member market", _cols(
        ("floor", "", "The floor as written (scenario key, mechanism, level)."), ("product", "", "Product code."),
        ("mechanism", "", "variable_levy, deficiency_payment, stockpile or price_support."), ("market", "", "Member market."),
        ("floor_price", "USD/unit", "The floor."), ("buyers_price", "USD/unit", "What buyers there pay (blank if none buy)."),
        ("producers_price", "USD/unit", "What members' producers there get (blank if none produce)."),
        ("status", "", "binds, prohibitive, cannot bind, budget-limited, slack or no producers (instruments/floors.py)."),
        ("levy_status", "", "The status of the levy part (levy mechanisms)."),
        ("levy_collected", "USD/yr", "Levy revenue on imports into this market."),
        ("non_member_imports", "unit/yr", "Imports made outside the bloc."))),
    Output("indicators", "one per member region and product", _cols(
        ("region", "", "Member region."), ("product", "", "Product code."), ("use", "unit/yr", "Demand + refinery input."),
        ("production", "unit/yr", "Production."), ("self_sufficiency", "share", "Production / use."),
        ("non_member_share", "share", "Share of its supply made outside the bloc (stage origin)."),
        ("non_member_content_share", "share", "Share whose mined content came from outside the bloc."),
        ("focus_share", "share", "Share made in China."), ("focus_content_share", "share", "Share whose mined content came from China."),
        ("imports", "unit/yr", "Imports."), ("imports_from_non_members", "unit/yr", "Imports made outside the bloc."),
        ("import_hhi", "0–10,000", "Herfindahl index of import sources."),
        ("baseline_non_member_share", "share", "The same in the baseline (and each indicator's baseline_ twin)."))),
)}
