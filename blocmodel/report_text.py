"""The report's fixed text: the assumptions the results hinge on, the glossary, the page's CSS."""

from .results import STOCK_VALUATION

ASSUMPTIONS = [
    "Every supply and demand elasticity is an assumption (no published value was readable): mined supply 0.2–0.4, "
    "gallium and germanium 0.1, refining 0.5, demand −0.2 to −0.4 (A20). Welfare changes scale roughly with them; the "
    "Monte Carlo batch gives bands.",
    "How readily buyers switch suppliers (σ, the curvature of each route's calibrated cost) is taken from GTAP's "
    "import-source elasticities as recalled, 1.8 for ores to 8.4 for refined metals (A34): it sets how far trade "
    "diverts under a bloc's tariff or floor.",
    "For 9 products without bilateral trade data (e.g. NdPr oxide, cobalt chemicals, battery graphite) the 2024 flows "
    "are constructed: each region's surplus goes to deficit regions in proportion to their deficits (A24). Members' "
    "import sources and non-member shares for these products are indicative.",
    "Consumption of cobalt, NdPr oxide and manganese alloys outside China follows refined-copper or steel use (A17, "
    "A18); members' dependency on these products depends on that allocation.",
    "Capacities bind only in the short run; where none is published, capacity is output ÷ an assumed utilisation (A33). "
    "In the medium run (the default) output follows the supply curves.",
    "Transport costs are centroid distance × a bulk or container rate (A15); ad valorem duties apply to the CIF value; "
    "MFN tariffs are zero where the references give none (A16).",
    f"Stocks bought or released are valued at {STOCK_VALUATION:g} × the product's 2024 reference price; buying above it is "
    "a welfare cost to the funders.",
    "One year; no investment response beyond the curves; refining confers origin (ore mined outside the bloc and "
    "refined inside it counts as a member good; the mined-content share reports what that hides).",
]

GLOSSARY = [
    ("Common external tariff", "A duty all bloc members levy alike on goods made outside the bloc, here a share of their "
                               "CIF value; goods made inside the bloc cross members' borders free."),
    ("MFN tariff", "Most-favoured-nation tariff: the duty a country applies to every WTO member without a trade "
                   "agreement, the dataset's 2024 rates. The no-policy baseline keeps them."),
    ("CIF / FOB", "Free on board (FOB): the price at the exporter's border. Cost, insurance and freight (CIF): FOB plus "
                  "transport to the importer's border; ad valorem duties are charged on it."),
    ("Price floor", "A reference price for one product at one stage, held in the member markets a design names, by one "
                    "of the mechanisms below."),
    ("Variable levy", "An adjustable duty on goods made outside the bloc that lifts their landed price (CIF + duties) to "
                      "the floor; the importing member collects it. It holds the price at which non-member goods "
                      "enter, not the members' own price."),
    ("Deficiency payment", "Members' producers receive the floor when the market pays less; a treasury pays the gap per "
                           "unit (the DoD–MP Materials NdPr deal is of this kind). Buyers pay the market price."),
    ("Price support", "A floor that holds the members' price itself: the variable levy, plus a reserve purchase or a "
                      "deficiency payment where the levy alone leaves members' producers below the floor."),
    ("Stockpile (reserve)", "A reserve that buys from producers in named origins whatever holds their price at the floor, "
                            "within a yearly budget; when the budget runs out its bid falls below the floor. Stock "
                            "purchases are not use, so dependency is measured on use alone."),
    ("Buyers' price / producers' price", "What buyers in a region pay (price) and what its producers receive "
                                         "(producer_price). They differ when a region both imports and exports, under "
                                         "a deficiency payment, or where a levy or duty separates them."),
    ("Binds / prohibitive / cannot bind / budget-limited / slack",
     "A floor binds where it sets the price of the goods it targets; it is prohibitive where the levy shuts non-member "
     "goods out and the members' price settles below the floor; it cannot bind where members are net exporters (a "
     "levy on imports cannot lift their price); budget-limited where the reserve has spent its budget; slack where "
     "the market is already at or above it, or there is nothing for it to act on."),
    ("Dependency (non-member share)", "Of members' use of a product (final demand plus refinery input), the share made "
                                      "outside the bloc at that stage. The mined-content share traces the ore inside "
                                      "refined goods back to the mine. The focus share is the part made in one "
                                      "outsider (China in the shipped data)."),
    ("Welfare change", "The change against the baseline, per year, of consumer and producer surplus, capacity and "
                       "refiner rents, tariff, levy and quota revenue, route rents and stock value, less fiscal cost. "
                       "Levels of surplus have no meaning of their own and are never shown."),
    ("Short run / medium run", "Short run: output at most the 2024 capacities (a one-year disruption). Medium run, the "
                               "default: output follows the supply curves."),
    ("No data", "A region no source publishes any activity for. Its zero is absence of data, not a finding."),
]

CSS = """*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;padding:1em 24px 3em;color:#222;line-height:1.45}
h1{font-size:1.55em;margin:.3em 0}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:1.8em;padding-bottom:.15em}
h3{font-size:1.02em;margin:1.1em 0 .3em}
.lede{font-size:1.02em}.muted{color:#666;font-size:.85em}
.scroll{overflow-x:auto;max-width:100%;margin:.5em 0;border:1px solid #eee}
table{border-collapse:collapse;font-size:.82em}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top}
th{background:#f4f4f4;font-weight:600;white-space:normal}
td.l,th.l{text-align:left}
thead th{position:sticky;top:0}
.wide td:first-child,.wide th:first-child{position:sticky;left:0;background:#fff;z-index:1;text-align:left;min-width:10em;max-width:15em}
.wide th:first-child{background:#f4f4f4}
th.design{min-width:6.5em;max-width:9em;font-size:.9em;font-weight:500}
td.title{text-align:left;min-width:13em;max-width:20em}
td.nodata{color:#888;font-style:italic;text-align:center}
.member{font-weight:700}.nowrap{white-space:nowrap}
.tall{max-height:85vh}
@media print{.scroll{overflow:visible;max-height:none}}
img{max-width:100%;height:auto;display:block;margin:.5em 0}
article{margin-bottom:1.2em}article ul{margin:.3em 0;padding-left:1.3em}li{margin:.25em 0}
dl{display:grid;grid-template-columns:minmax(9em,14em) 1fr;gap:.35em 1em}dt{font-weight:600}dd{margin:0}
span.code{border-bottom:1px dotted #999}
@media (max-width:900px){dl{grid-template-columns:1fr}body{padding:1em 14px 3em}}"""


# --------------------------------------------------------------- formatting
