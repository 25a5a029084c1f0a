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
# library's `china_ban`). What happens to prices and supply, which members are exposed, and
# what does a release from strategic stocks do? And when would such a ban really bite?

# %%
import matplotlib.pyplot as plt
import pandas as pd

import blocmodel as bm

pd.set_option("display.width", 140, "display.max_columns", 12, "display.float_format", "{:,.1f}".format)
data = bm.load_dataset()
base = bm.solve(data)
products = ["ndpr_oxide", "graphite_refined"]

# %% [markdown]
# ## Who is exposed
#
# Where each large user's NdPr oxide and refined graphite came from in the 2024
# equilibrium (share produced in China, traced through trade):

# %%
exposure = pd.DataFrame({product: bm.origin_shares(base, product)["CHN"] for product in products})
users = base.markets[base.markets["product"].isin(products)].pivot(index="region", columns="product", values="demand")
exposure = exposure.join(users.add_suffix(" use, t")).loc[["USA", "JPN", "KOR", "DEU", "IND", "FRA", "GBR", "AUS"]]
exposure

# %% [markdown]
# ## The ban as announced: only the US and Japan
#
# With every route open, China's oxide and graphite go to other markets and other
# suppliers' output goes to the US and Japan instead (or China's goods pass through a third
# country: the model, like any homogeneous-goods model, has no rules of origin).

# %%
scenarios = {"china_ban": bm.load_design("china_ban")}
ban_all = bm.Scenario(name="ban on every buyer", export_restrictions=[
    {"exporter": "CHN", "destinations": ["*"], "product": mineral, "ban": True} for mineral in ("rare_earths", "graphite")])
scenarios["ban on every buyer"] = ban_all
scenarios["ban on every buyer + release"] = bm.compose(
    [ban_all, bm.load_design("china_ban_response")], name="ban on every buyer + release")
runs = bm.Collection.solve(list(scenarios.values()), data)
prices = runs.values("prices")
pd.concat({p: prices.xs(p, level="product").loc[["USA", "JPN", "DEU", "CHN", "ROW"]] for p in products})

# %% [markdown]
# The announced ban moves prices by a few dollars a tonne: diversion undoes it. A ban
# bites when the rest of the world cannot swap in, so the stress test is China exporting no
# rare earths or graphite at all (as its 2025 licensing threatened), with and without the
# library response: the US releases 1,000 t and Japan 500 t of NdPr oxide from stocks.

# %%
demand = runs.values("markets").xs("demand", level="variable").xs("ndpr_oxide", level="product")
shortfall = (demand.div(demand["baseline"], axis=0) - 1) * 100
shortfall.loc[["USA", "JPN", "KOR", "DEU", "IND", "CHN"]].round(1)

# %%
welfare = runs.compare("welfare").xs("total", level="variable") / 1e6
welfare.loc[["USA", "JPN", "KOR", "DEU", "MYS", "AUS", "CHN"]]

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), constrained_layout=True)
ndpr = prices.xs("ndpr_oxide", level="product").loc[["USA", "JPN", "DEU", "CHN"]] / 1000
ndpr.plot.bar(ax=axes[0], rot=0)
axes[0].set_title("NdPr oxide price, USD/kg")
shortfall.loc[["USA", "JPN", "KOR", "DEU", "IND"], runs.designs].plot.bar(ax=axes[1], rot=0)
axes[1].set_title("NdPr oxide use, % change against no policy")
axes[1].axhline(0, color="grey", lw=0.6)
plt.show()

# %% [markdown]
# ## What we found

# %%
p = prices.xs("ndpr_oxide", level="product")
print(f"NdPr oxide in the US: {p.at['USA', 'baseline']:,.0f} USD/t with no policy; "
      + "; ".join(f"{d}: {p.at['USA', d]:,.0f}" for d in runs.designs))
print(f"in China under a ban on every buyer: {p.at['CHN', 'ban on every buyer']:,.0f}")

# %% [markdown]
# - **A ban aimed at the US and Japan alone does almost nothing** in this model: China's
#   oxide goes elsewhere and other suppliers' output (Malaysia, the rest of the world) goes
#   to the US and Japan. Germany, which bought all its oxide from China, and the US and
#   Korea (about a third) are the exposed members; Japan buys from Malaysia. What matters
#   is how much *non-Chinese* output there is, not who buys from China today.
# - **A ban on every buyer bites for NdPr**: outside China the oxide price rises by about a
#   third (to about 71,000 USD/t) and every buyer outside China uses 7% less; inside China
#   it falls. Malaysia's refiner gains; Germany, Japan and Korea lose most.
# - **Releasing 1,500 t from US and Japanese stocks** halves the price rise and the loss
#   of use for every buyer outside China, not only for the two that release.
# - **Graphite does not move, and that is a data limitation, not a finding**: with no
#   published split of China's graphite consumption, the shipped data sets China's demand to
#   its own output share, so China exports no refined graphite in the base year and a ban
#   has nothing to stop (see `data/README.md`).
# - Further caveats: no refinery capacity limits in the shipped data (others expand along
#   their supply curves) and no rules of origin; both make bans look weaker than they would
#   be in a short-run crisis.
