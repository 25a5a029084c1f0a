"""The dataset contract (DESIGN.md §3), declared once.

Each CSV table is a frozen pydantic model of one row: its fields carry type, unit,
bounds and a description. Loading, validation messages and the reference docs
(`schema_markdown`) all come from these declarations.
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
    region: str = Field(min_length=1)
    product: str = Field(min_length=1)
    ref_price: float = Field(gt=0, description="Reference price, USD per unit.")
    ref_quantity: float = Field(gt=0, description="Quantity supplied at the reference price, units per year.")
    elasticity: float = Field(ge=0, description="Point price elasticity of supply at the reference point (>= 0).")
    capacity: float | None = Field(None, ge=0, description="Most that can be produced within the year, units per year (blank: none); binds in the short run.")


class DemandRow(_Row):
    region: str = Field(min_length=1)
    product: str = Field(min_length=1)
    ref_price: float = Field(gt=0, description="Reference price, USD per unit.")
    ref_quantity: float = Field(gt=0, description="Quantity demanded at the reference price, units per year.")
    elasticity: float = Field(lt=0, description="Point price elasticity of demand at the reference point (< 0).")


class RouteRow(_Row):
    origin: str = Field(min_length=1)
    destination: str = Field(min_length=1)
    product: str = Field(min_length=1)
    transport_cost: float = Field(ge=0, description="USD per unit shipped.")
    tariff_ad_valorem: float = Field(0.0, gt=-1, description="Importer's MFN ad valorem tariff as a fraction of the customs (CIF) value.")
    tariff_specific: float = Field(0.0, ge=0, description="Importer's MFN specific tariff, USD per unit.")
    capacity: float | None = Field(None, ge=0, description="Maximum flow, units per year (blank: none).")
    ref_quantity: float | None = Field(None, ge=0, description="Observed flow in the reference year, units per year (blank: no trade observed). Where a product has observed flows, trade costs are calibrated so that the no-policy equilibrium reproduces them.")
    ref_value: float | None = Field(None, ge=0, description="Observed value of that flow, USD (for the calibration report; blank if unknown).")


class ProcessingRow(_Row):
    region: str = Field(min_length=1)
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


def schema_markdown() -> str:
    """Reference docs of the dataset contract, generated from the declarations above."""
    lines = []
    for table in TABLES.values():
        lines.append(f"### `{table.file}`{'' if table.required else ' (optional)'}\n")
        lines.append("| column | required | description |")
        lines.append("|---|---|---|")
        for name, f in table.row.model_fields.items():
            lines.append(f"| `{f.alias or name}` | {'yes' if f.is_required() else 'no'} | {f.description or ''} |")
        lines.append("")
    return "\n".join(lines)
