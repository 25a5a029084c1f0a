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
# **Question.** China pushes cheap NdPr oxide and battery graphite onto members' markets.
# Two ways it can do that differ, and so do the answers:
# - **subsidisation**: a production subsidy (30% of the 2024 reference price per tonne, the
#   library's `china_dumping`) lowers China's price *everywhere*, at home too;
# - **dumping in the trade-law sense**: export-price discrimination, selling to the
#   partners 30% below China's home price (`[[dumping]] kind = "price_discrimination"`).
#
# Which answer protects members' refiners at least cost: an anti-dumping (or
# countervailing) duty, a floor held by a variable levy, or a common external tariff?

# %%
import matplotlib.pyplot as plt
import pandas as pd

import blocmodel as bm
from blocmodel.findings import key_findings, product_name, unit_price

pd.set_option("display.width", 150, "display.max_columns", 12, "display.float_format", "{:,.1f}".format)
data = bm.load_dataset()
products = ["ndpr_oxide", "graphite_refined"]

subsidy = bm.load_design("china_dumping")
for shock in subsidy.supply_shocks:
    print(f"China's subsidy on {product_name(data, shock.product)}: {unit_price(data, shock.product, shock.production_subsidy)}")

# %% [markdown]
# The bloc's answers, each composed on top of the subsidy (the bloc is the 56 ministerial
# partners with free internal trade):
# - **duty**: a countervailing duty on Chinese NdPr oxide and graphite equal to the subsidy;
# - **floor**: NdPr oxide and graphite held at their 2024 reference prices by variable levies;
# - **tariff**: a 25% common external tariff on everything from non-members.
#
# And against price discrimination, an anti-dumping duty set to the dumping margin.

# %%
bloc = bm.load_design("bloc_ministerial")
duty = bm.Scenario(name="duty", anti_dumping=[
    {"exporter": "CHN", "importer": "bloc", "product": s.product, "specific": s.production_subsidy} for s in subsidy.supply_shocks])
floor = bm.Scenario(name="floor", price_floors=[
    {"product": "ndpr_oxide", "price": "52.5 USD/kg", "mechanism": "variable_levy"},
    {"product": "graphite_refined", "price": "1950 USD/t", "mechanism": "variable_levy"}])
discrimination = bm.Scenario(name="price discrimination", title="China sells NdPr oxide and graphite to the partners 30% below its home price",
                             dumping=[{"exporter": "CHN", "product": p, "kind": "price_discrimination", "margin": 0.3,
                                       "destinations": ["ministerial2026"]} for p in products])
margin_duty = bm.Scenario(name="margin duty", anti_dumping=[
    {"exporter": "CHN", "importer": "bloc", "product": p, "margin": True} for p in products])
designs = [
    bm.compose([subsidy], name="subsidy"),
    bm.compose([subsidy, bloc, duty], name="subsidy + duty"),
    bm.compose([subsidy, bloc, floor], name="subsidy + floor"),
    bm.compose([subsidy, bm.load_design("bloc_ministerial+cet25")], name="subsidy + tariff"),
    bm.compose([discrimination], name="price discrimination"),
    bm.compose([discrimination, bloc, margin_duty], name="discrimination + margin duty"),
]
runs = bm.Collection.solve(designs, data, key_products=products, focus="CHN")
runs.designs

# %% [markdown]
# ## What each kind of dumping does
#
# Output of the two products by the partners' refiners and by China (tonnes), and the
# price buyers pay in the US and in China:

# %%
partners = set(data.groups["ministerial2026"])
markets = runs.values("markets").xs("supply", level="variable")
rows = {}
for product in products:
    part = markets.xs(product, level="product")
    rows[(product_name(data, product), "partners")] = part[part.index.isin(partners)].sum()
    rows[(product_name(data, product), "China")] = part.loc["CHN"]
output = pd.DataFrame(rows).T
output

# %%
prices = runs.values("prices")
pd.DataFrame({(product_name(data, p), region): [unit_price(data, p, v) for v in prices.loc[(region, p)]]
              for p in products for region in ("USA", "CHN")}, index=prices.columns).T

# %% [markdown]
# A subsidy lowers China's price at home as much as abroad. Price discrimination does not:
# China's exporters give the discount only to the partners, so China's buyers pay more
# than the partners do for Chinese oxide.
#
# ## Who gains and who pays
#
# Welfare changes against no policy (USD m a year) for the partners, the world and the
# regions with most at stake, and the share of partners' use made outside the group.

# %%
table = runs.design_table().pivot(index="variable", columns="design", values="value")[runs.designs]
welfare = pd.DataFrame({d: runs.welfare_change(d, unit="USD m").set_index("region")["total"] for d in runs.designs})
summary = pd.concat([
    table.loc[["welfare|bloc|change", "welfare|world|change", "fiscal_cost|bloc"]] / 1e6,
    welfare.loc[["CHN", "USA", "JPN", "AUS", "MYS", "KOR"]],
    table.loc[["non_member_share|ndpr_oxide", "non_member_share|graphite_refined"]] * 100,
])
summary.index = ["partners' welfare", "world welfare", "partners' fiscal cost", "China", "United States", "Japan", "Australia",
                 "Malaysia", "Korea", "NdPr oxide made outside, %", "graphite made outside, %"]
summary

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4), constrained_layout=True)
summary.loc[["partners' welfare", "world welfare", "China"]].T.plot.bar(ax=axes[0], rot=20)
axes[0].set_title("welfare change against no policy, USD m/yr")
axes[0].axhline(0, color="grey", lw=0.6)
partner_output = output.xs("partners", level=1)
(partner_output.div(partner_output["baseline"], axis=0) * 100 - 100)[runs.designs].T.plot.bar(ax=axes[1], rot=20)
axes[1].set_title("partners' refinery output, % change against no policy")
axes[1].axhline(0, color="grey", lw=0.6)
for ax in axes:
    ax.tick_params(axis="x", labelsize=8)
plt.show()

# %% [markdown]
# ## What we found
#
# The report's findings for each design (generated from the results):

# %%
for design in runs.designs:
    print(design.upper())
    for sentence in key_findings(runs.results[design], runs.base_of(design), focus="CHN"):
        print(" -", sentence)
    print()

# %% [markdown]
# - **Subsidised Chinese supply** lowers NdPr and graphite prices everywhere, China's
#   included (NdPr oxide from 52.5 to about 45 USD/kg in the US, 43.6 in China); partners'
#   refiners cut output (NdPr by about 9%) while their buyers gain more than the refiners
#   lose, so the partners gain about 145 m USD a year and China's treasury pays for it.
# - **A countervailing duty equal to the subsidy** protects partners' refiners best here:
#   with calibrated trade, Chinese goods are not simply swapped for other non-members' (each
#   route's cost rises with its flow), so the duty lifts partners' prices back to or above
#   their 2024 level and partners' graphite output above it. A **levy floor at the 2024
#   reference price** protects less (it binds only where the price falls below it) but
#   keeps the partners' welfare gain whole.
# - **A 25% external tariff** taxes every mineral, not only the dumped ones: it moves the
#   partners' welfare by about +2.1 bn USD a year through their terms of trade, costs the
#   world about 1.8 bn and lets China gain about 2.5 bn from the supply it diverts.
# - **Price discrimination** (the trade-law sense of dumping) is different in kind: the
#   discount goes to the partners only, so China's home price *rises* a little (to about
#   53.3 USD/kg) while partners pay about 43.7. An anti-dumping duty set to the margin
#   takes the discount back at the partners' border: trade, output and prices return
#   exactly to no policy, and the discount China still gives becomes the partners' duty
#   revenue (about 210 m USD a year).
