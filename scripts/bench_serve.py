#!/usr/bin/env python3
"""How long the negotiation table takes from a lever change to new results, server side.

    python scripts/bench_serve.py [--changes 50] [--out reports/serve_benchmark.json]

Starts `blocmodel serve` on a free local port with the shipped data, opens one session,
then makes `--changes` lever changes the way a negotiator would (floor level, a member in
or out, the external tariff, the floor's mechanism, the horizon, a China ban, an
anti-dumping duty), each a design not seen before, so that every change is a real solve
and none is answered from the cache. Each change is one POST /solve, exactly what the page
sends; the server reports its own time from receiving the request to having the results
panel ready (the `Server-Timing` header): validation, the solve with its independent
equilibrium check, the indicators, the findings and the HTML. Beside it: the CPU time the
server process spent on the change (all its threads; what the change costs on a machine
with no other load, since the server handles one change at a time here) and the round trip
seen by the client. Writes the figures (median, 95th percentile, each change) to
`--out` and prints a summary. Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blocmodel.web.design import Design, DutyRow, FloorRow  # noqa: E402


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (Linux), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def changes(n: int) -> list[tuple[str, Design]]:
    """`n` lever changes from an MSP bloc with an NdPr floor, each giving a new design."""
    design = Design(title="benchmark", members=["AUS", "CAN", "EU", "GBR", "IND", "JPN", "KOR", "NOR", "USA"],
                    floors=[FloorRow(price="100")])
    seen, out, level = set(), [], 100.0
    levers = ["floor level", "member", "external tariff", "floor level", "mechanism", "horizon", "floor level", "China ban",
              "anti-dumping duty", "member"]
    for i in range(n):
        lever = levers[i % len(levers)]
        d = design.copy()
        if lever == "floor level":
            level += 7.0 if (i // len(levers)) % 2 == 0 else -5.0
            d.floors[0].price = f"{level:g}"
        elif lever == "member":
            for country in ("CHL", "ARG", "ZAF", "IDN"):
                if (country in d.members) != (i % 4 == 0):
                    d.members = [m for m in d.members if m != country] if country in d.members else d.members + [country]
                    break
        elif lever == "external tariff":
            d.external_tariff = str([5, 10, 0, 25, 15][(i // len(levers)) % 5])
        elif lever == "mechanism":
            d.floors[0].mechanism = {"variable_levy": "deficiency_payment", "deficiency_payment": "price_support",
                                     "price_support": "variable_levy"}.get(d.floors[0].mechanism, "variable_levy")
        elif lever == "horizon":
            d.horizon = "short_run" if d.horizon == "medium_run" else "medium_run"
        elif lever == "China ban":
            d.ban = [] if d.ban else ["gallium", "germanium"]
        elif lever == "anti-dumping duty":
            d.duties = [DutyRow(rate=str(20 + 5 * (i % 11)))]
        while d.to_query() in seen:           # never the same design twice: every change is a real solve
            level += 1.0
            d.floors[0].price = f"{level:g}"
        seen.add(d.to_query())
        out.append((lever, d))
        design = d
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "serve_benchmark.json")
    args = parser.parse_args()

    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "blocmodel.cli", "serve", "--port", str(port)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        while True:
            try:
                opener.open(base + "/healthz", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - started > 300:
                    raise SystemExit(f"blocmodel serve did not start: {proc.stdout.read()}") from None
                time.sleep(0.2)
        startup = time.perf_counter() - started
        memory_start = rss_mb(proc.pid)
        opener.open(base + "/", timeout=120).read()          # the session, and the first page
        rows = []
        for i, (lever, design) in enumerate(changes(args.changes)):
            body = urllib.parse.urlencode(design.fields()).encode()
            t0 = time.perf_counter()
            with opener.open(urllib.request.Request(base + "/solve", data=body, method="POST"), timeout=120) as r:
                html = r.read().decode()
                timing, cached = r.headers["Server-Timing"], r.headers["X-Cached"]
            round_trip = time.perf_counter() - t0
            state = re.search(r'data-state="(\w+)"', html)[1]
            solved = re.search(r"solved in ([0-9.]+) s", html)
            rows.append({"change": i + 1, "lever": lever, "state": state, "cached": cached == "1",
                         "server_ms": float(re.search(r"app;dur=([0-9.]+)", timing)[1]),
                         "session_solve_ms": float(re.search(r"solve;dur=([0-9.]+)", timing)[1]),
                         "view_ms": float(re.search(r"view;dur=([0-9.]+)", timing)[1]),
                         "cpu_ms": float(re.search(r"cpu;dur=([0-9.]+)", timing)[1]),
                         "round_trip_ms": round(round_trip * 1000, 1),
                         "solve_ms": round(float(solved[1]) * 1000, 1) if solved else None})
        memory_end = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    server = sorted(r["server_ms"] for r in rows)
    trip = sorted(r["round_trip_ms"] for r in rows)
    cpu = sorted(r["cpu_ms"] for r in rows)
    p95 = lambda xs: xs[min(len(xs) - 1, max(0, round(0.95 * len(xs)) - 1))]  # noqa: E731   nearest rank
    summary = {
        "what": "server-side time from a lever change (POST /solve) to the new results panel, shipped data, one user",
        "changes": len(rows), "cached": sum(r["cached"] for r in rows), "not_ok": [r for r in rows if r["state"] != "ok"],
        "server_ms": {"median": round(statistics.median(server), 1), "p95": round(p95(server), 1), "max": round(server[-1], 1)},
        "round_trip_ms": {"median": round(statistics.median(trip), 1), "p95": round(p95(trip), 1)},
        "server_cpu_ms": {"median": round(statistics.median(cpu), 1), "p95": round(p95(cpu), 1)},
        "solve_ms_median": round(statistics.median(r["solve_ms"] for r in rows if r["solve_ms"] is not None), 1),
        "session_solve_ms_median": round(statistics.median(r["session_solve_ms"] for r in rows), 1),
        "view_ms_median": round(statistics.median(r["view_ms"] for r in rows), 1),
        "startup_s": round(startup, 1), "rss_mb": {"ready": memory_start, "after_changes": memory_end},
        "machine": {"python": platform.python_version(), "cores": __import__("os").cpu_count(), "platform": platform.platform(),
                    "load_average_1_5_15_min_at_end": [round(x, 2) for x in __import__("os").getloadavg()]},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    if summary["not_ok"]:
        raise SystemExit(f"{len(summary['not_ok'])} changes did not solve: {summary['not_ok'][:3]}")
    print(f"{len(rows)} lever changes ({summary['cached']} answered from the cache), server side: median "
          f"{summary['server_ms']['median']:.0f} ms, 95th percentile {summary['server_ms']['p95']:.0f} ms, max "
          f"{summary['server_ms']['max']:.0f} ms (CPU time of the server process: median {summary['server_cpu_ms']['median']:.0f} ms, "
          f"95th percentile {summary['server_cpu_ms']['p95']:.0f} ms); round trip median {summary['round_trip_ms']['median']:.0f} ms; "
          f"of which Session.solve {summary['session_solve_ms_median']:.0f} ms (chains alone {summary['solve_ms_median']:.0f} ms), "
          f"tables, indicators and findings {summary['view_ms_median']:.0f} ms; server ready in {summary['startup_s']:.1f} s, "
          f"{memory_start} MB resident, {memory_end} MB after the changes -> {args.out}")


if __name__ == "__main__":
    main()
