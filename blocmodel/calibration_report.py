"""How well the no-policy equilibrium reproduces the observed trade (`blocmodel calibration`).

Writes into OUT:
- `calibration_routes.csv`: every route with an observed flow: observed and model flow
  (product units), observed value (USD), relative miss;
- `calibration_products.csv`: per product: HS code, observed routes, the share of observed
  value on routes within 2% of observed among those carrying 99% of it, China's exports
  and imports observed and in the model, the largest miss;
- `calibration_misses.csv`: the largest misses over all products;
- `calibration_scatter.png`: model against observed flow, log–log, one colour per product.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FOCUS = "CHN"


def calibration_tables(results, focus: str = FOCUS) -> dict[str, pd.DataFrame]:
    data = results.data
    r = results.route_detail
    routes = data.routes
    observed = pd.to_numeric(routes.get("ref_quantity"), errors="coerce")
    value = pd.to_numeric(routes.get("ref_value"), errors="coerce") if "ref_value" in routes else pd.Series(np.nan, index=routes.index)
    frame = pd.DataFrame({"origin": routes["origin"], "destination": routes["destination"], "product": routes["product"],
                          "observed": observed, "observed_value": value})
    frame = frame[frame["observed"] > 0]
    model = r[~r["home"]].set_index(["origin", "destination", "product"])["flow"]
    frame["model"] = [float(model.get(k, 0.0)) for k in zip(frame["origin"], frame["destination"], frame["product"])]
    frame["miss"] = (frame["model"] - frame["observed"]) / frame["observed"]
    # where no value was observed, weigh by the reference price
    price = frame["product"].map(results.price_scale)
    frame["weight"] = frame["observed_value"].where(frame["observed_value"] > 0, frame["observed"] * price)
    hs = dict(zip(data.products["product"], data.products["hs_code"])) if "hs_code" in data.products else {}
    rows = []
    for product, g in frame.groupby("product", sort=False):
        g = g.sort_values("weight", ascending=False)
        top = g[g["weight"].cumsum() <= 0.99 * g["weight"].sum() + g["weight"].iloc[0] * 1e-12]
        top = top if len(top) else g.iloc[:1]
        within = float(top.loc[top["miss"].abs() <= 0.02, "weight"].sum() / top["weight"].sum())
        ex_obs = float(g.loc[g["origin"] == focus, "observed"].sum())
        im_obs = float(g.loc[g["destination"] == focus, "observed"].sum())
        ex_model = float(r.loc[(r["product"] == product) & (r["origin"] == focus) & ~r["home"], "flow"].sum())
        im_model = float(r.loc[(r["product"] == product) & (r["destination"] == focus) & ~r["home"], "flow"].sum())
        worst = g.loc[g["miss"].abs().idxmax()]
        code = hs.get(product)
        rows.append({"product": product, "hs_code": code if isinstance(code, str) else "", "observed_routes": len(g),
                     "routes_for_99pct_value": len(top), "share_of_that_value_within_2pct": within,
                     f"{focus}_exports_observed": ex_obs, f"{focus}_exports_model": ex_model,
                     f"{focus}_imports_observed": im_obs, f"{focus}_imports_model": im_model,
                     "largest_miss": float(worst["miss"]), "largest_miss_route": f"{worst['origin']}->{worst['destination']}"})
    products = pd.DataFrame(rows)
    misses = frame.reindex(frame["miss"].abs().sort_values(ascending=False).index).head(25)
    return {"calibration_routes": frame.drop(columns="weight").reset_index(drop=True), "calibration_products": products,
            "calibration_misses": misses.drop(columns="weight").reset_index(drop=True)}


def write_calibration_report(results, out: str | Path) -> list[Path]:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    tables = calibration_tables(results)
    written = []
    for name, frame in tables.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False, float_format="%.10g")
        written.append(path)
    written.append(_scatter(tables["calibration_routes"], folder / "calibration_scatter.png"))
    return written


def _scatter(routes: pd.DataFrame, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 6), constrained_layout=True)
    ax = fig.subplots()
    for product, g in routes.groupby("product", sort=False):
        ax.loglog(g["observed"], np.maximum(g["model"], 1e-12), ".", label=product, alpha=0.7)
    lo, hi = routes["observed"].min(), routes["observed"].max()
    ax.loglog([lo, hi], [lo, hi], "k-", lw=0.8, label="model = observed")
    ax.set(xlabel="observed 2024 flow (product units a year)", ylabel="no-policy model flow (same units)",
           title="Calibration: every observed route")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(True, which="both", lw=0.3)
    fig.savefig(path, dpi=110)
    return path
