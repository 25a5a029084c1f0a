"""The comparison report: its numbers are the solves' numbers; the findings say what the
results say, with units; the HTML fits 1,400 and 800 px windows in headless Chromium,
opens with the findings, names countries and never prints -0.0; the workbook reads back
with frozen headers, number formats and numeric shares, designs in one order."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import blocmodel as bm
from blocmodel.compare import Collection, on_baseline
from blocmodel.findings import key_findings, money, unit_price
from blocmodel.indicators import bloc_dependency
from blocmodel.library import library_names, load_design, scenario_set, scenario_set_options
from blocmodel.report import summary_table, write_report

DESIGNS = ["full_bloc", "china_ban_response", "bloc_core+cet25", "bloc_ministerial+floor_ndpr_deficiency_payment"]  # not sorted on purpose
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    options = scenario_set_options("headline")
    collection = Collection.solve(DESIGNS, key_products=options["key_products"], focus=options["focus"])
    folder = tmp_path_factory.mktemp("report")
    write_report(collection, folder)
    return collection, folder


def test_design_numbers_are_the_solves(report):
    collection, folder = report
    designs = pd.read_csv(folder / "designs.csv")
    value = lambda d, v: designs[(designs.design == d) & (designs.variable == v)]["value"].item()  # noqa: E731
    base = collection.results["baseline"]
    for design in DESIGNS:
        r = collection.results[design]
        members = r.reference_members()
        change = r.welfare.set_index("region")["total"] - base.welfare.set_index("region")["total"]
        assert value(design, "welfare|bloc|change") == pytest.approx(change[members].sum(), rel=1e-9)
        assert value(design, "welfare|world|change") == pytest.approx(change.sum(), rel=1e-9, abs=1e-3)
        assert value(design, "welfare|focus|change") == pytest.approx(change["CHN"], rel=1e-9, abs=1e-3)
        share = bloc_dependency(r, members).set_index("product").at["ndpr_oxide", "non_member_share"]
        assert value(design, "non_member_share|ndpr_oxide") == pytest.approx(share, abs=1e-9)
        # the baseline's dependency is measured with the design's own members
        before = bloc_dependency(base, members).set_index("product").at["ndpr_oxide", "non_member_share"]
        assert value(design, "non_member_share|ndpr_oxide|baseline") == pytest.approx(before, abs=1e-9)
        assert value(design, "members") == len(members)
    units = designs.set_index("variable")["unit"]
    assert units["price|ndpr_oxide|members"].iloc[0] == "USD/t" and "USD/unit" not in set(designs["unit"])
    members = pd.read_csv(folder / "members.csv")
    usa = members[(members.design == "full_bloc") & (members.region == "USA") & (members.variable == "total|change")]
    assert usa["value"].item() == pytest.approx(
        collection.results["full_bloc"].welfare.set_index("region").at["USA", "total"] - base.welfare.set_index("region").at["USA", "total"], rel=1e-9)
    assert bool(usa["member"].item())
    assert set(members.loc[members["no_data"], "region"]) == set(collection.data.no_data_regions)


def test_summary_rows_are_numbers_of_their_design(report):
    collection, _ = report
    summary = summary_table(collection).set_index("design")
    assert list(summary.index) == DESIGNS
    base = collection.results["baseline"]
    for design in DESIGNS:
        r = collection.results[design]
        members = r.reference_members()
        change = (r.welfare.set_index("region")["total"] - base.welfare.set_index("region")["total"])[members].sum()
        assert summary.at[design, "bloc welfare change (USD m/yr)"] == pytest.approx(change / 1e6, rel=1e-9)
        after = bloc_dependency(r, members).set_index("product").at["ndpr_oxide", "non_member_share"]
        assert summary.at[design, "non-member share of use, NdPr oxide, after (share)"] == pytest.approx(after, abs=1e-12)
        assert isinstance(summary.at[design, "members (regions)"], (int, np.integer))
        gaining, losing = summary.at[design, "members gaining (regions)"], summary.at[design, "members losing (regions)"]
        no_data = summary.at[design, "members with no data (regions)"]
        assert gaining + losing + no_data <= len(members) and no_data == len(set(members) & set(collection.data.no_data_regions))


def test_the_ban_stops_chinese_rare_earths_to_the_us(report):
    collection, folder = report
    flows = pd.read_csv(folder / "flows.csv")
    banned = flows[(flows.design == "china_ban_response") & (flows.origin == "CHN") & flows.destination.isin(["USA", "JPN"])
                   & flows["product"].isin(["ndpr_oxide", "rare_earths_mined", "graphite_refined", "graphite_mined"])]
    assert banned.empty
    assert (flows["quantity"] > 0).all()


# ------------------------------------------------------------------ findings
UNITS = ("bn USD", "m USD", "USD", "%", "member markets", "markets")
NUMBER = re.compile(r"(?<![\w.])[+−-]?\d[\d,]*(?:\.\d+)?")


def test_findings_sentences_have_units_and_the_solves_numbers(report):
    """3–6 sentences per design; every number carries a unit; the members' welfare change,
    the deficiency payments and the floor's prices are the solves' (recomputed here)."""
    collection, _ = report
    base = collection.results["baseline"]
    for design in DESIGNS:
        r = collection.results[design]
        sentences = key_findings(r, base, focus="CHN")
        assert 3 <= len(sentences) <= 6, (design, sentences)
        for sentence in sentences:
            for match in NUMBER.finditer(sentence):
                rest = sentence[match.end():].lstrip()
                assert rest.startswith(UNITS) or re.match(r"^(USD/\w+|t\b|–)", rest), (design, sentence, match.group())
        members = r.reference_members()
        change = float((r.welfare.set_index("region")["total"] - base.welfare.set_index("region")["total"])[members].sum())
        assert money(abs(change), signed=False) in sentences[0]
        assert "China" in " ".join(sentences) and "CHN" not in " ".join(sentences)
    r = collection.results["bloc_ministerial+floor_ndpr_deficiency_payment"]
    text = " ".join(key_findings(r, base, focus="CHN"))
    s = r.supply_detail
    paid = float((s["deficiency_payment"] * s["quantity"]).sum()) + float(
        (r.refining_detail["deficiency_payment"] * r.refining_detail["output_quantity"]).sum())
    assert paid > 0 and f"treasuries pay the gap, {money(paid, signed=False)} a year" in text
    assert "they get 110 USD/kg" in text            # producers under the payment get the floor
    r = collection.results["full_bloc"]
    floors = r.floors[(r.floors["product"] == "ndpr_oxide") & (r.floors["status"] == "prohibitive")]
    text = " ".join(key_findings(r, base, focus="CHN"))
    low, high = unit_price(r, "ndpr_oxide", floors["buyers_price"].min()), unit_price(r, "ndpr_oxide", floors["buyers_price"].max())
    assert "prohibitive" in text and low.split(" ")[0] in text and high in text


def test_money_and_prices_read_as_negotiators_quote_them():
    assert money(1.234e9) == "+1.2 bn USD" and money(-35e6) == "−35 m USD" and money(4e5) == "+0.4 m USD"
    assert money(-0.2) == "0 USD" and money(0.0) == "0 USD"
    data = bm.load_dataset()
    assert unit_price(data, "ndpr_oxide", 110_000) == "110 USD/kg"
    assert unit_price(data, "graphite_refined", 1_950) == "1,950 USD/t"
    assert unit_price(data, "lithium_refined", 74_518) == "74.5 USD/kg"


# ------------------------------------------------------------------ workbook
def test_workbook_has_frozen_headers_formats_and_numeric_shares(report):
    openpyxl = pytest.importorskip("openpyxl")
    collection, folder = report
    book = openpyxl.load_workbook(folder / "report.xlsx")
    expected = {"summary", "findings", "member_gains", "floors", "dependency", "designs", "members", "markets", "flows",
                "scenarios", "units", "meta"}
    assert expected <= set(book.sheetnames)
    for sheet in book.worksheets:
        assert sheet.freeze_panes is not None and sheet.freeze_panes.endswith("2"), sheet.title    # header row frozen
        assert sheet.auto_filter.ref, sheet.title
        assert (sheet.column_dimensions["A"].width or 0) > 8, sheet.title
    summary = book["summary"]
    header = [c.value for c in summary[1]]
    share_columns = [i for i, h in enumerate(header) if h.endswith("(share)")]
    money_columns = [i for i, h in enumerate(header) if h.endswith("(USD m/yr)")]
    assert share_columns and money_columns
    for row in summary.iter_rows(min_row=2):
        for i in share_columns:
            assert isinstance(row[i].value, (int, float)) and 0 <= row[i].value <= 1 and "%" in row[i].number_format
        for i in money_columns:
            assert isinstance(row[i].value, (int, float)) and "#,##0.0" in row[i].number_format
        assert isinstance(row[header.index("members (regions)")].value, int)
    # one design order on every sheet
    assert [r[0].value for r in summary.iter_rows(min_row=2)] == DESIGNS
    gains = [c.value for c in book["member_gains"][1]][3:]
    assert [g.split(". ", 1)[0] for g in gains] == [str(i + 1) for i in range(len(DESIGNS))]
    assert [c.value for c in book["designs"][1]][2:] == DESIGNS
    assert [c.value for c in book["markets"][1]][3:] == ["baseline"] + DESIGNS
    findings_order = list(dict.fromkeys(r[0].value for r in book["findings"].iter_rows(min_row=2)))
    assert findings_order == DESIGNS
    dependency = book["dependency"]
    head = [c.value for c in dependency[1]]
    for row in dependency.iter_rows(min_row=2, max_row=40):
        value = row[head.index("after (share)")].value
        assert value is None or isinstance(value, (int, float))
    # scenario definitions as rows, not JSON strings
    rows = [(r[0].value, r[1].value, r[2].value) for r in book["scenarios"].iter_rows(min_row=2)]
    assert ("full_bloc", "bloc.external_tariff_ad_valorem", "0.25") in rows
    assert not any(str(v).startswith("{") for _, _, v in rows)


# ------------------------------------------------------------------ browser
def _chromium():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    return chromium


@pytest.mark.parametrize("width", [1400, 800])
def test_html_fits_the_window_opens_with_findings_and_names_countries(report, width):
    _, folder = report
    chromium = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((folder / "report.html").as_uri())
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        first = page.evaluate("[document.querySelector('section').id, document.querySelector('section h2').innerText]")
        text = page.evaluate("document.body.innerText")
        tooltips = page.eval_on_selector_all("span.code", "els => els.map(e => [e.innerText, e.title])")
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
        shot = folder / f"report_{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert not errors, errors
    assert scroll_width <= width
    assert first == ["findings", "Key findings"]
    assert not re.search(r"[-−]0(?:\.0+)?(?![\d.,])", text), re.search(r".{30}[-−]0(?:\.0+)?(?![\d.,]).{30}", text).group()
    for name in ("China", "United States", "Japan", "Germany", "Malaysia"):
        assert name in text
    assert ["China", "CHN"] in tooltips and ["United States", "USA"] in tooltips
    assert "no data" in text and "Glossary" in text
    assert images and all(done and w > 100 and h > 100 for done, w, h in images)
    from PIL import Image
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.005     # not blank: text and figures drawn


# ------------------------------------------------------------------ baselines and the library
def test_status_quo_baseline_measures_each_design_on_top_of_it():
    """A design against the 2025 status quo is the status quo plus the design; its welfare
    change is (status quo + design) − status quo, recomputed here from two cold solves."""
    session = bm.Session()
    collection = Collection.solve(["china_ban"], session=session, baseline="status_quo_2025", key_products=["ndpr_oxide"])
    assert collection.baseline == "status_quo_2025" and collection.designs == ["china_ban"]
    composed = collection.results["china_ban"].scenario
    quotas = [e for e in composed.export_restrictions if e.quota is not None and e.product == "graphite_refined"]
    assert len(quotas) == 1 and not {"USA", "JPN"} & set(quotas[0].destinations) and "KOR" in quotas[0].destinations
    assert all(e.source for e in composed.export_restrictions[:5])          # the status quo's entries keep their source
    alone = bm.solve(None, composed)
    status_quo = bm.solve(None, "status_quo_2025")
    expected = (alone.welfare.set_index("region")["total"] - status_quo.welfare.set_index("region")["total"]).sum()
    got = collection.design_table().set_index("variable").loc["welfare|world|change", "value"]
    assert got == pytest.approx(expected, rel=1e-6, abs=1.0)


def test_status_quo_entries_are_sourced_and_the_scenario_solves():
    scenario = load_design("status_quo_2025")
    entries = [e for key in ("tariffs", "anti_dumping", "export_restrictions") for e in getattr(scenario, key)]
    assert entries and all(e.source for e in entries)
    r = bm.solve(None, scenario)
    assert r.check_report.passed
    flows = r.flows
    assert flows[(flows.origin == "CHN") & (flows.destination == "USA") & flows["product"].isin(["gallium_refined", "germanium_refined"])].empty


def test_on_baseline_leaves_other_entries_alone():
    data = bm.load_dataset()
    base, design = load_design("status_quo_2025"), load_design("full_bloc")
    composed = on_baseline(base, design, data)
    assert composed.name == "full_bloc" and composed.title == design.title
    assert composed.export_restrictions == base.export_restrictions and composed.tariffs == base.tariffs + design.tariffs


def test_every_library_scenario_solves():
    """Each library file, composed onto the ministerial bloc where it needs a bloc, solves and checks."""
    session = bm.Session()
    for name in library_names():
        scenario = load_design(name)
        spec = name if scenario.bloc is not None and scenario.bloc.members or not (scenario.price_floors or scenario.bloc) \
            else f"bloc_ministerial+{name}"
        r = session.solve(load_design(spec))
        assert r.check_report.passed, spec


def test_headline_set_names_library_designs_and_products():
    data = bm.load_dataset()
    for design in scenario_set("headline"):
        load_design(design)
    options = scenario_set_options("headline")
    assert set(options["key_products"]) <= set(data.product_codes) and options["focus"] in data.region_codes


def test_no_shipped_names_in_the_report_code():
    """Which products and which outsider the report watches come from the data and the set."""
    source = (Path(bm.__file__).parent / "report.py").read_text() + (Path(bm.__file__).parent / "compare.py").read_text()
    assert "ndpr_oxide" not in source and "'CHN'" not in source and '"CHN"' not in source and "KEY_PRODUCTS" not in source
