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
# # Export ban stress test
#
# **Question.** China bans exports of rare earths and graphite to the US and Japan (the
# library's `china_ban`). What happens to prices and supply, which members are exposed,
# what does a release from strategic stocks do, and how much worse is a ban on every buyer?
#
# Goods keep their origin in the model: a ban closes every route from China's producers to
# the named buyers, and no third country can pass Chinese oxide on as its own (refining
# confers origin, re-export does not). The `horizon` says how far other suppliers can
# respond within the year: `short_run` holds their output at or below 2024 capacity,
# `medium_run` lets it follow their supply curves.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import blocmodel as bm
from blocmodel.findings import key_findings, product_name, region_name, unit_price

pd.set_option("display.width", 150, "display.max_columns", 12, "display.float_format", "{:,.1f}".format)
data = bm.load_dataset()
session = bm.Session(data)
base = session.solve()
products = ["ndpr_oxide", "graphite_refined"]
users = ["USA", "JPN", "KOR", "DEU", "IND", "FRA", "GBR"]

# %% [markdown]
# ## Who is exposed
#
# The share of each large user's NdPr oxide and refined graphite made in China, in the 2024
# equilibrium (origin of the goods, read off the flows into it), and its use:

# %%
exposure = pd.DataFrame({f"{product_name(data, p)}: made in China": bm.origin_shares(base, p)["CHN"] for p in products})
use = base.markets[base.markets["product"].isin(products)].pivot(index="region", columns="product", values="use")
use.columns = [f"{product_name(data, p)}: use, t" for p in use.columns]
exposure = exposure.join(use).reindex(users)
exposure.index = [region_name(data, r) for r in exposure.index]
exposure.style.format({c: "{:.0%}" for c in exposure.columns if "China" in c} | {c: "{:,.0f}" for c in exposure.columns if "use" in c},
                      na_rep="–")

# %% [markdown]
# ## The ban as announced, a ban on every buyer, and a stock release
#
# Four runs in the short run, each against the no-policy equilibrium of the same horizon:
# the announced ban on the US and Japan; the same with the library response (the
# ministerial partners trade freely; the US releases 1,000 t and Japan 500 t of NdPr oxide
# from stocks); a ban on every buyer; and that ban with the same release.

# %%
announced = bm.load_design("china_ban")
response = bm.load_design("china_ban_response")
ban_all = bm.Scenario(name="ban on every buyer", export_restrictions=[
    {"exporter": "CHN", "destinations": ["*"], "product": mineral, "ban": True} for mineral in ("rare_earths", "graphite")])
short = lambda s, name: s.model_copy(update={"horizon": "short_run", "name": name})  # noqa: E731
designs = [short(announced, "ban on US and Japan"), short(response, "ban on US and Japan + release"),
           short(ban_all, "ban on every buyer"),
           short(bm.compose([ban_all, bm.Scenario(name="release", stockpile=response.stockpile)]), "ban on every buyer + release")]
runs = bm.Collection.solve(designs, session=session, key_products=products, focus="CHN")
base_short = runs.results[runs.baseline]
print(f"baseline: {base_short.scenario.horizon}; designs: {runs.designs}")

# %% [markdown]
# Prices buyers pay (USD/kg for NdPr oxide, USD/t for graphite):

# %%
prices = runs.values("prices")
table = {}
for p in products:
    for r in ["USA", "JPN", "DEU", "KOR", "CHN"]:
        table[(product_name(data, p), region_name(data, r))] = [unit_price(data, p, v) for v in prices.loc[(r, p)]]
pd.DataFrame(table, index=prices.columns).T

# %% [markdown]
# How much less NdPr oxide each user gets (use against no policy, %), and welfare changes
# (USD m a year):

# %%
demand = runs.values("markets").xs("use", level="variable").xs("ndpr_oxide", level="product")
shortfall = (demand.div(demand[runs.baseline], axis=0) - 1) * 100
shortfall = shortfall.loc[["USA", "JPN", "KOR", "DEU", "IND", "CHN"], runs.designs]
shortfall.index = [region_name(data, r) for r in shortfall.index]
shortfall

# %%
welfare = pd.DataFrame({d: runs.welfare_change(d, unit="USD m").set_index("region")["total"] for d in runs.designs})
shown = welfare.loc[["USA", "JPN", "KOR", "DEU", "MYS", "AUS", "CHN"]]
shown.index = [region_name(data, r) for r in shown.index]
shown.loc["world"] = welfare.sum()
shown

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4), constrained_layout=True)
ndpr = prices.xs("ndpr_oxide", level="product").loc[["USA", "JPN", "DEU", "CHN"]] / 1000
ndpr.index = [region_name(data, r) for r in ndpr.index]
ndpr.plot.bar(ax=axes[0], rot=0)
axes[0].set_title("NdPr oxide price buyers pay, USD/kg (short run)")
axes[0].legend(fontsize=7)
shortfall.drop(index="China").plot.bar(ax=axes[1], rot=0)
axes[1].set_title("NdPr oxide use, % change against no policy")
axes[1].axhline(0, color="grey", lw=0.6)
axes[1].legend(fontsize=7)
plt.show()

# %% [markdown]
# ## A ban on gallium to the US (2024's MOFCOM announcement 46)
#
# In the short run, against the no-policy equilibrium of the same horizon:

# %%
gallium = session.solve({"name": "gallium ban", "horizon": "short_run", "export_restrictions": [
    {"exporter": "CHN", "destinations": ["USA"], "product": "gallium_refined", "ban": True}]})
g = gallium.prices.set_index(["region", "product"])["price"]
g0 = base_short.prices.set_index(["region", "product"])["price"]
us_share = bm.origin_shares(base_short, "gallium_refined").loc["USA"]
print(f"US gallium price: {unit_price(data, 'gallium_refined', g0[('USA', 'gallium_refined')])} -> "
      f"{unit_price(data, 'gallium_refined', g[('USA', 'gallium_refined')])} "
      f"({g[('USA', 'gallium_refined')] / g0[('USA', 'gallium_refined')] - 1:+.0%}); China made "
      f"{us_share.get('CHN', 0):.0%} of US gallium before the ban, "
      + ", ".join(f"{region_name(data, r)} {s:.0%}" for r, s in us_share.drop('CHN', errors='ignore').nlargest(3).items()))

# %% [markdown]
# ## What we found
#
# The report's findings for the short-run designs:

# %%
for design in runs.designs:
    print(design.upper())
    for sentence in key_findings(runs.results[design], runs.base_of(design), focus="CHN"):
        print(" -", sentence)
    print()

# %% [markdown]
# - **The announced ban bites**: with goods keeping their origin, nobody can pass Chinese
#   oxide or graphite on to the US and Japan. In the short run the US pays a quarter more
#   for NdPr oxide (66 against 52.5 USD/kg) and almost three times as much for battery
#   graphite (nearly all of which came from China); Japan's NdPr price rises by about
#   two-thirds. The US loses about 200 m USD a year; China loses little, selling its oxide
#   and graphite elsewhere a little cheaper, so other members gain slightly.
# - **A stock release of 1,500 t a year** by the US and Japan brings the US NdPr price back
#   to about its 2024 level and most of Japan's, and lowers everyone else's a little; it does
#   nothing for graphite, where the US loss lies.
# - **A ban on every buyer** is a different order of shock: outside China the NdPr price
#   roughly triples in the short run (150 USD/kg in Germany and Korea), users outside China
#   lose over a third of their supply, and the world loses about 0.8 bn USD a year; inside
#   China the price falls. The same release then covers only part of the gap.
# - **A gallium ban on the US** raises the US gallium price by about half (220 to 342
#   USD/kg): China made nearly nine-tenths of US gallium and the US's other suppliers
#   (Japan and Korea, about 6% each) must be bid away from their own buyers. The welfare
#   at stake is small (the US uses a few tonnes a year); the price is the exposure signal.
