"""Every kind of bad dataset gives a clear problem naming file, row and field; all at once."""

import shutil
import subprocess
import sys

import pytest
from conftest import two_country
from hypothesis import given, settings
from hypothesis import strategies as st

from blocmodel.dataset import _irregular_records, _regular_records, load_dataset
from blocmodel.errors import InputError


@pytest.fixture
def folder(tmp_path):
    two_country(tmp_path / "good")
    return tmp_path / "good"


def edit(path, old, new, count=1):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count))


def problems(folder):
    with pytest.raises(InputError) as exc:
        load_dataset(folder)
    return [str(p) for p in exc.value.problems]


def only(folder, file, row, field, words):
    found = problems(folder)
    match = [p for p in found if file in p and (row is None or f"row {row}" in p) and (field is None or f"field '{field}'" in p)]
    assert match, f"no problem naming {file} row {row} field {field} in {found}"
    assert any(words in p for p in match), match
    return found


def test_good_dataset_loads(folder):
    data = load_dataset(folder)
    assert list(data.supply["region"]) == ["HOME", "FOREIGN"]
    assert data.groups == {"north": ("HOME",), "south": ("FOREIGN",)}


def test_missing_file(folder):
    (folder / "demand.csv").unlink()
    only(folder, "demand.csv", None, None, "required file is missing")


def test_missing_column(folder):
    edit(folder / "supply.csv", "elasticity", "elast")
    only(folder, "supply.csv", 1, "elasticity", "required column is missing")


def test_misspelt_optional_column(folder):
    edit(folder / "routes.csv", "tariff_specific", "tarif_specific")
    found = only(folder, "routes.csv", 1, "tarif_specific", "unknown column")
    assert any("did you mean 'tariff_specific'" in p for p in found)


def test_non_numeric_value(folder):
    text = (folder / "supply.csv").read_text().splitlines()
    cells = text[1].split(",")
    cells[2] = "abc"
    text[1] = ",".join(cells)
    (folder / "supply.csv").write_text("\n".join(text) + "\n")
    only(folder, "supply.csv", 2, "ref_price", "is not a number")


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_nan_and_inf(folder, bad):
    lines = (folder / "demand.csv").read_text().splitlines()
    cells = lines[2].split(",")
    cells[3] = bad
    lines[2] = ",".join(cells)
    (folder / "demand.csv").write_text("\n".join(lines) + "\n")
    only(folder, "demand.csv", 3, "ref_quantity", "finite")


@pytest.mark.parametrize("file, column, value, words", [
    ("supply.csv", 3, "-5", "greater than 0"),      # ref_quantity
    ("supply.csv", 2, "0", "greater than 0"),       # ref_price
    ("supply.csv", 4, "-0.2", "at least 0"),        # supply elasticity
    ("demand.csv", 4, "0.3", "less than 0"),        # demand elasticity
])
def test_out_of_range(folder, file, column, value, words):
    lines = (folder / file).read_text().splitlines()
    cells = lines[1].split(",")
    cells[column] = value
    lines[1] = ",".join(cells)
    (folder / file).write_text("\n".join(lines) + "\n")
    header = lines[0].split(",")
    only(folder, file, 2, header[column], words)


def test_duplicate_key(folder):
    lines = (folder / "supply.csv").read_text().splitlines()
    (folder / "supply.csv").write_text("\n".join(lines + [lines[1]]) + "\n")
    only(folder, "supply.csv", 4, None, "duplicate region/product HOME/wheat (first on row 2)")


def test_unknown_region_and_product(folder):
    edit(folder / "demand.csv", "FOREIGN,wheat", "FORIEGN,wheat")
    edit(folder / "routes.csv", "HOME,FOREIGN,wheat", "HOME,FOREIGN,wheet")
    found = only(folder, "demand.csv", 3, "region", "unknown region 'FORIEGN'")
    assert any("did you mean 'FOREIGN'" in p for p in found)
    assert any("routes.csv" in p and "unknown product 'wheet'" in p for p in found)


def test_missing_source(folder):
    edit(folder / "supply.csv", ",test case\n", ",\n")
    only(folder, "supply.csv", 2, "source", "")


def test_processing_output_must_be_refined(folder):
    (folder / "products.csv").write_text(
        "product,mineral,stage,unit,source\nwheat,wheat,refined,t,x\ngrain,grain,mined,t,x\n")
    (folder / "processing.csv").write_text(
        "region,input,output,yield,unit_cost,capacity,source\nHOME,wheat,grain,1,1,,x\n")
    found = problems(folder)
    assert any("processing.csv, row 2, field 'output': output 'grain' is not a refined product" in p for p in found)
    assert any("field 'input': input 'wheat' is not a mined product" in p for p in found)


def test_route_to_itself(folder):
    edit(folder / "routes.csv", "HOME,FOREIGN,wheat", "HOME,HOME,wheat")
    only(folder, "routes.csv", 3, "destination", "to itself")


def test_observed_flow_above_its_routes_capacity(folder):
    edit(folder / "routes.csv", "tariff_specific,source", "tariff_specific,ref_quantity,capacity,source")
    edit(folder / "routes.csv", "FOREIGN,HOME,wheat,0.0,0.0,0.0,", "FOREIGN,HOME,wheat,0.0,0.0,0.0,,,")
    edit(folder / "routes.csv", "HOME,FOREIGN,wheat,0.0,0.0,0.0,", "HOME,FOREIGN,wheat,0.0,0.0,0.0,50,10,")
    only(folder, "routes.csv", 3, "ref_quantity", "observed flow 50 exceeds the route's capacity 10")


def test_semicolon_delimiter(folder):
    path = folder / "regions.csv"
    path.write_text(path.read_text().replace(",", ";"))
    only(folder, "regions.csv", 1, None, "separated by semicolons")


def test_not_utf8(folder):
    path = folder / "regions.csv"
    path.write_bytes(path.read_bytes().replace(b"HOME,HOME", "HÖME,HOME".encode("latin-1"), 1))
    only(folder, "regions.csv", None, None, "not UTF-8")


def test_all_problems_reported_together(folder):
    edit(folder / "supply.csv", "HOME,wheat", "NOWHERE,wheat")
    edit(folder / "demand.csv", "elasticity", "elasticty")
    found = problems(folder)
    assert len(found) >= 2
    assert any("supply.csv" in p for p in found) or any("demand.csv" in p for p in found)


def test_cli_validate_reports_lines_without_traceback(folder):
    edit(folder / "supply.csv", "HOME,wheat", "NOWHERE,wheat")
    edit(folder / "routes.csv", "tariff_specific", "tarif_specific")
    shutil.copy(folder / "supply.csv", folder / "supply.bak")
    proc = subprocess.run([sys.executable, "-m", "blocmodel.cli", "validate", "--data", str(folder)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert any("routes.csv, row 1, field 'tarif_specific'" in l for l in lines)


# --------------------------------------------------------------------------------------
# Every further class of mistake (issue 9): each names the file, and the row and field
# where there is one.

def replace_cell(path, row, column, value):
    """Set the cell of spreadsheet row `row` (header = 1) under `column`."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row - 1].split(",")
    cells[header.index(column)] = value
    lines[row - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def test_utf16_file_is_named_as_such(folder):
    path = folder / "supply.csv"
    path.write_bytes(path.read_text().encode("utf-16"))
    found = only(folder, "supply.csv", None, None, "is UTF-16 text, not UTF-8")
    assert any("CSV UTF-8" in p for p in found)


def test_latin1_names_the_row_of_the_bad_byte(folder):
    path = folder / "demand.csv"
    path.write_bytes(path.read_text().replace("FOREIGN,wheat", "FÖREIGN,wheat").encode("latin-1"))
    only(folder, "demand.csv", 3, None, "is not UTF-8 text")


def test_nul_byte(folder):
    path = folder / "routes.csv"
    path.write_bytes(path.read_bytes() + b"\x00")
    only(folder, "routes.csv", 4, None, "NUL byte")


def test_tab_delimiter(folder):
    path = folder / "demand.csv"
    path.write_text(path.read_text().replace(",", "\t"))
    only(folder, "demand.csv", 1, None, "separated by tabs")


def test_file_that_cannot_be_read(folder, monkeypatch):
    (folder / "routes.csv").unlink()
    (folder / "routes.csv").mkdir()                 # a folder where the file should be
    only(folder, "routes.csv", None, None, "cannot be read")


def test_permission_denied(folder, monkeypatch):
    from pathlib import Path
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "supply.csv":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    only(folder, "supply.csv", None, None, "cannot be read: Permission denied")


def test_missing_folder(tmp_path):
    with pytest.raises(InputError) as exc:
        load_dataset(tmp_path / "nowhere")
    assert "nowhere: dataset folder not found" in str(exc.value)


def test_empty_file(folder):
    (folder / "products.csv").write_text("")
    only(folder, "products.csv", None, None, "is empty: no header row")


def test_table_with_no_rows(folder):
    path = folder / "regions.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    only(folder, "regions.csv", 2, None, "has no rows")


def test_decimal_comma(folder):
    edit(folder / "supply.csv", "HOME,wheat,1.5", "HOME,wheat,1,5")
    found = only(folder, "supply.csv", 2, None, "has 7 cells, the header has 6")
    assert any("decimal comma" in p for p in found)


def test_unmatched_quote(folder):
    edit(folder / "demand.csv", "HOME,wheat", '"HOME,wheat')
    found = only(folder, "demand.csv", 2, None, "cells, the header has")
    assert any("unmatched" in p for p in found)


@pytest.mark.parametrize("file, row, column, value, words", [
    ("demand.csv", 2, "ref_price", "0", "greater than 0"),
    ("demand.csv", 3, "ref_quantity", "-1", "greater than 0"),
    ("supply.csv", 3, "capacity", "-10", "at least 0"),
    ("routes.csv", 2, "transport_cost", "-0.1", "at least 0"),
    ("routes.csv", 3, "tariff_ad_valorem", "-1.0", "greater than -1"),   # a tariff of −100% or below
    ("routes.csv", 2, "tariff_specific", "abc", "is not a number"),
    ("regions.csv", 2, "region", "HO ME", "letters, digits"),
    ("products.csv", 2, "stage", "smelted", "must be one of"),
])
def test_bad_values_name_file_row_and_field(folder, file, row, column, value, words):
    if column == "capacity":
        edit(folder / "supply.csv", "elasticity,source", "elasticity,capacity,source")
        edit(folder / "supply.csv", ",test case", ",,test case", count=2)
    replace_cell(folder / file, row, column, value)
    only(folder, file, row, column, words)


def write_processing(folder, body):
    (folder / "products.csv").write_text(
        "product,mineral,stage,unit,source\nwheat,wheat,refined,t,x\ngrain,wheat,mined,t,x\n")
    (folder / "processing.csv").write_text("region,input,output,yield,unit_cost,capacity,ref_quantity,elasticity,source\n" + body)


@pytest.mark.parametrize("body, row, field, words", [
    ("HOME,grain,wheat,0,1,,,,x\n", 2, "yield", "greater than 0"),
    ("HOME,grain,wheat,1,-1,,,,x\n", 2, "unit_cost", "at least 0"),
    ("HOME,grain,wheat,1,1,,10,,x\n", 2, "elasticity", "needs both ref_quantity and elasticity"),
    ("HOME,grain,wheat,1,1,,10,-0.5,x\n", 2, "elasticity", "at least 0"),          # a wrong-signed elasticity
    ("HOME,grain,wheat,1,1,,,,x\nHOME,grain,wheat,1,2,,,,x\n", 3, "output", "duplicate region/input/output"),
    ("NOWHERE,grain,wheat,1,1,,,,x\n", 2, "region", "unknown region 'NOWHERE'"),
    ("HOME,grian,wheat,1,1,,,,x\n", 2, "input", "unknown product 'grian'"),
])
def test_processing_problems(folder, body, row, field, words):
    write_processing(folder, body)
    only(folder, "processing.csv", row, field, words)


def test_a_refining_input_nobody_supplies(folder):
    """Refineries of an ore no mine supplies would idle at any ore price, leaving it undetermined."""
    write_processing(folder, "HOME,grain,wheat,1,1,,,,x\n")
    only(folder, "processing.csv", 2, "input", "input 'grain' has no supply in supply.csv, so no refinery can run")


def test_duplicate_route_and_region(folder):
    path = folder / "routes.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + [lines[1]]) + "\n")
    regions = folder / "regions.csv"
    lines = regions.read_text().splitlines()
    regions.write_text("\n".join(lines + [lines[2]]) + "\n")
    found = only(folder, "routes.csv", 4, "product", "duplicate origin/destination/product FOREIGN/HOME/wheat (first on row 2)")
    assert any("regions.csv, row 4, field 'region': duplicate region FOREIGN" in p for p in found)


def test_unknown_names_in_every_table(folder):
    edit(folder / "supply.csv", "HOME,wheat", "HOME,wheet")
    edit(folder / "routes.csv", "FOREIGN,HOME", "FOREING,HOME")
    found = problems(folder)
    assert any("supply.csv, row 2, field 'product': unknown product 'wheet'" in p and "did you mean 'wheat'" in p for p in found)
    assert any("routes.csv, row 2, field 'origin': unknown region 'FOREING'" in p and "did you mean 'FOREIGN'" in p for p in found)


# --------------------------------------------------------------- the two CSV readers
# A regular file is read by pandas' C reader, anything else by Python's csv module (which
# words what is wrong). Where the fast reader accepts a file, both must read the same cells.

_CELL = st.one_of(st.text(alphabet=st.sampled_from(list("ab1., ") + ["é", "\xa0"]), max_size=6),
                  st.text(alphabet=st.sampled_from(list('ab1.,"  \t\n\r') + ["é", "\xa0", "\u2003"]), max_size=6))


def _quoted(cell: str, how: int) -> str:
    """A cell written bare, quoted the proper way, or quoted with a stray quote left in."""
    if how == 0:
        return cell
    if how == 1:
        return '"' + cell.replace('"', '""') + '"'
    return '"' + cell + '"'


@st.composite
def _csv_texts(draw):
    width = draw(st.integers(1, 4))
    lines = [",".join(f"c{k}" for k in range(width))]
    for _ in range(draw(st.integers(0, 6))):
        count = draw(st.sampled_from([width] * 6 + [0, width - 1, width + 1]))
        cells = draw(st.lists(_CELL, min_size=count, max_size=count))
        lines.append(",".join(_quoted(c, draw(st.sampled_from([0, 0, 1, 1, 2]))) for c in cells))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return width, ending.join(lines) + draw(st.sampled_from(["", ending, ending * 2]))


@settings(max_examples=600)         # ~40 of them regular enough for the fast reader; cheap
@given(_csv_texts())
def test_the_fast_reader_reads_what_the_csv_module_reads(case):
    import csv
    import io

    width, text = case
    fast = _regular_records(text.encode(), width)
    if fast is None:
        return
    problems_found = []
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    numbers, columns = _irregular_records("t.csv", rows, width, problems_found)
    assert problems_found == []
    assert fast[0].tolist() == numbers.tolist()
    assert [c.tolist() for c in fast[1]] == [c.tolist() for c in columns]


def test_the_fast_reader_takes_ordinary_files():
    """Quoted cells with commas, doubled quotes, CRLF line ends, padding: still the fast reader,
    and every shipped file is read by it; a blank line or a short row: the csv module."""
    import csv
    import io

    from blocmodel.dataset import DEFAULT_DATA

    text = 'a,b,source\r\n1, 2 ,"USGS, 2025"\r\n"x ""y""",3,é\r\n'
    numbers, columns = _regular_records(text.encode(), 3)
    assert numbers.tolist() == [2, 3]
    assert [c.tolist() for c in columns] == [["1", 'x "y"'], ["2", "3"], ["USGS, 2025", "é"]]
    for file in sorted(DEFAULT_DATA.glob("*.csv")):
        raw = file.read_bytes().removeprefix(b"\xef\xbb\xbf")
        header = next(csv.reader(io.StringIO(raw.decode())))
        assert _regular_records(raw, len(header)) is not None, file.name
    assert _regular_records(b"a,b\n1,2\n\n3,4\n", 2) is None
    assert _regular_records(b"a,b\n1,2\n3\n", 2) is None
    assert _regular_records(b'a,b\n1,"2\n3"\n', 2) is None
    assert _regular_records(b'c0\n1",1"\n', 1) is None          # a quote inside a bare cell is a character
