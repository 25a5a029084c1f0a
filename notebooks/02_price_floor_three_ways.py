# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A price floor four ways: variable levy, deficiency payment, stockpile, price support
#
# **Question.** The bloc wants NdPr oxide to sell at no less than 110 USD/kg (the DoD–MP
# Materials reference price). It can hold that floor by an adjustable levy on non-member
# imports, by paying its producers the gap (as in the NdPr deal), by a reserve that buys
# until the price holds, or by *price support*: the levy plus a purchase or payment where
# the levy alone leaves members' producers below the floor. For each: **what price do
# buyers pay, what price do producers get**, who pays, and how far does dependency on
# non-members fall?
#
# First the mechanics on the textbook two-country market, where every number can be
# checked by hand; then the same floor on the shipped data for the 56 ministerial partners.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import blocmodel as bm
from blocmodel.findings import key_findings, price_range
from blocmodel.testing import linear, write_dataset

pd.set_option("display.width", 160, "display.max_columns", 14, "display.float_format", "{:,.3f}".format)

# %% [markdown]
# ## The textbook case
#
# Krugman & Obstfeld's wheat market: Home demand `D = 100 − 20P`, supply `S = 20 + 20P`;
# Foreign `D* = 80 − 20P`, `S* = 40 + 20P`, no transport cost. Free trade clears at P = 1.5
# with Home importing 20. Home sets a floor of 1.75 on its market:
#
# | mechanism | buyers pay (Home) | producers get (Home) | Foreign price | what Home's treasury pays |
# |---|---|---|---|---|
# | variable levy | 1.75 | 1.75 | 1.25 (imports 10 = Foreign's excess supply) | collects 0.5 × 10 = 5 |
# | deficiency payment | 1.4167 (world: 180 − 40P = 95 + 20P) | 1.75 | 1.4167 | (1.75 − 1.4167) × 55 = 18.33 |
# | stockpile (budget 100) | 1.75 | 1.75 | 1.75 | buys 20 (65 + 45 + R = 55 + 75) × 1.75 = 35 |

# %%
folder = write_dataset(
    Path(tempfile.mkdtemp()) / "wheat",
    regions=[{"region": "HOME"}, {"region": "FOREIGN"}],
    products=[{"product": "wheat"}],
    supply=[{"region": "HOME", "product": "wheat", **linear(20, 20, 1.5)},
            {"region": "FOREIGN", "product": "wheat", **linear(40, 20, 1.5)}],
    demand=[{"region": "HOME", "product": "wheat", **linear(100, -20, 1.5)},
            {"region": "FOREIGN", "product": "wheat", **linear(80, -20, 1.5)}],
    routes=[{"origin": "FOREIGN", "destination": "HOME", "product": "wheat", "transport_cost": 0.0},
            {"origin": "HOME", "destination": "FOREIGN", "product": "wheat", "transport_cost": 0.0}],
)
wheat = bm.Session(folder)
free_trade = wheat.solve()


def floor_run(price, mechanism, **extra):
    """One floor on Home's market: what buyers pay, what producers get, its status, the treasury's bill."""
    r = wheat.solve({"name": mechanism, "price_floors": [{"product": "wheat", "price": price, "markets": ["HOME"],
                                                          "mechanism": mechanism, **extra}]})
    f = r.floors.iloc[0]
    w = r.welfare.set_index("region")
    return {"mechanism": mechanism + (f" ({extra['support']})" if "support" in extra else ""), "floor": price,
            "buyers_price": f["buyers_price"], "producers_price": f["producers_price"], "status": f["status"],
            "foreign_price": r.markets.set_index("region").at["FOREIGN", "price"],
            "levy_revenue": w.at["HOME", "tariff_revenue"], "fiscal_cost": w.at["HOME", "fiscal_cost"],
            "reserve_buys": r.markets.set_index("region").at["HOME", "stock_purchases"],
            "home_welfare_change": r.welfare_change(free_trade).set_index("region").at["HOME", "total"]}


textbook = pd.DataFrame([floor_run(1.75, "variable_levy"), floor_run(1.75, "deficiency_payment"),
                         floor_run(1.75, "stockpile", budget=100)]).set_index("mechanism")
textbook

# %% [markdown]
# The model reproduces the hand calculation to machine precision. (The reserve's 20 units
# are valued at the reference price 1.5 in Home's welfare: the stock is an asset.)

# %%
expected = {"variable_levy": (1.75, 1.75, 1.25, 5.0, 0.0), "deficiency_payment": (85 / 60, 1.75, 85 / 60, 0.0, (1.75 - 85 / 60) * 55),
            "stockpile": (1.75, 1.75, 1.75, 0.0, 35.0)}
for mechanism, (buyers, producers, foreign, revenue, fiscal) in expected.items():
    got = textbook.loc[mechanism]
    assert abs(got.buyers_price - buyers) < 1e-9 and abs(got.producers_price - producers) < 1e-9
    assert abs(got.foreign_price - foreign) < 1e-9
    assert abs(got.levy_revenue - revenue) < 1e-9 and abs(got.fiscal_cost - fiscal) < 1e-9
print("all three mechanisms match the closed form")

# %% [markdown]
# ### A prohibitive levy floor, and price support
#
# Raise the floor to 2.5, above Home's own autarky price (100 − 20P = 20 + 20P gives
# P = 2). The levy needed to lift Foreign wheat to 2.5 at Home's border shuts it out
# entirely, and Home's market then clears on its own at **2.0, below the floor**. The floor
# is *prohibitive*: a variable levy holds the price at which non-member goods enter, not
# the members' own price. Foreign, cut off, falls to its autarky price 1.0.
#
# To hold the members' price itself, the floor needs more than a levy:
# - **deficiency payment** (no levy): Home's producers get 2.5 and sell 70; the world price
#   clears at 180 − 40P = 70 + 40 + 20P, P = 1.1667, which Home's buyers pay; the treasury
#   pays (2.5 − 1.1667) × 70 = 93.33;
# - **price support with a deficiency payment**: the levy keeps Foreign wheat out, Home's
#   producers get 2.5 and sell 70 at home, where buyers pay 100 − 20P = 70, P = 1.5; the
#   treasury pays (2.5 − 1.5) × 70 = 70 — less than the plain payment, because the levy
#   stops the payment from lowering the world price for Foreign's buyers too.

# %%
prohibitive = pd.DataFrame([floor_run(2.5, "variable_levy"), floor_run(2.5, "deficiency_payment"),
                            floor_run(2.5, "price_support", support="deficiency_payment")]).set_index("mechanism")
expected = {"variable_levy": (2.0, 2.0, 1.0, 0.0, "prohibitive"), "deficiency_payment": (7 / 6, 2.5, 7 / 6, 70 * (2.5 - 7 / 6), "binds"),
            "price_support (deficiency_payment)": (1.5, 2.5, 1.0, 70.0, "binds")}
for mechanism, (buyers, producers, foreign, fiscal, status) in expected.items():
    got = prohibitive.loc[mechanism]
    assert abs(got.buyers_price - buyers) < 1e-9 and abs(got.producers_price - producers) < 1e-9
    assert abs(got.foreign_price - foreign) < 1e-9 and abs(got.fiscal_cost - fiscal) < 1e-9 and got.status == status
print("the prohibitive floor and price support match the closed form")
prohibitive[["floor", "buyers_price", "producers_price", "status", "foreign_price", "fiscal_cost", "home_welfare_change"]]

# %% [markdown]
# ## The NdPr floor on the shipped data
#
# The 56 ministerial partners form a free-trade bloc (each keeps its own tariffs on
# others) and hold NdPr oxide at 110 USD/kg in every member market, by each mechanism in
# turn. The reserve and the price support's purchases get a budget of 2 bn USD a year,
# funded in proportion to members' use (`burden_sharing = "consumption"`, the default for
# a reserve).

# %%
session = bm.Session()
base = session.solve()
bloc = {"bloc": {"members": ["ministerial2026"]}}
floor = {"product": "ndpr_oxide", "price": "110 USD/kg", "markets": ["bloc"]}
mechanisms = {
    "variable levy": {"mechanism": "variable_levy"},
    "deficiency payment": {"mechanism": "deficiency_payment"},
    "stockpile": {"mechanism": "stockpile", "budget": 2e9},
    "price support (purchase)": {"mechanism": "price_support", "support": "purchase", "budget": 2e9},
    "price support (payment)": {"mechanism": "price_support", "support": "deficiency_payment"},
}
runs = {"bloc only": session.solve({"name": "bloc only", **bloc})}
for label, how in mechanisms.items():
    runs[label] = session.solve({"name": label.replace(" ", "_"), **bloc, "price_floors": [{**floor, **how}]})

# %% [markdown]
# What buyers pay and what producers get, per status. A market *binds* where the floor
# sets the price of the goods it targets; *prohibitive* where the levy shuts non-member
# oxide out and the price settles below the floor; *slack* where it does nothing (for a
# deficiency payment: markets with no NdPr producers).

# %%
rows = []
for label in mechanisms:
    r = runs[label]
    for status, g in r.floors.groupby("status", sort=False):
        rows.append({"mechanism": label, "status": status, "markets": len(g),
                     "buyers pay": price_range(r, "ndpr_oxide", g["buyers_price"]),
                     "producers get": price_range(r, "ndpr_oxide", g["producers_price"]),
                     "levy collected, m USD/yr": g["levy_collected"].sum() / 1e6})
pd.DataFrame(rows).set_index(["mechanism", "status"])

# %% [markdown]
# Welfare changes (USD m a year) against no policy, members' fiscal cost, and dependency
# on non-members for NdPr oxide (share of members' use made outside the bloc).

# %%
members = runs["bloc only"].reference_members()
summary = {}
for label, r in runs.items():
    change = r.welfare_change(base, unit="USD m").set_index("region")
    dependency = bm.bloc_dependency(r, members).set_index("product")
    summary[label] = {"bloc welfare": change.loc[members, "total"].sum(), "world welfare": change["total"].sum(),
                      "China welfare": change.at["CHN", "total"], "members' fiscal cost": change.loc[members, "fiscal_cost"].sum(),
                      "NdPr made outside the bloc": dependency.at["ndpr_oxide", "non_member_share"],
                      "NdPr made in China": dependency.at["ndpr_oxide", "focus_share"]}
summary = pd.DataFrame(summary).T
summary

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), constrained_layout=True)
labels = [m.replace(" (", "\n(") for m in mechanisms]
axes[0].bar(labels, summary.loc[list(mechanisms), "bloc welfare"], color="#457", label="members")
axes[0].bar(labels, summary.loc[list(mechanisms), "China welfare"], color="#b44", alpha=0.6, label="China")
axes[0].set_title("welfare change, USD m/yr")
axes[0].legend()
axes[1].bar(labels, summary.loc[list(mechanisms), "members' fiscal cost"], color="#964")
axes[1].set_title("members' fiscal cost, USD m/yr")
axes[2].bar(labels, summary.loc[list(mechanisms), "NdPr made outside the bloc"] * 100, color="#4a7")
axes[2].axhline(bm.bloc_dependency(base, members).set_index("product").at["ndpr_oxide", "non_member_share"] * 100,
                color="grey", ls="--", label="no policy")
axes[2].set_title("members' NdPr oxide made outside the bloc, %")
axes[2].legend()
for ax in axes:
    ax.tick_params(axis="x", labelsize=7)
plt.show()

# %% [markdown]
# ## What we found
#
# The findings the report writes for each mechanism (generated from the results):

# %%
for label in mechanisms:
    print(label.upper())
    for sentence in key_findings(runs[label], base):
        print(" -", sentence)
    print()

# %% [markdown]
# - **Variable levy**: it holds the price at which non-member oxide enters, 110 USD/kg at the
#   border, so buyers in the 26 importing member markets pay about 105–107 USD/kg (the
#   calibrated route cost is added to the landed price). In the US and Malaysia it is
#   **prohibitive**: members' own output meets demand below the floor, the levy keeps
#   non-member oxide out, and buyers and producers there get about 52–88 USD/kg — well below
#   110. The levy costs no public money, collects about 240 m USD a year, and cuts the
#   share of members' NdPr made outside the bloc from 86% to 59%.
# - **Deficiency payment**: producers in Malaysia, the US and Estonia get 110 USD/kg while
#   buyers pay less than before (about 46 USD/kg: members' producers expand and the world
#   price falls); each member's treasury pays its own producers' gap, about 470 m USD a
#   year in all, most of it Malaysia's. Dependency falls only to 79%.
# - **Stockpile**: the reserve holds members' producers at 110 USD/kg by buying their output
#   (about 7,000 t a year for ~780 m USD). Members' buyers then import more, so the share
#   of their use made outside the bloc *rises* (to 99%): stock purchases are not use.
# - **Price support** holds the members' price itself: buyers pay about 108–110 USD/kg and
#   producers get 110 USD/kg everywhere. With purchases it costs the funders about 690 m USD
#   a year and leaves dependency where it was; with a deficiency payment behind the levy,
#   buyers in the producing members pay the market price (about 46 USD/kg) while producers
#   get 110, dependency falls furthest (to 53%) and the payments cost about 400 m USD.
# - The textbook case shows the same signatures and matches the hand calculation: a levy
#   shifts the cost to consumers and foreign producers, a deficiency payment to the
#   treasury with lower prices, a stockpile to the treasury with higher prices everywhere.
