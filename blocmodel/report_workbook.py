"""The report's workbook: the same tables for people, units in headers, number formats,
frozen headers, filters, one design order on every sheet, scenario definitions as rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .compare import Collection
from .findings import product_name, region_name


def scenario_rows(name: str, scenario) -> list[tuple[str, str, str, str]]:
    """A scenario as readable rows: (design, key, value, source), one per field of each entry."""
    rows = []
    for key in ("title", "description", "reference", "baseline", "horizon"):
        value = getattr(scenario, key, None)
        if value:
            rows.append((name, key, " ".join(str(value).split()), ""))
    for item in scenario.not_modelled:
        rows.append((name, "not_modelled", item, ""))
    policy = scenario.model_dump(exclude={"name", "title", "description", "reference", "baseline", "not_modelled",
                                          "optimize", "horizon"}, exclude_defaults=True)
    for key, value in policy.items():
        entries = value if isinstance(value, list) else [value]
        for i, entry in enumerate(entries):
            where = f"{key}[{i}]" if isinstance(value, list) else key
            if not isinstance(entry, dict):
                rows.append((name, where, _cell(entry), ""))
                continue
            source = str(entry.get("source") or "")
            for field, v in entry.items():
                if field != "source":
                    rows.append((name, f"{where}.{field}", _cell(v), source))
    return rows


def _cell(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} = {_cell(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _sheet(xlsx, name: str, frame: pd.DataFrame, formats: dict[str, str], widths: dict[str, float] | None = None,
           freeze_columns: int = 1, wrap: tuple[str, ...] = ()) -> None:
    """A sheet with a bold wrapped header row, frozen header and first column(s), an
    autofilter, per-column number formats and widths."""
    frame.to_excel(xlsx, sheet_name=name, index=False)
    book, sheet = xlsx.book, xlsx.sheets[name]
    header = book.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#F2F2F2", "border": 1})
    for j, column in enumerate(frame.columns):
        sheet.write(0, j, column, header)
        fmt = formats.get(column)
        width = (widths or {}).get(column)
        if width is None:
            values = frame[column].astype(str).str.len() if len(frame) else pd.Series([0])
            width = min(max(10, int(values.quantile(0.9)) + 2, min(len(str(column)), 28) * 0.6), 60)
        options = {"num_format": fmt} if fmt else {}
        if column in wrap:
            options["text_wrap"] = True
            options["valign"] = "top"
        sheet.set_column(j, j, width, book.add_format(options) if options else None)
    sheet.set_row(0, 45)
    sheet.freeze_panes(1, freeze_columns)
    if len(frame.columns):
        sheet.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)


MONEY_FORMAT = "#,##0.0;[Red]-#,##0.0;0.0"
SHARE_FORMAT = "0.0%"
PRICE_FORMAT = "#,##0;-#,##0;0"
QUANTITY_FORMAT = "#,##0.0;-#,##0.0;0.0"
COUNT_FORMAT = "0"


def write_workbook(collection: Collection, path: Path, tables: dict[str, pd.DataFrame], meta: dict, findings: dict[str, list[str]]) -> None:
    from .report import MILLION, member_gains, summary_table  # the report's own tables (report imports this module)

    data = collection.data
    designs = collection.designs
    titles = {d: collection.title(d) for d in designs}
    numbered = {d: f"{i + 1}. {titles[d]}" for i, d in enumerate(designs)}
    with pd.ExcelWriter(path, engine="xlsxwriter") as xlsx:   # several times faster than openpyxl for 50k rows
        # a fixed creation date (xlsxwriter also stamps the zip entries with it): same inputs, same bytes
        xlsx.book.set_properties({"created": datetime(2024, 1, 1), "title": meta["title"]})
        summary = summary_table(collection)
        formats = {c: MONEY_FORMAT for c in summary.columns if "(USD m/yr)" in c}
        formats |= {c: SHARE_FORMAT for c in summary.columns if c.endswith("(share)")}
        formats |= {c: COUNT_FORMAT for c in summary.columns if c.endswith("(regions)")}
        _sheet(xlsx, "summary", summary, formats, {"design": 30, "design title": 48}, freeze_columns=2, wrap=("design title",))

        rows = [(d, titles[d], i + 1, s) for d in designs for i, s in enumerate(findings.get(d, []))]
        _sheet(xlsx, "findings", pd.DataFrame(rows, columns=["design", "design title", "finding", "text"]),
               {"finding": COUNT_FORMAT}, {"design": 30, "design title": 40, "finding": 8, "text": 120}, wrap=("text", "design title"))

        gains = member_gains(collection)
        membership = {d: set(collection.members(d)) for d in designs}
        sheet = gains.copy()
        sheet.columns = [f"{numbered[d]} (USD m/yr)" for d in designs]
        sheet.insert(0, "name", [region_name(data, r) for r in sheet.index])
        sheet.insert(1, "data", ["no data" if r in set(data.no_data_regions) else "" for r in sheet.index])
        sheet = sheet.reset_index(names="region")
        _sheet(xlsx, "member_gains", sheet, {c: MONEY_FORMAT for c in sheet.columns if c.endswith("(USD m/yr)")},
               {"region": 8, "name": 26, "data": 9} | {c: 16 for c in sheet.columns if c.endswith("(USD m/yr)")}, freeze_columns=2)
        ws = xlsx.sheets["member_gains"]
        bold = xlsx.book.add_format({"bold": True, "num_format": MONEY_FORMAT, "bg_color": "#DDEBF7"})
        for i, region in enumerate(sheet["region"]):
            for j, d in enumerate(designs):
                if region in membership[d] and np.isfinite(sheet.iat[i, 3 + j]):
                    ws.write_number(i + 1, 3 + j, float(sheet.iat[i, 3 + j]), bold)
        ws.write_comment(0, 0, "Members of each design are bold on a blue fill. 'no data': no source publishes the region's "
                               "activity; its zero is not a finding.")

        floors = tables["floors"].copy()
        if len(floors):
            floors.insert(1, "design title", floors["design"].map(titles))
            floors.insert(floors.columns.get_loc("market") + 1, "market name", [region_name(data, r) for r in floors["market"]])
            floors = floors.rename(columns={"floor_price": "floor (USD/unit)", "buyers_price": "buyers' price (USD/unit)",
                                            "producers_price": "producers' price (USD/unit)",
                                            "levy_collected": "levy collected (USD/yr)", "non_member_imports": "non-member imports (units/yr)"})
        _sheet(xlsx, "floors", floors, {"floor (USD/unit)": PRICE_FORMAT, "buyers' price (USD/unit)": PRICE_FORMAT,
                                        "producers' price (USD/unit)": PRICE_FORMAT, "levy collected (USD/yr)": PRICE_FORMAT,
                                        "non-member imports (units/yr)": QUANTITY_FORMAT},
               {"design": 30, "design title": 40, "floor": 50}, freeze_columns=2)

        dep = tables["designs"]
        dep = dep[dep["unit"] == "share"].copy()
        if len(dep):
            parts = dep["variable"].str.split("|", expand=True).reindex(columns=[0, 1, 2])
            dep["indicator"], dep["product"], dep["when"] = parts[0], parts[1], parts[2].fillna("after").replace("baseline", "before")
            dep = dep.pivot_table(index=["design", "product", "indicator"], columns="when", values="value", sort=False).reset_index()
            dep = dep.reindex(columns=["design", "product", "indicator", "before", "after"])
            dep["change"] = dep["after"] - dep["before"]
            dep.insert(1, "design title", dep["design"].map(titles))
            dep.insert(3, "product name", [product_name(data, p) for p in dep["product"]])
            dep = dep.rename(columns={"before": "before (share)", "after": "after (share)", "change": "change (share)"})
        _sheet(xlsx, "dependency", dep, {"before (share)": SHARE_FORMAT, "after (share)": SHARE_FORMAT, "change (share)": SHARE_FORMAT},
               {"design": 30, "design title": 40}, freeze_columns=2)

        # for people: designs as columns, in the report's order (the CSVs stay long, for machines)
        runs = [collection.baseline] + designs
        wide_designs = tables["designs"].pivot_table(index=["variable", "unit"], columns="design", values="value", sort=True)
        wide_designs = wide_designs.reindex(columns=designs).reset_index()
        _sheet(xlsx, "designs", wide_designs, {d: "General" for d in designs}, {"variable": 44, "unit": 9} | {d: 16 for d in designs},
               freeze_columns=2)
        members = tables["members"].copy()
        members["value"] = members["value"] / MILLION
        members["variable"] = members["variable"].str.replace("|change", " change (USD m/yr)", regex=False)
        wide_members = members.pivot_table(index=["region", "variable"], columns="design", values="value", sort=True)
        wide_members = wide_members.reindex(columns=designs).reset_index()
        _sheet(xlsx, "members", wide_members, {d: MONEY_FORMAT for d in designs}, {"region": 8, "variable": 34} | {d: 16 for d in designs},
               freeze_columns=2)
        markets = tables["markets"].pivot_table(index=["product", "region", "variable"], columns="design", values="value", sort=True)
        markets = markets.reindex(columns=runs).reset_index()
        _sheet(xlsx, "markets", markets, {d: QUANTITY_FORMAT for d in runs}, {"product": 18, "region": 8, "variable": 22} | {d: 16 for d in runs},
               freeze_columns=3)
        flows = tables["flows"].pivot_table(index=["product", "origin", "destination"], columns="design", values="quantity",
                                            sort=True, fill_value=0.0)
        flows = flows.reindex(columns=runs, fill_value=0.0).reset_index()
        _sheet(xlsx, "flows", flows, {d: QUANTITY_FORMAT for d in runs}, {"product": 18, "origin": 8, "destination": 11} | {d: 16 for d in runs},
               freeze_columns=3)

        definitions = [row for name, r in collection.results.items() for row in scenario_rows(name, r.scenario)]
        _sheet(xlsx, "scenarios", pd.DataFrame(definitions, columns=["design", "key", "value", "source"]), {},
               {"design": 30, "key": 34, "value": 60, "source": 80}, wrap=("value", "source"))
        units = pd.DataFrame([(p, product_name(data, p), data.unit[p]) for p in data.product_codes], columns=["product", "name", "unit"])
        _sheet(xlsx, "units", units, {}, {"product": 20, "name": 24, "unit": 70})
        meta_rows = [(k, v) for k, v in meta.items() if isinstance(v, str)]
        meta_rows += [(f"version: {k}", v) for k, v in meta["versions"].items()]
        meta_rows += [(f"design {i + 1}", d) for i, d in enumerate(designs)]
        meta_rows += [(f"scenario hash: {n}", h) for n, h in meta["scenario_hashes"].items()]
        _sheet(xlsx, "meta", pd.DataFrame(meta_rows, columns=["key", "value"]), {}, {"key": 40, "value": 80})


# ------------------------------------------------------------------- writing
