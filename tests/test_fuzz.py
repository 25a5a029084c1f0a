"""Fuzz tests (hypothesis, derandomised): random corruptions of a valid dataset or scenario
file always end in a clear outcome through the CLI — exit 2 with one `error:` line per
problem naming the file (and row and field where there is one), or, where the corruption
happens to leave valid input, a normal run — never a traceback, an internal error, or a
partial result folder."""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from blocmodel.cli import app
from blocmodel.schema import TABLES
from blocmodel.synthetic import synthetic_dataset

RUNNER = CliRunner()
LINE = re.compile(r"^error: (?P<file>[^,:]+?\.(csv|toml))(, row (?P<row>\d+))?(, field '(?P<field>[^']+)')?: \S.*$")
FILES = [t.file for t in TABLES.values()]
BAD_CELLS = ["", " ", "abc", "nan", "NaN", "inf", "-inf", "-1", "0", "-0", "1e400", "1,5", "#N/A", "NULL", "1.2.3",
             "\u00e9t\u00e9", '"', "1e-400", "ZZZ", "0x10", "--1", "1 000"]


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Path:
    """A small valid two-stage dataset with every file, processing and capacities included."""
    folder = synthetic_dataset(tmp_path_factory.mktemp("fuzz") / "data", regions=4, minerals=2, two_stage=True, seed=7)
    supply = (folder / "supply.csv").read_text().splitlines()      # give supply a capacity column too
    supply = [supply[0].replace("elasticity,", "elasticity,capacity,")] + \
             [line.replace(",assumption", ",,assumption", 1) if i % 2 else line.replace(",assumption", ",1e9,assumption", 1)
              for i, line in enumerate(supply[1:])]
    (folder / "supply.csv").write_text("\n".join(supply) + "\n")
    return folder


def rows_of(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.splitlines()]


def join(rows: list[list[str]]) -> str:
    return "\n".join(",".join(r) for r in rows) + "\n"


@st.composite
def corruptions(draw):
    """(file, kind, parameters) of one corruption."""
    file = draw(st.sampled_from(FILES))
    kind = draw(st.sampled_from(["cell", "negate", "drop_column", "rename_header", "delimiter", "encoding", "duplicate_row",
                                 "unknown_name", "truncate", "delete", "garbage", "extra_cell", "empty", "header_only"]))
    return file, kind, draw(st.integers(0, 10_000)), draw(st.integers(0, 10_000)), draw(st.sampled_from(BAD_CELLS)), \
        draw(st.binary(min_size=1, max_size=8))


def corrupt(folder: Path, file: str, kind: str, a: int, b: int, cell: str, garbage: bytes) -> None:
    path = folder / file
    text = path.read_text()
    rows = rows_of(text)
    header, body = rows[0], rows[1:]
    r = 1 + a % max(1, len(body))               # a data row (spreadsheet row r + 1)
    c = b % len(header)
    if kind == "cell" and body:
        rows[r][c] = cell
    elif kind == "negate" and body:
        rows[r][c] = "-" + rows[r][c] if not rows[r][c].startswith("-") else rows[r][c][1:]
    elif kind == "drop_column":
        rows = [row[:c] + row[c + 1:] for row in rows]
    elif kind == "rename_header":
        name = header[c]
        rows[0][c] = name[: a % len(name)] + name[a % len(name) + 1:] if len(name) > 1 else name + "x"
    elif kind == "delimiter":
        path.write_text(text.replace(",", [";", "\t", "|"][a % 3]))
        return
    elif kind == "encoding":
        marked = text.replace(",", ",\u00e9", 1) if a % 2 else text
        path.write_bytes(marked.encode(["utf-16", "latin-1", "utf-16-le"][b % 3]))
        return
    elif kind == "duplicate_row" and body:
        rows.append(list(rows[r]))
    elif kind == "unknown_name" and body:
        keys = [i for i, h in enumerate(header) if h in ("region", "product", "origin", "destination", "input", "output")]
        if keys:
            rows[r][keys[b % len(keys)]] = "ZZZ"
    elif kind == "truncate":
        raw = path.read_bytes()
        path.write_bytes(raw[: a % max(1, len(raw))])
        return
    elif kind == "delete":
        path.unlink()
        return
    elif kind == "garbage":
        raw = path.read_bytes()
        at = a % max(1, len(raw))
        path.write_bytes(raw[:at] + garbage + raw[at:])
        return
    elif kind == "extra_cell" and body:
        rows[r].append("x")
    elif kind == "empty":
        path.write_text("")
        return
    elif kind == "header_only":
        rows = rows[:1]
    path.write_text(join(rows))


def assert_clean_failure(result, files: set[str]) -> list[re.Match]:
    """Exit 2, every stderr line an `error:` line naming one of `files`; no traceback."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert lines, result.output
    matches = []
    for line in lines:
        match = LINE.match(line)
        assert match, f"not a clear error line: {line!r}"
        assert Path(match["file"]).name in files, line
        matches.append(match)
    return matches


@settings(max_examples=200)
@given(corruptions())
def test_corrupted_dataset_fails_clearly_or_still_solves(valid, corruption):
    file, kind, *params = corruption
    event(f"{kind}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(valid, Path(tmp) / "data"))
        corrupt(folder, file, kind, *params)
        out = Path(tmp) / "out"
        result = RUNNER.invoke(app, ["solve", "--data", str(folder), "--out", str(out)])
        if result.exit_code == 0:            # the corruption left a valid dataset: it must solve and be checked
            event("still valid")
            summary = json.loads((out / "summary.json").read_text())
            assert summary["status"] == "optimal" and summary["check_passed"]
            return
        assert result.exit_code == 2, (result.exit_code, result.output)
        matches = assert_clean_failure(result, set(FILES))
        assert not out.exists()
        # the corrupted file is named, unless the damage shows where its names are used
        named = {Path(m["file"]).name for m in matches}
        assert file in named or (kind in ("unknown_name", "cell", "duplicate_row", "rename_header", "drop_column",
                                          "truncate", "garbage", "header_only", "negate") and named), (file, kind, result.stderr)


# ---------------------------------------------------------------------------------------
# Scenarios

@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return synthetic_dataset(tmp_path_factory.mktemp("fuzz") / "small", regions=4, minerals=1, seed=3)


VALID_SCENARIO = {
    "name": "fuzzed",
    "bloc": {"members": ["even"], "external_tariff_ad_valorem": 0.2},
    "tariffs": [{"exporter": "R001", "importer": "R000", "product": "*", "ad_valorem": 0.1}],
    "price_floors": [{"product": "m00_metal", "price": 2500.0, "markets": ["bloc"], "mechanism": "variable_levy"}],
    "anti_dumping": [{"exporter": "odd", "importer": "bloc", "product": "m00", "specific": 10.0}],
    "export_restrictions": [{"exporter": "R003", "destinations": ["R000"], "product": "*", "quota": 100.0}],
    "supply_shocks": [{"region": "R001", "product": "*", "quantity_change": -0.1}],
    "stockpile": [{"region": "R002", "product": "m00_metal", "quantity": 10.0}],
}
BAD_VALUES = [-5, -1.5, 0, 1e30, "abc", True, [], {}, "ZZZ", ["ZZZ"], math.nan, math.inf, -math.inf, "", "*", 2]


def toml(value, prefix: str = "") -> str:
    """A small TOML writer for scenario dicts (tables, arrays of tables, scalars, lists)."""
    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        if isinstance(v, float) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {scalar(x)}" for k, x in v.items()) + "}"
        raise TypeError(v)
    lines, tables = [], []
    for key, v in value.items():
        if isinstance(v, dict) and v:
            tables.append(f"\n[{prefix}{key}]\n" + toml(v, f"{prefix}{key}."))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                tables.append(f"\n[[{prefix}{key}]]\n" + toml(item))
        else:
            lines.append(f"{key} = {scalar(v)}")
    return "\n".join(lines) + "\n" + "".join(tables)


@st.composite
def scenario_corruptions(draw):
    scenario = json.loads(json.dumps(VALID_SCENARIO))
    kind = draw(st.sampled_from(["key_typo", "value", "drop_key", "text", "encoding"]))
    # a path to a leaf: (top key, index or None, leaf key)
    top = draw(st.sampled_from([k for k in scenario if k != "name"]))
    holder = scenario[top] if isinstance(scenario[top], dict) else scenario[top][0]
    leaf = draw(st.sampled_from(sorted(holder)))
    if kind == "key_typo":
        i = draw(st.integers(0, len(leaf) - 1))
        typo = draw(st.sampled_from(["drop", "swap", "double"]))
        new = (leaf[:i] + leaf[i + 1:] if typo == "drop" else leaf[:i] + leaf[i + 1:i + 2] + leaf[i:i + 1] + leaf[i + 2:]
               if typo == "swap" else leaf[:i] + leaf[i] + leaf[i:])
        if new != leaf:
            holder[new] = holder.pop(leaf)
    elif kind == "value":
        holder[leaf] = draw(st.sampled_from(BAD_VALUES))
    elif kind == "drop_key":
        holder.pop(leaf)
    text = toml(scenario)
    if kind == "text":
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(["", "[", "]", "=", '"', "\n", "x", "{"])) + text[at + 1:]
    raw = text.encode("utf-16" if kind == "encoding" else "utf-8")
    return kind, raw


def test_the_unfuzzed_scenario_solves(small, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(toml(VALID_SCENARIO))
    result = RUNNER.invoke(app, ["solve", "--data", str(small), "--scenario", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


@settings(max_examples=150)
@given(scenario_corruptions())
def test_corrupted_scenario_fails_clearly_or_still_solves(small, corruption):
    kind, raw = corruption
    event(kind)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed.toml"
        path.write_bytes(raw)
        out = Path(tmp) / "out"
        result = RUNNER.invoke(app, ["solve", "--data", str(small), "--scenario", str(path), "--out", str(out)])
        event(f"exit {result.exit_code}")
        if result.exit_code == 0:
            assert (out / "summary.json").exists()
            return
        assert not out.exists()
        if result.exit_code == 3:           # a valid scenario with no equilibrium: says which constraints clash
            assert "Traceback" not in result.output and result.stderr.startswith("error: chain "), result.output
            return
        assert result.exit_code == 2, (result.exit_code, result.output)
        for match in assert_clean_failure(result, {"fuzzed.toml"}):
            if kind in ("key_typo", "value", "drop_key"):
                assert match["field"], match.string          # a bad key or value is named
