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
# # Quickstart: the shipped data, the trade graph and the no-policy equilibrium
#
# **Question.** Who supplies the critical minerals the ministerial partners use, how
# concentrated is that supply, and what does the 2024 market look like before any bloc?
#
# We load the shipped dataset (USGS, IEA, BACI; every row carries its `source`), look at
# the trade graph, solve the no-policy equilibrium and read prices, flows and the
# partners' dependency on non-members. Paths work from the project root and from
# `notebooks/`; library scenarios can be named (`"full_bloc"`).

# %%
import matplotlib.pyplot as plt
import networkx as nx
import pandas as pd

import blocmodel as bm
from blocmodel.findings import product_name, region_name, unit_price

pd.set_option("display.width", 140, "display.max_columns", 12, "display.float_format", "{:,.3f}".format)

data = bm.load_dataset()
print(f"{len(data.regions)} regions, {len(data.products)} products, {len(data.routes):,} routes, "
      f"{len(data.supply)} supply and {len(data.demand)} demand curves; no published data for "
      + ", ".join(region_name(data, r) for r in data.no_data_regions))
data.products[["product", "mineral", "stage", "unit", "substitution_elasticity"]]

# %% [markdown]
# Every number says where it comes from; elasticities are assumptions and say why. Prices
# are in USD per tonne of content (NdPr oxide: 52,500 USD/t, i.e. 52.5 USD/kg).

# %%
data.supply[data.supply["product"] == "ndpr_oxide"][["region", "ref_quantity", "ref_price", "elasticity", "capacity", "source"]].head()

# %% [markdown]
# ## Who supplies whom
#
# Concentration of production in the base year (HHI on a 0–10,000 scale): refining is far
# more concentrated than mining, and China leads almost every refined market.

# %%
concentration = bm.supply_concentration(data)
concentration.sort_values("hhi", ascending=False)

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
refined = concentration[concentration["product"].map(data.stage) == "refined"].sort_values("top_share")
ax.barh([product_name(data, p) for p in refined["product"]], refined["top_share"] * 100, color="#b44")
for y, (share, region) in enumerate(zip(refined["top_share"], refined["top_region"])):
    ax.text(share * 100 + 1, y, region_name(data, region), va="center", fontsize=8)
ax.set_xlabel("share of world output of the largest producer, %")
ax.set_xlim(0, 115)
ax.set_title("Refined products: the largest producer's share (2024)")
plt.show()

# %% [markdown]
# The trade graph is a NetworkX multigraph: regions are nodes, each route (one per
# product) an arc with its transport cost, tariffs and capacity. Routes with a 2024 flow
# calibrate the model; the others are potential routes that policy can open.

# %%
graph = bm.trade_graph(data)
ndpr = nx.DiGraph([(u, v) for u, v, k in graph.edges(keys=True) if k == "ndpr_oxide"])
print(f"trade graph: {graph.number_of_nodes()} regions, {graph.number_of_edges():,} routes; "
      f"NdPr oxide can reach {ndpr.number_of_nodes()} regions over {ndpr.number_of_edges()} routes")
print("who can ship NdPr oxide to the US:", ", ".join(region_name(data, r) for r in sorted(ndpr.predecessors("USA"))))

# %% [markdown]
# ## The no-policy equilibrium
#
# `bm.solve` resolves the scenario, solves the equilibrium and checks every condition with
# code independent of the solver; a failed check raises an error. A result prints short;
# in a notebook it shows a summary. The `horizon` says how far supply can move within the
# year: `medium_run` (the default) follows the supply curves, `short_run` holds output at
# or below the 2024 capacities.

# %%
base = bm.solve(data)
short = bm.solve(data, {"horizon": "short_run"})
print(repr(base))
print(f"{base.meta['solve_seconds']:.2f} s; short run: {short.scenario.horizon}, largest residual {short.check_report.max_residual:.1e}")
base

# %% [markdown]
# Goods keep their origin: a flow runs from the region where a product is made to the
# region where it is used, and a region's own market is a route too (`home=True`). The
# largest NdPr oxide flows, China's home market first:

# %%
ndpr_flows = base.flows[base.flows["product"] == "ndpr_oxide"].nlargest(8, "quantity")
ndpr_flows[["origin", "destination", "home", "quantity", "transport_cost", "tariff", "landed_price"]]

# %% [markdown]
# Prices: `price` is what buyers in a region pay, `producer_price` what its producers get
# (they differ where a region both imports and exports). In the unit traders quote:

# %%
prices = base.prices.pivot(index="region", columns="product", values="price")
shown = ["lithium_refined", "cobalt_refined", "graphite_refined", "ndpr_oxide"]
pd.DataFrame({product_name(data, p): [unit_price(base, p, prices.at[r, p]) for r in ["USA", "JPN", "DEU", "AUS", "CHN"]] for p in shown},
             index=[region_name(data, r) for r in ["USA", "JPN", "DEU", "AUS", "CHN"]])

# %% [markdown]
# Welfare is reported only as a *change* against a baseline (`r.welfare_change(base,
# unit="USD m")`, by region or by product): levels of surplus under linear curves have no
# meaning of their own. The other notebooks compare designs that way.
#
# ## How dependent are the partners on non-members?
#
# `non_member_share` is the share of the partners' use made (at that stage) outside the
# 56; `non_member_content_share` traces the mined content through refineries;
# `focus_share` is the share made in China.

# %%
partners = data.groups["ministerial2026"]
dependency = bm.bloc_dependency(base, partners).set_index("product")
dependency[["use", "self_sufficiency", "non_member_share", "non_member_content_share", "focus_share"]]

# %%
fig, ax = plt.subplots(figsize=(8, 4))
shares = dependency["non_member_share"].sort_values()
ax.barh([product_name(data, p) for p in shares.index], shares * 100, color="#457")
ax.set_xlabel("share of the 56 partners' use made by non-members, %")
ax.set_title("Dependency on non-members with no bloc (2024 equilibrium)")
plt.show()

# %% [markdown]
# ## What we found

# %%
top = concentration.set_index("product")
for product in ["gallium_refined", "graphite_refined", "ndpr_oxide", "germanium_refined", "cobalt_refined", "lithium_refined"]:
    print(f"{product_name(data, product):20s} largest refiner {region_name(data, top.at[product, 'top_region'])} "
          f"{top.at[product, 'top_share']:.0%}; partners' use made by non-members {dependency.at[product, 'non_member_share']:.0%}, "
          f"in China {dependency.at[product, 'focus_share']:.0%}")
print(f"baseline check: largest relative residual {base.check_report.max_residual:.1e}")

# %% [markdown]
# - Refining is the choke point: China is the largest refiner of every refined product but
#   nickel (Indonesia), with 98% of gallium, 96% of battery graphite, 91% of NdPr oxide,
#   86% of germanium, 78% of cobalt and 70% of lithium refined in 2024.
# - The no-policy equilibrium reproduces the observed 2024 trade (the calibrated route
#   costs make it the equilibrium) and passes the independent equilibrium check.
# - The 56 partners make much of what they use, but 86% of their NdPr oxide, 81% of their
#   battery graphite and 80% of their refined lithium is made outside the group, most of it
#   in China (75%, 81% and 48%); cobalt much less (Finland, Japan and Canada refine it).
#   The other notebooks ask what each bloc instrument does about that, and at what cost.
