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
# # China dumps, the bloc answers
#
# **Question.** China subsidises its NdPr oxide and battery-graphite refiners (30% of the
# 2024 reference price per tonne, in `china_dumping`). What does that do to refiners in the
# partner countries, and which answer of the bloc protects them at least cost: an
# anti-dumping duty that offsets the subsidy, a floor held by a variable levy, or a common
# external tariff?

# %%
import matplotlib.pyplot as plt
import pandas as pd

import blocmodel as bm

pd.set_option("display.width", 140, "display.max_columns", 12, "display.float_format", "{:,.2f}".format)

dumping = bm.load_design("china_dumping")
for shock in dumping.supply_shocks:
    print(f"{shock.region} {shock.product}: production subsidy {shock.production_subsidy:,.0f} USD/t")

# %% [markdown]
# The bloc's answers, each composed on top of the dumping scenario (the bloc is the 56
# ministerial partners with free internal trade):
# - **duty**: an anti-dumping (countervailing) duty on Chinese NdPr oxide and graphite
#   equal to the subsidy, on imports into the bloc;
# - **floor**: NdPr oxide and graphite held at their 2024 reference prices by variable levies;
# - **tariff**: a 25% common external tariff on everything from non-members.

# %%
duty = bm.Scenario(name="duty", anti_dumping=[
    {"exporter": "CHN", "importer": "bloc", "product": s.product, "specific": s.production_subsidy} for s in dumping.supply_shocks])
floor = bm.Scenario(name="floor", price_floors=[
    {"product": "ndpr_oxide", "price": 52_500, "mechanism": "variable_levy"},
    {"product": "graphite_refined", "price": 1_950, "mechanism": "variable_levy"}])
bloc = bm.load_design("bloc_ministerial")
designs = {
    "dumping": dumping,
    "dumping + duty": bm.compose([dumping, bloc, duty], name="dumping + duty"),
    "dumping + floor": bm.compose([dumping, bloc, floor], name="dumping + floor"),
    "dumping + tariff": bm.compose([dumping, bm.load_design("bloc_ministerial+cet25")], name="dumping + tariff"),
}
runs = bm.Collection.solve(list(designs.values()))
runs.designs

# %% [markdown]
# ## What dumping does
#
# Chinese output rises, the world price falls, and refiners elsewhere cut back. Output of the
# two products by the bloc's refiners and by China, in each run (tonnes):

# %%
markets = runs.values("markets").xs("supply", level="variable")
partners = set(bm.load_dataset().groups["ministerial2026"])
rows = {}
for product in ("ndpr_oxide", "graphite_refined"):
    part = markets.xs(product, level="product")
    rows[(product, "partners")] = part[part.index.isin(partners)].sum()
    rows[(product, "China")] = part.loc["CHN"]
output = pd.DataFrame(rows).T
output

# %%
prices = runs.values("prices")
members_price = {}
for product in ("ndpr_oxide", "graphite_refined"):
    part = prices.xs(product, level="product")
    members_price[(product, "USA")] = part.loc["USA"]
    members_price[(product, "CHN")] = part.loc["CHN"]
pd.DataFrame(members_price).T

# %% [markdown]
# ## Who gains and who pays
#
# Welfare changes against no policy, million USD/yr, for the bloc, the world and the regions
# with most at stake; and the non-member share of the bloc's use of each product.

# %%
table = runs.design_table().pivot(index="variable", columns="design", values="value")[runs.designs]
welfare = runs.compare("welfare").xs("total", level="variable")[runs.designs] / 1e6
summary = pd.concat([
    table.loc[["welfare|bloc|change", "welfare|world|change", "fiscal_cost|bloc"]] / 1e6,
    welfare.loc[["CHN", "USA", "JPN", "AUS", "MYS", "KOR"]],
    table.loc[["non_member_share|ndpr_oxide", "non_member_share|graphite_refined"]],
])
summary

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), constrained_layout=True)
summary.loc[["welfare|bloc|change", "welfare|world|change", "CHN"]].T.plot.bar(ax=axes[0], rot=15)
axes[0].set_title("welfare change against no policy, million USD/yr")
axes[0].axhline(0, color="grey", lw=0.6)
(output.xs("partners", level=1) / output.xs("partners", level=1)["baseline"].to_numpy()[:, None] * 100 - 100).T.plot.bar(ax=axes[1], rot=15)
axes[1].set_title("partners' refinery output, % change against no policy")
axes[1].axhline(0, color="grey", lw=0.6)
plt.show()

# %% [markdown]
# ## What we found
#
# (Numbers from the run above; the model's caveats apply: no refinery capacity limits in
# the shipped data, so output responds along the short-run supply curves.)

# %%
base_out = output["baseline"]
for design in runs.designs:
    print(f"{design:18s} partners' NdPr output {output.loc[('ndpr_oxide', 'partners'), design] / base_out[('ndpr_oxide', 'partners')] - 1:+.1%}, "
          f"graphite {output.loc[('graphite_refined', 'partners'), design] / base_out[('graphite_refined', 'partners')] - 1:+.1%}; "
          f"bloc welfare {summary.at['welfare|bloc|change', design]:+,.0f} m, world {summary.at['welfare|world|change', design]:+,.0f} m, "
          f"China {summary.at['CHN', design]:+,.0f} m")

# %% [markdown]
# - **Dumping** cuts partners' NdPr and graphite refinery output by about a quarter and the
#   prices of both by about 17%. Partners' consumers gain more than their refiners lose,
#   so the bloc gains (about +90 million USD/yr); China's treasury pays for it.
# - **An anti-dumping duty on China alone barely helps**: Chinese oxide and graphite are
#   diverted to non-member markets, whose own output then flows into the bloc at the
#   depressed world price — trade deflection. A duty against one named exporter protects
#   only where other non-members cannot swap in.
# - **Floors held by levies** restore most of the refiners' output (losses fall to 7–9%)
#   with the bloc's welfare gain almost intact: the levy holds the bloc's price against
#   every non-member, not only China.
# - **A 25% external tariff** protects refiners most but costs the bloc about 290 million
#   USD/yr, because it taxes every mineral, not only the dumped ones. China *gains* about
#   1.4 billion: the tariff diverts non-members' nickel, cobalt and gallium from the bloc to
#   China, whose buyers get them cheaper.
