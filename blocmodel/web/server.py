"""The negotiation table's web app: a small ASGI app (Starlette) rendering Jinja2 templates,
with htmx swapping the parts of the page that change.

Routes:
    GET  /                       the page; the query string is the design (a shared link)
    POST /solve                  the form -> the results panel (and the design's link in the URL bar)
    POST /edit                   add/remove a floor or duty row, pick a group -> the form and the results
    POST /pin, POST /unpin/{id}  pin the current design / drop a pin -> the comparison table
    GET  /design.toml?…          the design as a scenario TOML for `blocmodel solve --scenario`
    GET  /report.html?…, /report.xlsx?…      the comparison report of the design against no policy
    GET  /pinned/report.html, /pinned/report.xlsx   the report of every pinned design
    GET  /healthz                sessions, engines and cache sizes

Solves run in worker threads; a user's requests are handled one at a time and a request
that a newer one from the same user has overtaken is dropped before it solves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import tempfile
import time
from html import escape
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .design import BAN_DESTINATIONS, MAX_DUTIES, MAX_FLOORS, MECHANISMS, Design, DutyRow, FloorRow
from .model import Outcome, SharedModel
from .sessions import MAX_PINNED, Pin, SessionStore, UserState
from .views import product_label, short_name, usd_m

HERE = Path(__file__).parent
COOKIE = "blocmodel_session"
GROUP_BUTTONS = [("ministerial2026", "Ministerial (all 56)"), ("msp", "MSP / FORGE"), ("g7", "G7"), ("quad", "Quad"), ("eu", "EU")]
BAN_MINERALS = ["rare_earths", "graphite", "gallium", "germanium", "lithium", "cobalt", "nickel", "manganese", "copper"]
log = logging.getLogger(__name__)


def default_design(catalogue: Catalogue) -> Design:
    """What a first visit shows: the MSP / FORGE members as a bloc, no instrument yet."""
    return Design(members=list(catalogue.groups.get("msp", [])))


class Catalogue:
    """What the form offers, read from the dataset once: regions by name, groups, products."""

    def __init__(self, model: SharedModel):
        data = self.data = model.data
        regions = data.regions
        self.order = {r: i for i, r in enumerate(regions["region"])}
        self.name = {r: short_name(str(n)) for r, n in zip(regions["region"], regions["name"])}
        self.full_name = {r: str(n) for r, n in zip(regions["region"], regions["name"])}
        self.full_name.update({u: "European Union (customs union)" if u == "EU" else u for u in data.customs_unions})
        unions = data.customs_unions
        self.union_of = {r: u for u, rs in unions.items() for r in rs}
        no_data = set(data.no_data_regions)
        partners, others = [], []
        for region, groups in zip(regions["region"], regions["groups"]):
            if region in self.union_of or region == "ROW":
                continue
            entry = {"value": region, "name": self.name[region], "title": f"{self.full_name[region]} ({region})",
                     "groups": [g for g in groups if g in dict(GROUP_BUTTONS)], "no_data": region in no_data,
                     "search": f"{self.full_name[region]} {region}".lower(), "regions": [region]}
            (partners if "ministerial2026" in groups else others).append(entry)
        for union, rs in unions.items():
            names = sorted(self.name[r] for r in rs)
            entry = {"value": union, "name": "European Union" if union == "EU" else union,
                     "title": f"customs union: {', '.join(names)} (any member brings the whole union)",
                     "groups": sorted({g for r in rs for g in data.groups if r in data.groups[g] and g in dict(GROUP_BUTTONS)}),
                     "no_data": False, "search": f"{union} european union " + " ".join(self.full_name[r] for r in rs).lower(),
                     "regions": list(rs), "count": len(rs)}
            (partners if any(r in data.groups.get("ministerial2026", ()) for r in rs) else others).append(entry)
        self.partners = sorted(partners, key=lambda e: e["name"])
        self.non_partners = sorted(others, key=lambda e: e["name"])
        self.choices = {e["value"] for e in self.partners + self.non_partners}
        self.groups = {g: self.members_of_group(data.groups.get(g, ())) for g, _ in GROUP_BUTTONS}
        self.group_buttons = [(g, label, len(data.groups.get(g, ()))) for g, label in GROUP_BUTTONS if g in data.groups]
        from ..policy import base_market

        reference = base_market(data)[1].product_price
        self.products = []
        for p in data.product_codes:
            per_kg = data.unit[p].split(" ")[0] == "t" and reference[p] >= 1000      # as negotiators quote it
            shown = f"{reference[p] / 1000:,.1f} USD/kg" if per_kg else f"{reference[p]:,.0f} USD/{data.unit[p].split(' ')[0]}"
            self.products.append({"value": p, "label": product_label(p, data.stage.get(p), data.mineral_of.get(p)),
                                  "unit": "USD/kg" if per_kg else "USD/t", "reference": shown})
        self.reference = {e["value"]: e["reference"] for e in self.products}
        self.duty_products = [{"value": "*", "label": "all products"}] + self.products
        self.minerals = [m for m in BAN_MINERALS if m in data.minerals]
        self.has_gdp = "gdp" in regions.columns
        self.mechanisms = list(MECHANISMS)

    def resolve(self, name: str) -> list[str] | None:
        """A name as the form's choices, or None if the dataset does not know it."""
        if name in self.choices:
            return [name]
        regions = self.data.resolve_region_name(name)
        if regions is None:
            return None
        return self.members_of_group(sorted(regions, key=self.order.get))

    def members_of_group(self, regions) -> list[str]:
        """A group's regions as the form's choices (a customs-union member as its union)."""
        out = []
        for r in regions:
            value = self.union_of.get(r, r)
            if value not in out:
                out.append(value)
        return out


def environment(catalogue: Catalogue | None) -> Environment:
    """The page templates, with what they need to render."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["sign"] = lambda usd: "pos" if usd >= 5e4 else ("neg" if usd <= -5e4 else "")
    env.globals["pct_change"] = lambda x: "" if x is None else ("0%" if abs(x) < 0.0005 else f"{x:+.1%}".replace("-", "−"))
    env.globals["same"] = lambda a, b: set(a) == set(b)
    env.filters["upfirst"] = lambda text: text[:1].upper() + text[1:] if text else text
    env.globals.update(cat=catalogue, MAX_FLOORS=MAX_FLOORS, MAX_DUTIES=MAX_DUTIES, MAX_PINNED=MAX_PINNED,
                       BAN_DESTINATIONS=BAN_DESTINATIONS)
    return env


def create_app(data=None, *, engines: int = 2, max_sessions: int = 50, idle_minutes: float = 30.0,
               model: SharedModel | None = None) -> Starlette:
    model = model or SharedModel(data, engines=engines)
    catalogue = Catalogue(model)
    store = SessionStore(max_sessions=max_sessions, idle_seconds=idle_minutes * 60.0)
    env = environment(catalogue)

    def render(name: str, **context) -> str:
        return env.get_template(name).render(**context)

    # ----------------------------------------------------------- sessions
    def session_of(request: Request) -> tuple[UserState | None, bool]:
        state = store.get(request.cookies.get(COOKIE))
        if state is not None:
            return state, False
        return store.create(), True

    def with_cookie(response: Response, state: UserState, new: bool) -> Response:
        if new:
            response.set_cookie(COOKIE, state.token, httponly=True, samesite="lax", max_age=int(idle_minutes * 60) + 3600)
        return response

    def full() -> HTMLResponse:
        return HTMLResponse(render("busy.html", limit=store.max_sessions), status_code=503)

    async def evaluate(design: Design) -> Outcome:
        return await run_in_threadpool(model.evaluate, design)

    def results_html(outcome: Outcome, state: UserState) -> str:
        if outcome.ok:
            state.last_view = outcome.view
        view = outcome.view or state.last_view
        return render("_results.html", o=outcome, view=view, design=outcome.design, deltas=_deltas(view, catalogue),
                      query=outcome.design.to_query(), stale=not outcome.ok, pinned=len(state.pinned))

    def headline_html(outcome: Outcome, state: UserState, oob: bool) -> str:
        return render("_headline.html", view=outcome.view or state.last_view, stale=not outcome.ok, oob=oob)

    def design_url(design: Design) -> str:
        query = design.to_query()
        return "/?" + query if query else "/"

    # ------------------------------------------------------------- routes
    async def page(request: Request) -> Response:
        state, new = session_of(request)
        if state is None:
            return full()
        if request.query_params:
            design = Design.from_fields(request.query_params.multi_items())
        else:
            design = state.design or default_design(catalogue)
        design = _known_members(design, catalogue)
        state.design = design
        outcome = await evaluate(design)
        html = render("page.html", design=design, results=results_html(outcome, state), headline=headline_html(outcome, state, False),
                      compare=render("_compare.html", pins=state.pinned, message=None), o=outcome)
        return with_cookie(HTMLResponse(html), state, new)

    async def solve(request: Request) -> Response:
        start, cpu = time.perf_counter(), time.process_time()
        state, new = session_of(request)
        if state is None:
            return full()
        design = Design.from_fields((await request.form()).multi_items())
        state.seq += 1
        mine = state.seq
        async with state.lock:
            if state.seq != mine:          # overtaken by a newer change from the same user
                return Response(status_code=204)
            state.design = design
            outcome = await evaluate(design)
            html = results_html(outcome, state) + headline_html(outcome, state, True)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu     # cpu: the whole process, all its threads
        response = HTMLResponse(html, headers={"HX-Push-Url": design_url(design),
                                               "Server-Timing": f"app;dur={seconds * 1000:.1f}, solve;dur={outcome.solve_seconds * 1000:.1f}, "
                                                                f"view;dur={outcome.view_seconds * 1000:.1f}, cpu;dur={cpu * 1000:.1f}",
                                               "X-Cached": "1" if outcome.cached else "0"})
        return with_cookie(response, state, new)

    async def edit(request: Request) -> Response:
        state, new = session_of(request)
        if state is None:
            return full()
        form = await request.form()
        design = _known_members(Design.from_fields(form.multi_items()), catalogue)
        _apply_edit(design, form, catalogue)
        state.seq += 1
        async with state.lock:
            state.design = design
            outcome = await evaluate(design)
            html = render("_form.html", design=design) + results_html(outcome, state).replace(
                'id="results"', 'id="results" hx-swap-oob="true"', 1) + headline_html(outcome, state, True)
        return with_cookie(HTMLResponse(html, headers={"HX-Push-Url": design_url(design)}), state, new)

    async def pin(request: Request) -> Response:
        state, new = session_of(request)
        if state is None:
            return full()
        form = await request.form()
        design = Design.from_fields(form.multi_items())
        message = None
        if len(state.pinned) >= MAX_PINNED:
            message = f"{MAX_PINNED} designs are pinned: unpin one to pin another."
        else:
            outcome = await evaluate(design)
            if not outcome.ok:
                message = "Only a design that solves can be pinned: fix the marked fields first."
            else:
                number = len(state.pinned) + 1
                used = {p.name for p in state.pinned}
                name = design.title or next(f"Design {chr(64 + k)}" for k in range(number, 27) if f"Design {chr(64 + k)}" not in used)
                state.pinned.append(Pin(id=secrets.token_hex(4), name=name, design=design.copy(),
                                        summary=outcome.view.summary, query=design.to_query()))
        return with_cookie(HTMLResponse(render("_compare.html", pins=state.pinned, message=message)), state, new)

    async def unpin(request: Request) -> Response:
        state, new = session_of(request)
        if state is None:
            return full()
        state.pinned = [p for p in state.pinned if p.id != request.path_params["pin"]]
        return with_cookie(HTMLResponse(render("_compare.html", pins=state.pinned, message=None)), state, new)

    async def toml(request: Request) -> Response:
        design = Design.from_fields(request.query_params.multi_items())
        content, _ = design.scenario(model.product_unit)
        text = design.to_toml(model.product_unit, catalogue.full_name)
        return Response(text, media_type="application/toml",
                        headers={"Content-Disposition": f'attachment; filename="{content["name"]}.toml"'})

    async def report(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in ("html", "xlsx"):
            return HTMLResponse("<p>Reports are report.html or report.xlsx.</p>", status_code=404)
        if request.url.path.startswith("/pinned/"):
            state, _ = session_of(request)
            pins = state.pinned if state else []
            if not pins:
                return HTMLResponse("<p>No pinned designs: pin one or more designs first.</p>", status_code=404)
            designs = [(_unique_name(p.name, i), p.design) for i, p in enumerate(pins)]
            title = "Pinned bloc designs compared"
        else:
            design = Design.from_fields(request.query_params.multi_items())
            designs = [(_unique_name(design.title or "design", 0), design)]
            title = design.title or "Bloc design against no policy"
        with tempfile.TemporaryDirectory(prefix="blocmodel-report-") as folder:
            try:
                note = await run_in_threadpool(model.report, designs, Path(folder), title)
            except Exception as exc:   # an invalid or infeasible design: say so instead of a server error
                return HTMLResponse(f"<p>The report could not be made: {escape(f'{type(exc).__name__}: {exc}')}</p>",
                                    status_code=422)
            body = (Path(folder) / f"report.{kind}").read_bytes()
        if kind == "html":
            page = body.decode()
            if note:
                page = re.sub(r"(<body[^>]*>)", lambda m: m[1] + f'<p style="background:#fff6e0;padding:.5rem">{escape(note)}</p>',
                              page, count=1)
            return HTMLResponse(page)
        return Response(body, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{designs[0][0] if len(designs) == 1 else "pinned_designs"}.xlsx"'})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"sessions": len(store), "max_sessions": store.max_sessions, "sessions_ended": store.ended,
                             "engines": model.engines, "cached_views": len(model._views),
                             "startup_seconds": round(model.startup_seconds, 2)})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def sweep():
            while True:
                await asyncio.sleep(min(30.0, store.idle_seconds / 2))
                store.purge()
        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()

    routes = [
        Route("/", page), Route("/solve", solve, methods=["POST"]), Route("/edit", edit, methods=["POST"]),
        Route("/pin", pin, methods=["POST"]), Route("/unpin/{pin}", unpin, methods=["POST"]),
        Route("/design.toml", toml), Route("/report.{kind:str}", report), Route("/pinned/report.{kind:str}", report),
        Route("/healthz", healthz), Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.model, app.state.store = model, store
    return app


def _port_free(host: str, port: int) -> None:
    import socket

    from ..errors import InputError, Problem

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError([Problem("--host", f"cannot resolve {host!r}: {exc.strerror}")]) from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InputError([Problem("--port", f"cannot listen on {host}:{port}: {exc.strerror}",
                                      hint="another program uses it; choose another --port")]) from None


def _deltas(view, catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    """Welfare change per choice of the member list (a customs union: its regions summed)."""
    if view is None:
        return {}
    out: dict[str, float] = {}
    for row in view.member_rows + view.other_rows:
        if not row["no_data"]:
            key = catalogue.union_of.get(row["region"], row["region"])
            out[key] = out.get(key, 0.0) + row["value"]
    return {k: {"value": v, "text": usd_m(v)} for k, v in out.items()}


def _unique_name(name: str, i: int) -> str:
    from .design import slug

    return f"{slug(name) or 'design'}_{i + 1}" if i else (slug(name) or "design")


def _known_members(design: Design, catalogue: Catalogue) -> Design:
    """Members written as the form's choices (a link may say 'msp', 'Chile' or 'DEU': the
    group's choices, CHL, EU); names the dataset does not know are kept, so the scenario's
    validation reports them next to the member list."""
    members: list[str] = []
    for m in design.members:
        found = catalogue.resolve(m)
        for value in found if found is not None else [m]:
            if value not in members:
                members.append(value)
    design.members = members
    return design


def _apply_edit(design: Design, form, catalogue: Catalogue) -> None:
    op = form.get("op", "")
    index = int(form.get("index", "-1") or -1)
    if op == "add_floor" and len(design.floors) < MAX_FLOORS:
        taken = {f.product for f in design.floors}
        product = next((p for p in ("ndpr_oxide", "graphite_refined", "lithium_refined", "cobalt_refined", "gallium_refined")
                        if p not in taken and p in catalogue.reference), "ndpr_oxide")
        design.floors.append(FloorRow(product=product, unit=next(e["unit"] for e in catalogue.products if e["value"] == product)))
    elif op == "remove_floor" and 0 <= index < len(design.floors):
        design.floors.pop(index)
    elif op == "add_duty" and len(design.duties) < MAX_DUTIES:
        design.duties.append(DutyRow())
    elif op == "remove_duty" and 0 <= index < len(design.duties):
        design.duties.pop(index)
    elif op in ("group", "add_group") and form.get("group") in catalogue.groups:
        group = catalogue.groups[form.get("group")]
        design.members = list(group) if op == "group" else design.members + [m for m in group if m not in design.members]
    elif op == "clear_members":
        design.members = []


def serve(data=None, host: str = "127.0.0.1", port: int = 8050, engines: int = 2, max_sessions: int = 50,
          idle_minutes: float = 30.0, echo=print) -> None:
    """Build the shared model, then serve the app until interrupted."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        echo(f"warning: serving on {host}: anyone who can reach this machine can use the app — it has no authentication.", err=True)
    _port_free(host, port)             # say so now, not after the model is built
    started = time.perf_counter()
    app = create_app(data, engines=engines, max_sessions=max_sessions, idle_minutes=idle_minutes)
    model = app.state.model
    shown = f"[{host}]" if ":" in host else host
    echo(f"blocmodel serve: {len(model.data.regions)} regions, {len(model.data.products)} products ready in "
         f"{time.perf_counter() - started:.1f} s; {engines} engine(s), at most {max_sessions} sessions, idle sessions end after "
         f"{idle_minutes:g} min -> http://{shown}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
