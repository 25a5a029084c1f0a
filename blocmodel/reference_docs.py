"""`docs/reference.md`, generated from the declarations: the dataset's tables (`schema.TABLES`),
the scenario's keys (each instrument family's schema, `instruments/`), and the output
tables (`schema.OUTPUTS`).

    python -m blocmodel.reference_docs          # rewrite docs/reference.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic import BaseModel

TARGET = Path(__file__).resolve().parent.parent / "docs" / "reference.md"


def _type(annotation) -> str:
    text = str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
    text = re.sub(r"Annotated\[list\[str\], BeforeValidator\(.*?\)\]", "list[str] (or one name)", text)
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    text = re.sub(r"Annotated\[float \| str, FieldInfo\(.*?\)\]", "price (number or 'N USD/kg')", text)
    for long, short in (("blocmodel.instruments.", ""), ("NoneType", "none"), ("Annotated[float | str, FieldInfo(annotation=NoneType, required=True, union_mode='left_to_right')]", "price")):
        text = text.replace(long, short)
    return text.replace("|", "or")


def _model_rows(model: type[BaseModel]) -> list[str]:
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        default = "required" if field.is_required() else ("[]" if field.default_factory is list else repr(field.default)
                                                           if field.default_factory is None else "see description")
        rows.append(f"| `{name}` | {_type(field.annotation)} | {default} | {field.description or ''} |")
    return rows


def _entry_model(annotation):
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        for inner in getattr(candidate, "__args__", ()):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def reference_markdown() -> str:
    from .instruments import REGISTRY
    from .scenario import Scenario, _ScenarioBase
    from .schema import OUTPUTS, TABLES

    lines = ["# blocmodel reference", "",
             "Generated from the declarations by `python -m blocmodel.reference_docs`; a test checks it is current.", "",
             "## Dataset (a folder of CSV files)", "",
             "Every row carries a `source` (a citation, or `assumption: why`). A curve is "
             "`Q = ref_quantity * (1 + elasticity * (P - ref_price) / ref_price)`, cut at Q >= 0.", ""]
    for table in TABLES.values():
        lines += [f"### `{table.file}`{'' if table.required else ' (optional)'}", "", "| column | required | description |", "|---|---|---|"]
        for name, f in table.row.model_fields.items():
            lines.append(f"| `{f.alias or name}` | {'yes' if f.is_required() else 'no'} | {f.description or ''} |")
        lines.append("")
    lines += ["## Scenario (a TOML file; every key optional, unknown keys are errors)", "",
              "### Top-level keys", ""]
    lines += [row for row in _model_rows(_ScenarioBase) if "`_" not in row]
    lines.append("")
    for family in REGISTRY:
        lines += [f"### {family.name}", "", (family.doc or "").strip(), ""]
        for key, (annotation, field) in family.fields.items():
            model = _entry_model(annotation)
            kind = "table" if key in family.tables else "array of tables"
            lines += [f"#### `{key}` ({kind})", "", field.description or "", ""]
            if model is not None:
                lines += _model_rows(model) + [""]
            if key in family.examples:
                lines += ["```toml", family.examples[key], "```", ""]
    lines += ["## Outputs (`blocmodel solve --out DIR`)", "",
              "Units: `unit` is the product's unit (products.csv), prices in USD per unit, flows per year.", ""]
    for output in OUTPUTS.values():
        lines += [f"### `{output.name}.csv`", "", f"One row {output.row}.", "", "| column | unit | meaning |", "|---|---|---|"]
        lines += [f"| `{c.name}` | {c.unit} | {c.meaning} |" for c in output.columns]
        lines.append("")
    del Scenario
    return "\n".join(lines).rstrip() + "\n"


def write(path: Path = TARGET) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reference_markdown())
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET))
