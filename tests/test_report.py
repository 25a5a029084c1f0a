"""The comparison report: its numbers are the solves' numbers; the HTML renders offline in
headless Chromium with every figure; the workbook reads back."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import blocmodel as bm
from blocmodel.compare import Collection
from blocmodel.indicators import bloc_dependency
from blocmodel.library import library_names, load_design, scenario_set
from blocmodel.report import write_report

DESIGNS = ["full_bloc", "china_ban_response", "bloc_core+cet25"]   # not in alphabetical order on purpose


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    collection = Collection.solve(DESIGNS)
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
        share = bloc_dependency(r, members).set_index("product").at["ndpr_oxide", "non_member_share"]
        assert value(design, "non_member_share|ndpr_oxide") == pytest.approx(share, abs=1e-9)
    members = pd.read_csv(folder / "members.csv")
    usa = members[(members.design == "full_bloc") & (members.region == "USA") & (members.variable == "total|change")]
    assert usa["value"].item() == pytest.approx(
        collection.results["full_bloc"].welfare.set_index("region").at["USA", "total"] - base.welfare.set_index("region").at["USA", "total"], rel=1e-9)
    assert bool(usa["member"].item())


def test_summary_rows_belong_to_their_design(report):
    from blocmodel.report import summary_table
    collection, _ = report
    summary = summary_table(collection).set_index("design")
    base = collection.results["baseline"]
    for design in DESIGNS:
        r = collection.results[design]
        members = r.reference_members()
        change = (r.welfare.set_index("region")["total"] - base.welfare.set_index("region")["total"])[members].sum()
        assert summary.at[design, "bloc welfare Δ (USD m)"] == pytest.approx(change / 1e6, rel=1e-9)
        after = bloc_dependency(r, members).set_index("product").at["ndpr_oxide", "non_member_share"]
        assert summary.at[design, "non-member share ndpr_oxide"].endswith(f"→ {after:.0%}")


def test_the_ban_stops_chinese_rare_earths_to_the_us(report):
    collection, folder = report
    flows = pd.read_csv(folder / "flows.csv")
    banned = flows[(flows.design == "china_ban_response") & (flows.origin == "CHN") & flows.destination.isin(["USA", "JPN"])
                   & flows["product"].isin(["ndpr_oxide", "rare_earths_mined", "graphite_refined", "graphite_mined"])]
    assert banned.empty


def test_workbook_reads_back(report):
    openpyxl = pytest.importorskip("openpyxl")
    _, folder = report
    book = openpyxl.load_workbook(folder / "report.xlsx", read_only=True)
    assert {"summary", "member_gains", "designs", "members", "markets", "flows", "meta"} <= set(book.sheetnames)
    summary = pd.read_excel(folder / "report.xlsx", sheet_name="summary", engine="openpyxl")
    assert list(summary["design"]) == DESIGNS
    meta = pd.read_excel(folder / "report.xlsx", sheet_name="meta", engine="openpyxl").set_index("key")["value"]
    assert "full_bloc" in meta["designs"] and "scenario:full_bloc" in meta.index


def test_html_renders_in_headless_chromium(report):
    _, folder = report
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((folder / "report.html").as_uri())
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
        shot = folder / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert not errors, errors
    assert len(images) == 3 and all(done and w > 100 and h > 100 for done, w, h in images)
    from PIL import Image
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10            # not a blank page
    assert (pixels < 128).mean() > 0.01  # text and figures drawn


def test_every_library_scenario_solves():
    """Each library file, composed onto the ministerial bloc where it needs a bloc, solves and checks."""
    session = bm.Session()
    for name in library_names():
        scenario = load_design(name)
        spec = name if scenario.bloc is not None and scenario.bloc.members or not (scenario.price_floors or scenario.bloc) \
            else f"bloc_ministerial+{name}"
        r = session.solve(load_design(spec))
        assert r.check_report.passed, spec


def test_headline_set_names_library_designs():
    for design in scenario_set("headline"):
        load_design(design)
