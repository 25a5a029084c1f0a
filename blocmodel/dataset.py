"""Load and validate a dataset folder (DESIGN.md §3) into typed tables.

`load_dataset` reads every CSV, checks each row against its schema (`schema.py`) and the
tables against each other, and raises one `InputError` carrying every problem found,
each naming file, row and field. Nothing is solved here.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from .errors import InputError, Problem, plain_message, suggest
from .schema import TABLES, Table


def _shipped_data() -> Path:
    """The shipped dataset: `data/` beside the package in a checkout (or an editable
    install), else where a wheel installed it (<prefix>/share/blocmodel/data)."""
    import sys

    beside = Path(__file__).resolve().parent.parent / "data"
    if (beside / "regions.csv").is_file():
        return beside
    for prefix in (sys.prefix, sys.base_prefix):
        installed = Path(prefix) / "share" / "blocmodel" / "data"
        if (installed / "regions.csv").is_file():
            return installed
    return beside


DEFAULT_DATA = _shipped_data()


def codes_of(names, index: dict[str, int]) -> np.ndarray:
    """Integer codes of `names`: their positions in the dataset's region or product list
    (`Dataset.region_index`, `product_index`), what numpy sums and indexes by."""
    if len(names) < 2000:         # a dict lookup per name; for a whole table, pandas' hash table in C
        return np.fromiter((index[n] for n in names), dtype=np.int64, count=len(names))
    at = pd.Index(list(index)).get_indexer(np.asarray(names, dtype=object))
    if (at < 0).any():
        raise KeyError(np.asarray(names, dtype=object)[np.argmax(at < 0)])
    return np.fromiter(index.values(), dtype=np.int64, count=len(index))[at]


@dataclass(frozen=True)
class Dataset:
    """A validated dataset: one DataFrame per table, columns as in the contract."""

    regions: pd.DataFrame
    products: pd.DataFrame
    supply: pd.DataFrame
    demand: pd.DataFrame
    routes: pd.DataFrame
    processing: pd.DataFrame
    path: str = ""
    data_hash: str = ""
    notes: tuple[str, ...] = field(default=())
    # What later layers derive from the data once (the no-policy market, chain layouts).
    # init=False: `dataclasses.replace(data, supply=...)` starts a new, empty cache, so a
    # modified dataset (a Monte Carlo draw) never reuses what was derived from the original.
    cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @cached_property
    def names(self):
        from .names import NameBook

        return NameBook(self.regions, self.products)

    def resolve_region_name(self, name: str) -> set[str] | None:
        """A region code (any case), country name, group or customs union -> regions."""
        return self.names.region(name)

    def region_hint(self, name: str) -> str:
        return self.names.region_hint(name)

    def resolve_product_name(self, name: str) -> set[str] | None:
        return self.names.product(name)

    def product_hint(self, name: str) -> str:
        return self.names.product_hint(name)

    @cached_property
    def no_data_regions(self) -> list[str]:
        """Regions no source publishes any activity for (regions.csv data_status = 'no data')."""
        if "data_status" not in self.regions:
            return []
        return [r for r, s in zip(self.regions["region"], self.regions["data_status"]) if s == "no data"]

    @cached_property
    def region_codes(self) -> list[str]:
        return list(self.regions["region"])

    @cached_property
    def product_codes(self) -> list[str]:
        return list(self.products["product"])

    @cached_property
    def region_index(self) -> dict[str, int]:
        """Region code -> its position in `region_codes` (the integer code numpy sums by)."""
        return {r: i for i, r in enumerate(self.region_codes)}

    @cached_property
    def product_index(self) -> dict[str, int]:
        """Product code -> its position in `product_codes`."""
        return {p: j for j, p in enumerate(self.product_codes)}

    @cached_property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Group name -> member regions, in dataset order."""
        out: dict[str, list[str]] = {}
        for region, groups in zip(self.regions["region"], self.regions["groups"]):
            for g in groups:
                out.setdefault(g, []).append(region)
        return {g: tuple(members) for g, members in out.items()}

    @cached_property
    def customs_unions(self) -> dict[str, tuple[str, ...]]:
        """Customs union name -> member regions."""
        out: dict[str, list[str]] = {}
        for region, union in zip(self.regions["region"], self.regions["customs_union"]):
            if union:
                out.setdefault(union, []).append(region)
        return {u: tuple(m) for u, m in out.items()}

    @cached_property
    def customs_union_of(self) -> dict[str, str | None]:
        return dict(zip(self.regions["region"], self.regions["customs_union"]))

    @cached_property
    def minerals(self) -> dict[str, tuple[str, ...]]:
        """Mineral -> its products."""
        out: dict[str, list[str]] = {}
        for product, mineral in zip(self.products["product"], self.products["mineral"]):
            out.setdefault(mineral, []).append(product)
        return {m: tuple(p) for m, p in out.items()}

    @cached_property
    def stage(self) -> dict[str, str]:
        return dict(zip(self.products["product"], self.products["stage"]))

    @cached_property
    def mineral_of(self) -> dict[str, str]:
        return dict(zip(self.products["product"], self.products["mineral"]))

    @cached_property
    def unit(self) -> dict[str, str]:
        return dict(zip(self.products["product"], self.products["unit"]))


def load_dataset(path: str | Path | None = None) -> Dataset:
    """Read and validate the dataset in folder `path` (default: the shipped `data/`)."""
    folder = Path(path) if path is not None else DEFAULT_DATA
    problems: list[Problem] = []
    if not folder.is_dir():
        hint = None if path is not None else "the shipped data is not installed here: give a dataset folder with --data"
        raise InputError([Problem(str(folder), "dataset folder not found", hint=hint)])
    digest = hashlib.sha256()
    tables: dict[str, pd.DataFrame] = {}
    for table in TABLES.values():
        file = folder / table.file
        if not file.exists():
            if table.required:
                problems.append(Problem(_display(file), "required file is missing"))
            tables[table.name] = _empty_frame(table)
            continue
        try:
            raw = file.read_bytes()
        except OSError as exc:      # a folder, no permission, a broken link: say so, not a traceback
            problems.append(Problem(_display(file), f"cannot be read: {exc.strerror or exc}"))
            tables[table.name] = _empty_frame(table)
            continue
        digest.update(table.file.encode() + b"\0" + raw)
        tables[table.name] = _read_table(table, file, raw, problems)
    if not problems:
        _check_cross_references(tables, folder, problems)
    if not problems:
        _check_calibration(tables, folder, problems)
    if problems:
        raise InputError(problems)
    regions = tables["regions"]
    regions["customs_union"] = regions["customs_union"].map(lambda u: u if isinstance(u, str) else "")
    return Dataset(**tables, path=str(folder), data_hash=digest.hexdigest()[:16])


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _empty_frame(table: Table) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in table.columns + ["_row"]})


def _read_table(table: Table, file: Path, raw: bytes, problems: list[Problem]) -> pd.DataFrame:
    name = _display(file)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(_not_utf8(name, raw, exc.start))
        return _empty_frame(table)
    if "\0" in text:       # UTF-16 without a byte-order mark decodes as UTF-8 with NULs
        problems.append(_not_utf8(name, raw, text.index("\0")))
        return _empty_frame(table)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        first = next(reader, [])
    except csv.Error as exc:
        problems.append(Problem(name, f"is not valid CSV: {exc}", row=reader.line_num))
        return _empty_frame(table)
    if not any(cell.strip() for cell in first):
        problems.append(Problem(name, "is empty: no header row"))
        return _empty_frame(table)
    header = [h.strip() for h in first]
    if len(header) == 1:
        for delimiter, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if delimiter in header[0]:
                problems.append(Problem(name, f"columns are separated by {label}, not commas", row=1,
                                        hint="save it as comma-separated CSV"))
                return _empty_frame(table)
    known = set(table.columns)
    missing = [c for c in table.required_columns if c not in header]
    for column in missing:
        problems.append(Problem(name, "required column is missing", row=1, field=column,
                                hint=suggest(column, [h for h in header if h not in known])))
    for column in header:
        if column not in known:
            close = suggest(column, [c for c in table.columns if c not in header])
            if close:
                problems.append(Problem(name, "unknown column", row=1, field=column, hint=close))
    duplicates = {c for c in header if header.count(c) > 1}
    for column in sorted(duplicates):
        problems.append(Problem(name, "column appears more than once", row=1, field=column))
    if missing or duplicates:
        return _empty_frame(table)

    field_names = {f.alias or n: n for n, f in table.row.model_fields.items()}
    parsed = _regular_records(raw.removeprefix(codecs.BOM_UTF8), len(header))
    if parsed is None:           # Python's csv module reads it, and says what is wrong with it
        try:
            parsed = _irregular_records(name, list(reader), len(header), problems)
        except csv.Error as exc:
            problems.append(Problem(name, f"is not valid CSV: {exc}", row=reader.line_num))
            return _empty_frame(table)
    row_numbers, cells = parsed
    columns = dict(zip(header, cells))
    # Validate column by column (fast); rows any column rejects are validated one by one
    # against the schema, which words the problem.
    frame, suspect = _validate_columns(table, row_numbers, columns)
    records = []
    for k in np.flatnonzero(suspect):
        index = int(row_numbers[k])
        values = {h: columns[h][k] for h in header if h in known and columns[h][k] != ""}
        try:
            row = table.row.model_validate(values)
        except ValidationError as exc:
            for err in exc.errors():
                loc = str(err["loc"][0]) if err["loc"] else None
                column = next((alias for alias, n in field_names.items() if n == loc), loc)
                got = values.get(column)
                message = plain_message(err)
                if got is not None and err["type"] != "missing":
                    message += f" (got {got!r})"
                problems.append(Problem(name, message, row=index, field=column))
            continue
        record = row.model_dump(by_alias=True)
        record["_row"] = index
        records.append(record)
    if records:       # rows the columns doubted but the schema accepted
        frame = pd.concat([frame, pd.DataFrame.from_records(records, columns=table.columns + ["_row"])], ignore_index=True)
        frame = frame.sort_values("_row", kind="stable").reset_index(drop=True)
    if not len(frame) and table.name in ("regions", "products") and not any(p.file == name for p in problems):
        problems.append(Problem(name, "has no rows: a dataset needs at least one", row=2))
    return frame


def _irregular_records(name: str, rows: list[list[str]], cells_per_row: int,
                       problems: list[Problem]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The body's rows (`rows`, as Python's csv module read them after the header), as row
    numbers and columns of stripped cells; blank rows skipped, rows with the wrong number of
    cells reported."""
    numbers, body = [], []
    for index, cells in enumerate(rows, start=2):
        if not "".join(cells).strip():
            continue  # blank line
        if len(cells) != cells_per_row:
            hint = ("a decimal comma, or a ',' in a text that needs quotes?" if len(cells) > cells_per_row
                    else "an unmatched '\"' joins what follows into one cell" if any('"' in c or "\n" in c for c in cells)
                    else None)
            problems.append(Problem(name, f"has {len(cells)} cells, the header has {cells_per_row}", row=index, hint=hint))
            continue
        numbers.append(index)
        body.append(cells)
    columns = [np.array([c.strip() for c in column], dtype=object) for column in zip(*body)] if body \
        else [np.zeros(0, dtype=object)] * cells_per_row
    return np.array(numbers, dtype=np.int64), columns


def _byte_class(*characters: str | int) -> np.ndarray:
    lookup = np.zeros(256, dtype=bool)
    lookup[[c if isinstance(c, int) else ord(c) for c in characters]] = True
    return lookup


# bytes str.strip() may remove: ASCII blanks, and any byte of a non-ASCII character (a
# no-break space, …)
_STRIPPABLE = _byte_class(" ", "\t", "\v", "\f", 28, 29, 30, 31, *range(128, 256))


def _regular_records(data: bytes, cells_per_row: int) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The body's rows read by pandas' C reader (several times faster than the csv module and
    the per-cell Python after it), when the file is regular enough that both read the same
    cells: one record per line, every line with the header's number of cells, every quote
    opening or closing a cell, no line break inside quotes, no blank line. Else None.
    Checked on the bytes with numpy: UTF-8 never uses the bytes of ',', '"', CR or LF inside
    another character."""
    b = np.frombuffer(data, dtype=np.uint8)
    newline = np.flatnonzero(b == ord("\n"))
    ends = newline if len(newline) and newline[-1] == len(b) - 1 else np.append(newline, len(b))
    if len(ends) < 2:
        return None                  # a header and no rows: the csv module says so
    cr = np.flatnonzero(b == ord("\r"))
    if len(cr) and not np.isin(cr + 1, newline).all():
        return None                  # a lone CR ends a line for the csv module only
    commas = np.flatnonzero(b == ord(","))
    quotes = np.flatnonzero(b == ord('"'))
    if len(quotes):
        if len(quotes) % 2:
            return None
        before = b[np.maximum(quotes[0::2] - 1, 0)]
        after = b[np.minimum(quotes[1::2] + 1, len(b) - 1)]
        opens_a_cell = (quotes[0::2] == 0) | np.isin(before, (ord(","), ord("\n"), ord('"')))
        closes_a_cell = (quotes[1::2] == len(b) - 1) | np.isin(after, (ord(","), ord("\n"), ord("\r"), ord('"')))
        if not (opens_a_cell.all() and closes_a_cell.all()):
            return None
        # a line break or a comma after an odd number of quotes is inside a quoted cell
        if (np.searchsorted(quotes, np.concatenate([newline, cr])) % 2).any():
            return None
        commas = commas[np.searchsorted(quotes, commas) % 2 == 0]      # the commas that separate cells
    if not (np.diff(np.searchsorted(commas, ends), prepend=0) == cells_per_row - 1).all():
        return None
    try:
        frame = pd.read_csv(io.BytesIO(data), header=None, skiprows=1, names=range(cells_per_row), dtype=object,
                            keep_default_na=False, na_filter=False, skip_blank_lines=False, engine="c")
    except (ValueError, pd.errors.ParserError):
        return None
    rows = len(ends) - 1
    if len(frame) != rows:
        return None
    # a cell may need stripping only where a blank (or a non-ASCII byte) touches its edge: a
    # separating comma, a line end or a quote
    edge = np.zeros(len(b) + 2, dtype=bool)
    edge[[0, -1]] = True
    edge[np.concatenate([commas, newline, cr, quotes]) + 1] = True
    strippable = np.flatnonzero(_STRIPPABLE[b]) + 1
    padded = bool((edge[strippable - 1] | edge[strippable + 1]).any())
    columns = [frame[k].to_numpy(dtype=object) for k in range(cells_per_row)]
    if padded:
        columns = [np.array([c.strip() for c in column], dtype=object) for column in columns]
    if np.logical_and.reduce([column == "" for column in columns]).any():
        return None                  # a blank line: the csv module skips it and numbers rows by records
    return np.arange(2, rows + 2, dtype=np.int64), columns


def _validate_columns(table: Table, row_numbers: np.ndarray, cells: dict[str, np.ndarray]) -> tuple[pd.DataFrame, np.ndarray]:
    """The table's rows, given as columns of stripped cells, checked against the schema's
    declarations (types, bounds, patterns, choices); `suspect` marks rows any check rejects
    (validated one by one)."""
    import annotated_types as at

    n = len(row_numbers)
    suspect = np.zeros(n, dtype=bool)
    out: dict[str, object] = {}
    for field_name, info in table.row.model_fields.items():
        column = info.alias or field_name
        raw = cells.get(column, np.full(n, "", dtype=object))
        blank = raw == ""
        annotation = info.annotation
        args = set(getattr(annotation, "__args__", ()) or ())
        optional = type(None) in args
        if info.is_required():
            suspect |= blank
        origin = getattr(annotation, "__origin__", None)
        kinds = args - {type(None)} or {annotation}
        if kinds == {float}:
            values = pd.to_numeric(pd.Series(raw, dtype=object).where(~blank), errors="coerce").to_numpy(dtype=float)
            suspect |= ~blank & ~np.isfinite(values)
            for rule in info.metadata:
                with np.errstate(invalid="ignore"):
                    if isinstance(rule, at.Gt):
                        suspect |= ~blank & ~(values > rule.gt)
                    elif isinstance(rule, at.Ge):
                        suspect |= ~blank & ~(values >= rule.ge)
                    elif isinstance(rule, at.Lt):
                        suspect |= ~blank & ~(values < rule.lt)
                    elif isinstance(rule, at.Le):
                        suspect |= ~blank & ~(values <= rule.le)
            default = info.default if not info.is_required() else np.nan
            out[column] = np.where(blank, np.nan if default is None else default, values)
        elif kinds == {str} or origin is None and annotation is str:
            for rule in info.metadata:
                if isinstance(rule, at.MinLen):
                    suspect |= _each_distinct(raw, lambda v, least=rule.min_length: len(v) < least) & ~blank
                pattern = getattr(rule, "pattern", None)
                if pattern:
                    suspect |= ~blank & ~_each_distinct(raw, re.compile(pattern).fullmatch)
            if field_name == "source":
                suspect |= blank
            out[column] = [None if b else v for b, v in zip(blank, raw)] if optional or not info.is_required() else list(raw)
        elif any(getattr(k, "__origin__", None) is not None and str(getattr(k, "__origin__", "")) == "typing.Literal" for k in kinds) \
                or str(origin) == "typing.Literal":
            choices = set()
            for k in kinds:
                choices |= set(getattr(k, "__args__", ()))
            suspect |= ~blank & ~np.isin(raw, list(choices))
            out[column] = [None if b else v for b, v in zip(blank, raw)]
        elif field_name == "groups":
            out[column] = [tuple(g.strip() for g in v.split(";") if g.strip()) for v in raw]
        else:                     # a type the columns cannot check: every row one by one
            suspect[:] = True
            out[column] = list(raw)
    frame = pd.DataFrame({c: out[c] for c in table.columns}) if n else pd.DataFrame({c: pd.Series(dtype=object) for c in table.columns})
    frame["_row"] = row_numbers.tolist()
    return frame[~suspect].reset_index(drop=True), suspect


def _each_distinct(cells: np.ndarray, test) -> np.ndarray:
    """bool(test(cell)) for every cell, evaluated once per distinct value (codes repeat)."""
    codes, distinct = pd.factorize(cells)
    return np.array([bool(test(v)) for v in distinct], dtype=bool)[codes] if len(cells) else np.zeros(0, dtype=bool)


def _not_utf8(name: str, raw: bytes, position: int) -> Problem:
    """A file in another encoding: which one it looks like, and the row of the first bad byte."""
    head = raw[:200]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head.count(b"\0") > len(head) // 4:
        return Problem(name, "is UTF-16 text, not UTF-8", hint="save it as UTF-8 CSV; in Excel: Save As > CSV UTF-8")
    row = raw[:position].count(b"\n") + 1
    if raw[position:position + 1] == b"\0":
        return Problem(name, "contains a NUL byte (a binary file?)", row=row, hint="save it as UTF-8 CSV")
    return Problem(name, f"is not UTF-8 text (byte {position} is {raw[position:position + 1]!r}; "
                         "latin-1 or Windows-1252 perhaps)", row=row, hint="save it as UTF-8 CSV")


def _check_cross_references(tables: dict[str, pd.DataFrame], folder: Path, problems: list[Problem]) -> None:
    def name(t: str) -> str:
        return _display(folder / TABLES[t].file)

    regions = set(tables["regions"]["region"])
    products = set(tables["products"]["product"])
    stage = dict(zip(tables["products"]["product"], tables["products"]["stage"]))

    for t, table in TABLES.items():
        frame = tables[t]
        if frame.empty:
            continue
        keys = list(table.key)
        repeated = frame.duplicated(keys, keep="first")
        if repeated.any():
            first = frame.drop_duplicates(keys, keep="first").set_index(keys)["_row"]
            for _, record in frame[repeated].iterrows():
                key = tuple(record[k] for k in keys)
                problems.append(Problem(name(t), f"duplicate {'/'.join(keys)} {'/'.join(map(str, key))} (first on row {first.loc[key]})",
                                        row=record["_row"], field=keys[-1]))

    def check(t: str, column: str, known: set[str], kind: str) -> None:
        frame = tables[t]
        bad = ~frame[column].isin(list(known))
        for value, row in zip(frame.loc[bad, column], frame.loc[bad, "_row"]):
            problems.append(Problem(name(t), f"unknown {kind} '{value}'", row=row, field=column, hint=suggest(value, known)))

    for t in ("supply", "demand"):
        check(t, "region", regions, "region")
        check(t, "product", products, "product")
    check("routes", "origin", regions, "region")
    check("routes", "destination", regions, "region")
    check("routes", "product", products, "product")
    check("processing", "region", regions, "region")
    check("processing", "input", products, "product")
    check("processing", "output", products, "product")

    routes = tables["routes"]
    to_itself = (routes["origin"] == routes["destination"]).to_numpy(dtype=bool)     # compared as columns: 35,000 routes and more
    for row in routes["_row"].to_numpy()[to_itself]:
        problems.append(Problem(name("routes"), "a route from a region to itself (a region serves its own market at no cost)",
                                row=row, field="destination"))

    processing = tables["processing"]
    supplied = set(tables["supply"]["product"])
    for record in processing.to_dict("records"):
        row = record["_row"]
        if record["input"] in stage and record["input"] not in supplied:
            # nothing to refine anywhere: the refineries idle at any input price, which leaves it undetermined
            problems.append(Problem(name("processing"), f"input '{record['input']}' has no supply in supply.csv, so no refinery can run",
                                    row=row, field="input", hint=f"add its mines to supply.csv, or drop the refineries of '{record['input']}'"))
        if record["input"] in stage and stage[record["input"]] != "mined":
            problems.append(Problem(name("processing"), f"input '{record['input']}' is not a mined product", row=row, field="input"))
        if record["output"] in stage and stage[record["output"]] != "refined":
            problems.append(Problem(name("processing"), f"output '{record['output']}' is not a refined product", row=row, field="output"))
        has_curve = [pd.notna(record["ref_quantity"]), pd.notna(record["elasticity"])]
        if any(has_curve) and not all(has_curve):
            missing = "elasticity" if has_curve[0] else "ref_quantity"
            problems.append(Problem(name("processing"), "a refining curve needs both ref_quantity and elasticity", row=row, field=missing))
        if all(has_curve) and record["unit_cost"] <= 0:
            problems.append(Problem(name("processing"), "must be greater than 0 when a refining curve is given", row=row, field="unit_cost"))

    reserved = {"*", "bloc", "non_members"}
    region_table = tables["regions"]
    for groups, row in zip(region_table["groups"], region_table["_row"]):
        for g in groups:
            if g in regions:
                problems.append(Problem(name("regions"), f"group '{g}' has the same name as a region", row=row, field="groups"))
            if g in products or g in reserved:
                problems.append(Problem(name("regions"), f"group name '{g}' is reserved or names a product", row=row, field="groups"))
    for product, row in zip(tables["products"]["product"], tables["products"]["_row"]):
        if product in regions:
            problems.append(Problem(name("products"), f"product '{product}' has the same name as a region", row=row, field="product"))
    for mineral, product, row in zip(tables["products"]["mineral"], tables["products"]["product"], tables["products"]["_row"]):
        if mineral in products and mineral != product:
            problems.append(Problem(name("products"), f"mineral '{mineral}' has the same name as another product", row=row, field="mineral"))


def _check_calibration(tables: dict[str, pd.DataFrame], folder: Path, problems: list[Problem]) -> None:
    """Where routes carry observed flows, the no-policy equilibrium must be able to reproduce
    them: the product needs a substitution elasticity, every refinery touching it a reference
    output, no observed flow may exceed its route's capacity, and at every region
    production − exports (the home flow) must be ≥ 0 and equal use − imports."""
    from .calibration import BALANCE_TOLERANCE, calibrated_products, reference_balances, world_sizes

    def name(t: str) -> str:
        return _display(folder / TABLES[t].file)

    products, routes, processing = tables["products"], tables["routes"], tables["processing"]
    sigma = dict(zip(products["product"], products["substitution_elasticity"]))
    row_of = dict(zip(products["product"], products["_row"]))
    for product in calibrated_products(products, routes):
        if sigma.get(product) is None or pd.isna(sigma.get(product)):
            problems.append(Problem(name("products"), f"'{product}' has observed flows in routes.csv but no substitution elasticity",
                                    row=row_of[product], field="substitution_elasticity",
                                    hint="give how readily buyers switch suppliers (e.g. 4), or drop ref_quantity from its routes"))
        for record in processing[(processing["input"] == product) | (processing["output"] == product)].to_dict("records"):
            if record["ref_quantity"] is None or pd.isna(record["ref_quantity"]):
                problems.append(Problem(name("processing"), f"a refinery of '{product}', whose flows are calibrated, needs a reference output",
                                        row=record["_row"], field="ref_quantity"))
    observed = pd.to_numeric(routes["ref_quantity"], errors="coerce").to_numpy(dtype=float)
    capacity = pd.to_numeric(routes["capacity"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        over = observed > capacity * (1 + 1e-12)             # False where either is missing (NaN)
    for row, q, cap in zip(routes["_row"].to_numpy()[over], observed[over], capacity[over]):
        problems.append(Problem(name("routes"), f"observed flow {q:g} exceeds the route's capacity {cap:g}", row=row, field="ref_quantity"))
    if problems:
        return
    balances = reference_balances(tables["supply"], tables["demand"], processing, routes)
    sizes = world_sizes(tables["supply"], tables["demand"], processing)
    for product in calibrated_products(products, routes):
        balance = balances.xs(product, level="product")
        size = sizes.get(product, 1e-300)
        gap = (balance["home_from_production"] - balance["home_from_use"]).abs() / size
        for region in balance.index[(gap > BALANCE_TOLERANCE) | (balance["home_from_production"] < -BALANCE_TOLERANCE * size)]:
            b = balance.loc[region]
            problems.append(Problem(
                name("routes"), f"observed flows of '{product}' do not balance at {region}: production {b['production']:.6g} − exports "
                f"{b['exports']:.6g} = {b['home_from_production']:.6g}, but use {b['use']:.6g} − imports {b['imports']:.6g} = "
                f"{b['home_from_use']:.6g}", field="ref_quantity",
                hint="demand is apparent consumption (production + imports − exports); the home flow must not be negative"))
