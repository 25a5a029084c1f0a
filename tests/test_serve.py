"""The negotiation table (`blocmodel serve`).

- Unit: a design's link, scenario and TOML say the same thing; percentages and units become
  what the scenario takes; problems land on the form field they came from; sessions are
  bounded and end when idle; an infeasible design names its conflict; a public host warns.
- Server (a real `blocmodel serve` on a free port, spoken to over HTTP): the exported TOML,
  solved by `blocmodel solve`, gives the app's welfare figures; a bad floor gets the CLI's
  own message; at most four pins.
- Browser (headless Chromium, by clicking; skipped without Chromium): the negotiator's
  path through the app, and two users at once each seeing their own design.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import markupsafe
import pandas as pd
import pytest

from blocmodel.scenario import load_scenario, scenario_from_dict
from blocmodel.web.design import Design, DutyRow, FieldMap, FloorRow, field_of
from blocmodel.web.sessions import SessionStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
browser = pytest.mark.browser


# ------------------------------------------------------------------ unit
def test_design_link_round_trip():
    """A design read back from its own link is the same design; the link is short and readable."""
    design = Design(title="MSP + Chile, NdPr 110", horizon="short_run", members=["AUS", "EU", "CHL"], external_tariff="25",
                    floors=[FloorRow(price="110"), FloorRow(product="graphite_refined", price="2.5", mechanism="stockpile", budget="500")],
                    duties=[DutyRow(rate="93.5")], ban=["gallium", "germanium"], ban_to="USA")
    query = design.to_query()
    assert "members=AUS,EU,CHL" in query and "floor-0-price=110" in query and "ban=gallium,germanium" in query
    again = Design.from_fields(urllib.parse.parse_qsl(query))
    assert again == design
    # a form posts members one by one: the same design
    form = [("members", "AUS"), ("members", "EU"), ("members", "CHL")] + [
        (k, v) for k, v in urllib.parse.parse_qsl(query) if k != "members"]
    assert Design.from_fields(form) == design
    # a row left at its defaults survives the trip
    plain = Design(floors=[FloorRow()])
    assert Design.from_fields(urllib.parse.parse_qsl(plain.to_query())) == plain


def test_scenario_units_and_percentages():
    """The form speaks percent, USD/kg and USD m; the scenario takes fractions, a unit, and USD:
    25 % -> 0.25; 93.5 % -> 0.935; 110 USD/kg -> price 110 with unit USD/kg; 52,500 USD/t on a
    product priced per t -> the bare number (so the scale check applies); a budget of 500 USD m
    -> 5e8 USD; a floor row with no level is left out; text that is no number is passed on as typed."""
    units = {"ndpr_oxide": "t NdPr oxide", "graphite_refined": "t battery-grade graphite"}
    design = Design(members=["USA"], external_tariff="25",
                    floors=[FloorRow(price="110"), FloorRow(price=""), FloorRow(product="graphite_refined", price="52,500", unit="USD/t",
                                                                            mechanism="stockpile", budget="500", burden_sharing="consumption")],
                    duties=[DutyRow(rate="93.5")])
    content, fmap = design.scenario(units)
    assert content["bloc"] == {"members": ["USA"], "external_tariff_ad_valorem": 0.25}
    assert content["price_floors"][0] == {"product": "ndpr_oxide", "price": 110.0, "unit": "USD/kg", "markets": ["bloc"],
                                          "mechanism": "variable_levy"}
    assert content["price_floors"][1] == {"product": "graphite_refined", "price": 52500.0, "markets": ["bloc"], "mechanism": "stockpile",
                                          "budget": 5e8, "burden_sharing": "consumption"}
    assert content["anti_dumping"] == [{"exporter": "China", "importer": "bloc", "product": "graphite_refined", "ad_valorem": 0.935}]
    assert fmap.floors == [0, 2]
    assert Design(external_tariff="abc").scenario(units)[0]["bloc"]["external_tariff_ad_valorem"] == "abc"
    assert Design(floors=[FloorRow(price="1l0")]).scenario(units)[0]["price_floors"][0]["price"] == "1l0"


def test_toml_is_the_scenario(tmp_path):
    """The exported TOML, read as `blocmodel solve` reads it, is the scenario the app solves."""
    design = Design(title="Quad, levy floor", members=["quad", "Chile"], external_tariff="10", floors=[FloorRow(price="95")],
                    duties=[DutyRow(rate="20")], ban=["rare_earths"], horizon="short_run")
    units = {"ndpr_oxide": "t NdPr oxide"}
    path = tmp_path / "design.toml"
    path.write_text(design.to_toml(units))
    from_file = load_scenario(path)
    content, _ = design.scenario(units)
    assert from_file.policy_dict() == scenario_from_dict(content).policy_dict()
    assert from_file.name == "quad_levy_floor" and from_file.title == "Quad, levy floor"
    assert tomllib.loads(path.read_text())["price_floors"][0]["price"] == 95.0


def test_problems_land_on_their_form_field():
    """Scenario keys count only the rows that made it into the scenario: with the form's first
    floor blank, price_floors[0] is the form's second floor row."""
    fmap = FieldMap(floors=[1, 2], duties=[0])
    assert field_of("price_floors[0].price", fmap) == "floor-1-price"
    assert field_of("price_floors[1].markets[0]", fmap) == "floor-2-markets"
    assert field_of("price_floors[1]", fmap) == "floor-2-price"
    assert field_of("price_floors[1].budget", fmap) == "floor-2-budget"
    assert field_of("anti_dumping[0].ad_valorem", fmap) == "duty-0-rate"
    assert field_of("bloc", fmap) == "external_tariff"
    assert field_of("bloc.members[3]", fmap) == "members"
    assert field_of("export_restrictions[0].destinations[0]", fmap) == "ban_to"
    assert field_of("price_floors[5].price", fmap) is None and field_of(None, fmap) is None


def test_sessions_are_bounded_and_idle_sessions_end():
    now = [0.0]
    store = SessionStore(max_sessions=2, idle_seconds=600, clock=lambda: now[0])
    a, b = store.create(), store.create()
    assert store.get(a.token) is a and len(store) == 2
    now[0] = 30.0
    assert store.create() is None                      # full, and both were active in the last minute
    now[0] = 120.0
    store.get(b.token)                                 # b is active, a has been idle 120 s
    c = store.create()                                 # a, idle longest, makes room
    assert c is not None and store.get(a.token) is None and len(store) == 2
    now[0] = 120.0 + 601.0
    assert store.get(b.token) is None                  # idle past the limit: ended
    assert store.purge() == 1 and len(store) == 0 and store.ended == 3


def test_infeasible_design_names_the_conflict(ko):
    """A capacity factor of 0.5 caps output at half the reference output (HOME 20 + 20·1.5 = 50 -> 25,
    FOREIGN 40 + 30 = 70 -> 35): 60 in all, 440 short of a fixed purchase of 500 by HOME, so no
    equilibrium exists. The page says so and names the conflict, as `InfeasibleError.conflicts` does."""
    from blocmodel.web.model import SharedModel
    from blocmodel.web.server import environment

    class Stressed(Design):
        def scenario(self, product_unit=None, description=None):
            content, fmap = super().scenario(product_unit, description)
            content["supply_shocks"] = [{"region": "*", "capacity_factor": 0.5}]
            content["stockpile"] = [{"region": "HOME", "product": "wheat", "quantity": 500}]
            return content, fmap

    model = SharedModel(ko, engines=1)
    outcome = model.evaluate(Stressed())
    assert not outcome.ok and outcome.conflicts
    conflict = outcome.conflicts[0]
    assert "HOME" in conflict and "wheat" in conflict and "by 440 " in conflict
    html = environment(None).get_template("_results.html").render(o=outcome, view=None, design=outcome.design, deltas={},
                                                                  query="", stale=True, pinned=0)
    assert "No equilibrium exists for this design" in html and f"<li>{markupsafe.escape(conflict)}</li>" in html


def test_public_host_warns(monkeypatch):
    """Binding anything but the loopback address prints a warning: the app has no authentication."""
    import uvicorn

    from blocmodel.web import server

    class Model:
        class data:
            regions, products = range(3), range(2)

    class App:
        class state:
            model = Model

    said = []
    monkeypatch.setattr(server, "_port_free", lambda host, port: None)
    monkeypatch.setattr(server, "create_app", lambda *a, **k: App)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    server.serve(host="0.0.0.0", port=8123, echo=lambda text, err=False: said.append((text, err)))
    assert said[0][1] and "no authentication" in said[0][0] and "0.0.0.0" in said[0][0]
    said.clear()
    server.serve(host="127.0.0.1", port=8123, echo=lambda text, err=False: said.append((text, err)))
    assert not any("warning" in text for text, _ in said)


# ------------------------------------------------------------------ server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """`blocmodel serve` on a free port, with a small session limit; stopped afterwards."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "blocmodel.cli", "serve", "--port", str(port), "--max-sessions", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"blocmodel serve did not start: {proc.stdout.read()}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


class Client:
    """A browser without a browser: cookies kept, forms posted."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[str, dict]:
        with self.opener.open(self.base + path, timeout=120) as r:
            return r.read().decode(), dict(r.headers)

    def post(self, path: str, fields: list[tuple[str, str]]) -> tuple[str, dict]:
        body = urllib.parse.urlencode(fields).encode()
        with self.opener.open(urllib.request.Request(self.base + path, data=body, method="POST"), timeout=120) as r:
            return r.read().decode(), dict(r.headers)


def member_value(html: str, region: str) -> float:
    match = re.search(rf'<tr data-region="{region}" data-value="([^"]+)"', html)
    assert match, f"no welfare row for {region}"
    return float(match[1])


def problems_of(html: str) -> list[dict]:
    return json.loads(re.search(r'<script type="application/json" class="problems-data">(.*?)</script>', html, re.S)[1])


def solve_cli(toml_text: str, folder: Path) -> pd.DataFrame:
    """`blocmodel solve --scenario` of an exported design: its welfare changes by region."""
    path = folder / "exported.toml"
    path.write_text(toml_text)
    proc = subprocess.run([sys.executable, "-m", "blocmodel.cli", "solve", "--scenario", str(path), "--out", str(folder / "out")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return pd.read_csv(folder / "out" / "welfare_change.csv").set_index("region")


def test_exported_toml_reproduces_the_apps_numbers(server, tmp_path):
    """The design's TOML, solved by `blocmodel solve`, gives each member the app's welfare change (1e-6 relative)."""
    client = Client(server)
    design = Design(members=["msp", "CHL"], floors=[FloorRow(price="110", mechanism="price_support")], external_tariff="5")
    html, _ = client.get("/?" + design.to_query())
    toml_text, headers = client.get("/design.toml?" + design.to_query())
    assert "attachment" in headers["content-disposition"]
    change = solve_cli(toml_text, tmp_path)
    for region in ("CHL", "USA", "JPN", "DEU"):
        assert member_value(html, region) == pytest.approx(change.at[region, "total"], rel=1e-6)
    bloc = float(re.search(r'data-metric="bloc" data-value="([^"]+)"', html)[1])
    members = re.findall(r'<tr data-region="(\w+)" data-value', html.split('id="other-welfare"')[0])
    assert "CHL" in members and "CHN" not in members
    assert bloc == pytest.approx(change.loc[members, "total"].sum(), rel=1e-6)


def test_invalid_floor_gets_the_clis_message(server, tmp_path):
    """A floor typed as '1l0', or 110 in USD/t on NdPr oxide, gets next to its field the very message
    `blocmodel validate` prints for the same scenario file."""
    client = Client(server)
    for price, unit, words in (("1l0", "USD/kg", "a price is a number"), ("110", "USD/t", "did you mean '110 USD/kg'")):
        design = Design(members=["msp"], floors=[FloorRow(), FloorRow(price=price, unit=unit)])   # the first row left blank
        html, _ = client.post("/solve", design.fields())
        problems = problems_of(html)
        assert [p["field"] for p in problems] == ["floor-1-price"]
        assert words in problems[0]["message"]
        path = tmp_path / "bad.toml"
        path.write_text(design.to_toml({"ndpr_oxide": "t NdPr oxide"}))
        proc = subprocess.run([sys.executable, "-m", "blocmodel.cli", "validate", "--scenario", str(path)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and problems[0]["message"] in proc.stderr


def test_at_most_four_pins(server):
    client = Client(server)
    for k in range(5):
        html, _ = client.post("/pin", Design(title=f"Tariff {k}", members=["g7"], external_tariff=str(k)).fields())
    assert html.count('data-pin="') == 4 and "4 designs are pinned" in html
    health = json.loads(client.get("/healthz")[0])
    assert 1 <= health["sessions"] <= health["max_sessions"] == 20


# ------------------------------------------------------------------ browser
@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        yield b
        b.close()


def _settled(page, timeout=60_000):
    """Wait until no request is in flight and the results panel is not busy."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')", timeout=timeout)


def _titled(page, words: str) -> None:
    """Wait until the link in the address bar carries the design's new name."""
    page.wait_for_function("(w) => decodeURIComponent(location.search.replace(/\\+/g, ' ')).includes(w)"
                           " && !document.querySelector('.htmx-request')", arg=words, timeout=30_000)


def _bloc(page) -> str:
    return page.get_attribute('[data-metric="bloc"]', "data-value")


def _change_and_wait(page, action, timeout=60_000):
    """Do `action` and wait for the results panel to show a different bloc welfare figure."""
    before = _bloc(page)
    action()
    page.wait_for_function("(b) => { const e = document.querySelector('[data-metric=\"bloc\"]');"
                           " return e && e.dataset.value !== b && !document.querySelector('.htmx-request'); }",
                           arg=before, timeout=timeout)


@browser
def test_negotiator_flow(server, chromium, tmp_path):
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    _settled(page)

    # the MSP bloc, then Chile into it
    page.click('button[data-group="msp"]')
    page.wait_for_selector('#member-welfare tr[data-region="USA"]')
    _settled(page)
    assert page.is_checked('input[name="members"][value="EU"]') and not page.is_checked('input[name="members"][value="CHL"]')
    page.fill("#member-filter", "chile")
    assert page.is_hidden('label.member:has(input[value="USA"])')
    _change_and_wait(page, lambda: page.check('input[name="members"][value="CHL"]'))
    page.wait_for_selector('#member-welfare tr[data-region="CHL"]')
    page.fill("#member-filter", "")

    # an NdPr floor of 110 USD/kg
    page.click("text=+ Add a price floor")
    page.wait_for_selector('input[name="floor-0-price"]')
    _settled(page)
    assert page.input_value('select[name="floor-0-product"]') == "ndpr_oxide" and page.input_value('select[name="floor-0-unit"]') == "USD/kg"
    _change_and_wait(page, lambda: page.fill('input[name="floor-0-price"]', "110"))
    assert "NdPr oxide" in page.inner_text(".floors-out") and "110 USD/kg" in page.inner_text(".floors-out")
    assert page.inner_text(".findings li >> nth=0").startswith(("Members gain", "Members lose"))
    chile = float(page.get_attribute('#member-welfare tr[data-region="CHL"]', "data-value"))
    bloc = float(_bloc(page))

    # the exported TOML, solved by the CLI, gives the same numbers
    with page.expect_download() as download:
        page.click("#export-toml")
    toml_path = tmp_path / "exported.toml"
    download.value.save_as(toml_path)
    change = solve_cli(toml_path.read_text(), tmp_path)
    assert chile == pytest.approx(change.at["CHL", "total"], rel=1e-6)
    members = page.eval_on_selector_all("#member-welfare tbody tr", "rows => rows.map(r => r.dataset.region)")
    assert bloc == pytest.approx(change.loc[members, "total"].sum(), rel=1e-6)

    # pin two designs and compare them
    page.fill("#title", "MSP + Chile, NdPr 110")
    _titled(page, "NdPr 110")
    page.click("#pin")
    page.wait_for_selector('#compare-table th[data-pin]')
    first = page.inner_text('[data-metric="bloc"] .big')
    _change_and_wait(page, lambda: page.fill('input[name="floor-0-price"]', "90"))
    page.fill("#title", "MSP + Chile, NdPr 90")
    _titled(page, "NdPr 90")
    second = page.inner_text('[data-metric="bloc"] .big')
    page.click("#pin")
    page.wait_for_function("() => document.querySelectorAll('#compare-table th[data-pin]').length === 2")
    heads = page.eval_on_selector_all("#compare-table th[data-pin] .pin-name", "e => e.map(x => x.textContent)")
    assert heads == ["MSP + Chile, NdPr 110", "MSP + Chile, NdPr 90"]
    cells = page.eval_on_selector_all('#compare-table tr[data-row="Bloc welfare change"] td', "e => e.map(x => x.textContent)")
    assert cells == [first, second] and first != second
    floors = page.eval_on_selector_all('#compare-table tr[data-row="Price floors"] td', "e => e.map(x => x.textContent)")
    assert "NdPr oxide 110 USD/kg by variable levy" in floors[0] and "NdPr oxide 90.0 USD/kg by variable levy" in floors[1]

    # the shared link reproduces the design
    link = page.url
    assert "floor-0-price=90" in link and "CHL" in link
    other = context.new_page()
    other.goto(link)
    _settled(other)
    assert other.input_value('input[name="floor-0-price"]') == "90" and other.input_value("#title") == "MSP + Chile, NdPr 90"
    assert other.is_checked('input[name="members"][value="CHL"]') and other.is_checked('input[name="members"][value="USA"]')
    assert _bloc(other) == _bloc(page)
    other.close()

    # an invalid floor: the message next to the field
    page.fill('input[name="floor-0-price"]', "1l0")
    error = page.locator('#floor-0 .field-error[data-for="floor-0-price"]')
    error.wait_for(state="visible", timeout=30_000)
    assert "a price is a number or 'NUMBER USD/UNIT'" in error.inner_text()
    assert page.get_attribute('input[name="floor-0-price"]', "aria-invalid") == "true"
    assert page.get_attribute("#results", "data-state") == "problems"
    assert not errors
    context.close()


@browser
def test_two_users_at_once(server, chromium):
    """Two browsers change their designs at the same moment; each sees its own members and numbers,
    equal to a solve of its own design, and its own pins."""
    import blocmodel as bm
    from blocmodel.web.views import design_view

    a_context, b_context = chromium.new_context(), chromium.new_context()
    a, b = a_context.new_page(), b_context.new_page()
    a.goto(server + "/?" + Design(members=["msp"], floors=[FloorRow()]).to_query())
    b.goto(server + "/?" + Design(members=["g7"], floors=[FloorRow()]).to_query())
    _settled(a)
    _settled(b)
    before_a, before_b = _bloc(a), _bloc(b)
    a.fill('input[name="floor-0-price"]', "120")          # both requests are in flight together
    b.fill('input[name="floor-0-price"]', "80")
    for page, before in ((a, before_a), (b, before_b)):
        page.wait_for_function("(v) => document.querySelector('[data-metric=\"bloc\"]').dataset.value !== v"
                               " && !document.querySelector('.htmx-request')", arg=before, timeout=60_000)
    a.click("#pin")
    a.wait_for_selector("#compare-table th[data-pin]")

    session = bm.Session()
    units = dict(session.data.unit)
    for page, design in ((a, Design(members=["msp"], floors=[FloorRow(price="120")])),
                         (b, Design(members=["g7"], floors=[FloorRow(price="80")]))):
        results = session.solve(scenario_from_dict(design.scenario(units)[0]))
        baseline = session.solve(results.scenario.baseline_scenario())
        expected = design_view(results, baseline)
        shown = page.eval_on_selector_all("#member-welfare tbody tr", "rows => rows.map(r => r.dataset.region)")
        assert sorted(shown) == expected.members
        assert float(_bloc(page)) == pytest.approx(expected.headline["bloc"], rel=1e-6)
    assert b.locator("#compare-table").count() == 0 and "0 of 4 pinned" in b.inner_text("#compare")
    a_context.close()
    b_context.close()


def test_reports_export(server):
    """A design exports as the comparison report's workbook; the pinned designs as its HTML page."""
    import io

    openpyxl = pytest.importorskip("openpyxl")
    client = Client(server)
    design = Design(title="G7 levy", members=["g7"], floors=[FloorRow(price="100")])
    body = client.opener.open(server + "/report.xlsx?" + design.to_query(), timeout=600).read()
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    assert "summary" in book.sheetnames
    cells = [str(c) for row in book["summary"].iter_rows(values_only=True) for c in row if c is not None]
    assert any("g7_levy" in c or "G7 levy" in c for c in cells)
    for tariff in ("5", "15"):
        client.post("/pin", Design(title=f"Quad tariff {tariff}", members=["quad"], external_tariff=tariff).fields())
    html, headers = client.get("/pinned/report.html")
    assert headers["content-type"].startswith("text/html") and "<img" in html
    assert all(("Quad tariff " + t) in html or f"quad_tariff_{t}" in html for t in ("5", "15"))
