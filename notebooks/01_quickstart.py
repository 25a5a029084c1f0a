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
# the trade graph, solve the no-policy equilibrium and read prices, flows, welfare and
# the partners' dependency on non-members.

# %%
import matplotlib.pyplot as plt
import networkx as nx
import pandas as pd

import blocmodel as bm

pd.set_option("display.width", 140, "display.max_columns", 12, "display.float_format", "{:,.3f}".format)

data = bm.load_dataset()
print(f"{len(data.regions)} regions, {len(data.products)} products, {len(data.routes)} routes, "
      f"{len(data.supply)} supply and {len(data.demand)} demand curves")
data.products

# %% [markdown]
# Every number says where it comes from; elasticities are assumptions and say why.

# %%
data.supply[data.supply["product"] == "ndpr_oxide"][["region", "ref_quantity", "ref_price", "elasticity", "source"]].head()

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
refined = concentration[concentration["product"].str.endswith(("refined", "oxide"))].sort_values("top_share")
ax.barh(refined["product"], refined["top_share"] * 100, color="#b44")
for y, (share, region) in enumerate(zip(refined["top_share"], refined["top_region"])):
    ax.text(share * 100 + 1, y, region, va="center", fontsize=8)
ax.set_xlabel("share of world output of the largest producer, %")
ax.set_title("Refined products: the largest producer's share (2024)")
plt.show()

# %% [markdown]
# The trade graph is a NetworkX multigraph: regions are nodes, each route (one per
# product) an arc with its transport cost, tariffs and capacity.

# %%
graph = bm.trade_graph(data)
ndpr = nx.DiGraph([(u, v) for u, v, k in graph.edges(keys=True) if k == "ndpr_oxide"])
print(f"trade graph: {graph.number_of_nodes()} regions, {graph.number_of_edges()} routes; "
      f"NdPr oxide can reach {ndpr.number_of_nodes()} regions over {ndpr.number_of_edges()} routes")
print("who can ship NdPr oxide to the US:", sorted(ndpr.predecessors("USA")))

# %% [markdown]
# ## The no-policy equilibrium
#
# `bm.solve` builds the model, solves it with HiGHS and checks every equilibrium
# condition with code independent of the solver; a failed check raises an error.

# %%
base = bm.solve(data)
summary = base.summary()
print(f"status {summary['status']}, largest residual {summary['max_residual']:.1e}, {base.meta['solve_seconds']:.2f} s")

# %% [markdown]
# Prices are what buyers pay in each region (USD per tonne of content).

# %%
prices = base.prices.pivot(index="region", columns="product", values="price")
prices.loc[["USA", "JPN", "DEU", "AUS", "CHN"], ["lithium_refined", "cobalt_refined", "graphite_refined", "ndpr_oxide"]]

# %% [markdown]
# The largest NdPr oxide flows, and the world's welfare by region (consumer and producer
# surplus, refiner rents, tariff revenue; `total` is what a welfare change compares).

# %%
base.flows[base.flows["product"] == "ndpr_oxide"].nlargest(8, "quantity")[["origin", "destination", "quantity", "landed_price"]]

# %%
base.welfare.nlargest(8, "total")[["region", "consumer_surplus", "producer_surplus", "refiner_rent", "tariff_revenue", "total"]]

# %% [markdown]
# ## How dependent are the partners on non-members?
#
# `non_member_share` is the share of the partners' use produced (at that stage) outside the
# 56; `non_member_content_share` traces the mined content through refineries.

# %%
partners = data.groups["ministerial2026"]
dependency = bm.bloc_dependency(base, partners).set_index("product")
dependency[["use", "self_sufficiency", "non_member_share", "non_member_content_share"]]

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
dependency["non_member_share"].sort_values().plot.barh(ax=ax, color="#457")
ax.set_xlabel("share of the 56 partners' use produced by non-members")
ax.set_title("Dependency on non-members with no bloc (2024 equilibrium)")
plt.show()

# %%
top = concentration.set_index("product")
for product in ["gallium_refined", "graphite_refined", "ndpr_oxide", "germanium_refined", "cobalt_refined", "lithium_refined"]:
    print(f"{product:18s} largest refiner {top.at[product, 'top_region']} {top.at[product, 'top_share']:.0%};"
          f" partners' use from non-members {dependency.at[product, 'non_member_share']:.0%}")

# %% [markdown]
# ## What we found
#
# - Refining is the choke point: China is the largest refiner of every refined product but
#   nickel (Indonesia), with 98% of gallium, 96% of battery graphite, 91% of NdPr oxide,
#   86% of germanium, 78% of cobalt and 70% of lithium refined in the base year.
# - The no-policy equilibrium reproduces the 2024 reference prices and quantities (it is
#   calibrated to them) and passes the independent equilibrium check to about 1e-10.
# - The 56 partners produce much of what they use, but still buy 71% of their refined
#   lithium, 47% of their NdPr oxide, 44% of their gallium and 37% of their battery
#   graphite from non-members (much less cobalt: Finland, Japan and Canada refine it). The
#   other notebooks ask what each bloc instrument does about that, and at what cost.
