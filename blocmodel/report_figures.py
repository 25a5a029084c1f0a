"""The report's figures: where a product comes from, mine to refinery to user, per member set
(an alluvial chart drawn with matplotlib, embedded as PNG)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # figures without pyplot: no global backend switched under a notebook
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from .compare import Collection, _unit
from .findings import region_name
from .indicators import content_shares, origin_shares
from .results import Results


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode()


PALETTE = {"focus": "#c0392b", "other non-members": "#e59866", "union": "#2e86c1", "largest member": "#f4d03f",
           "other members": "#52be80"}


def group_colour(group: str, collection: Collection) -> str:
    """The same colour for the same role in every figure: the focus outsider red, other
    non-members orange, a customs union blue, the largest member user yellow, others green."""
    if group in ("other non-members", "other members"):
        return PALETTE[group]
    if group.endswith(" members"):
        return PALETTE["union"]
    if collection.focus and group == region_name(collection.data, collection.focus):
        return PALETTE["focus"]
    return PALETTE["largest member"]


def path_groups(collection: Collection, members: set[str], product: str) -> dict[str, str]:
    """Region -> the group it is drawn in: the focus outsider, other non-members, each customs
    union with two or more members, the largest member user of `product`, other members."""
    data = collection.data
    focus = collection.focus
    base = collection.results[collection.baseline].markets
    use = base[(base["product"] == product) & base["region"].isin(members)].set_index("region")["use"]
    top = use.idxmax() if len(use) and use.max() > 0 else None
    unions = {u: set(regions) & members for u, regions in data.customs_unions.items()}
    out = {}
    for region in data.region_codes:
        union = data.customs_union_of.get(region)
        if region == focus and region not in members:
            out[region] = region_name(data, region)
        elif region not in members:
            out[region] = "other non-members"
        elif union and len(unions.get(union, ())) >= 2:
            out[region] = f"{union} members"
        elif region == top:
            out[region] = region_name(data, region)
        else:
            out[region] = "other members"
    return out


def _group_order(groups: dict[str, str]) -> list[str]:
    order = []
    for g in groups.values():
        if g not in order:
            order.append(g)
    first = [g for g in order if g not in ("other non-members", "other members") and not g.endswith(" members")]
    focus_like = first[:1]
    rest = [g for g in order if g not in focus_like]
    ordered = focus_like + [g for g in rest if g == "other non-members"] + \
        [g for g in rest if g not in ("other non-members", "other members")] + [g for g in rest if g == "other members"]
    return ordered


def product_paths(results: Results, product: str, groups: dict[str, str], users=None) -> pd.DataFrame:
    """Quantities of `product` used in `users` (default: everywhere) by (mine group, refinery
    group, user group), traced proportionally through origins: what users get from each
    refinery, and the mine origin of each refinery's input (refining confers origin)."""
    data = results.data
    refined = origin_shares(results, product)            # user × refining region
    m = results.markets[results.markets["product"] == product].set_index("region")
    use = m["use"]
    inputs = data.processing.loc[data.processing["output"] == product, "input"]
    mined = inputs.mode().iloc[0] if len(inputs) else None
    refinery_inputs = content_shares(results, mined) if mined else pd.DataFrame()
    rows = []
    for user, amount in use.items():
        if amount <= 0 or user not in refined.index or users is not None and user not in users:
            continue
        for refinery, share in refined.loc[user].items():
            if share <= 1e-12:
                continue
            if refinery in refinery_inputs.index and refinery_inputs.loc[refinery].sum() > 0:
                mix = refinery_inputs.loc[refinery]
            else:
                mix = pd.Series({refinery: 1.0})
            for mine, content in mix.items():
                if content > 1e-12:
                    rows.append((groups.get(mine, "other non-members"), groups.get(refinery, "other non-members"),
                                 groups.get(user, "other non-members"), amount * share * content))
    frame = pd.DataFrame(rows, columns=["mine", "refinery", "user", "quantity"])
    return frame.groupby(["mine", "refinery", "user"], as_index=False)["quantity"].sum()


def _spread(centres: list[float], gap: float) -> list[float]:
    """Label positions at least `gap` apart, as close to `centres` (ascending) as allowed."""
    out = list(centres)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + gap)
    return out


def _alluvial(ax, paths: pd.DataFrame, title: str, order: list[str], colours: dict[str, str], unit: str) -> None:
    """Mine -> refinery -> user columns of stacked group blocks joined by ribbons; labels on
    the outer columns (one line each, pushed apart so none overlap; groups under 1% of use
    unlabelled: their colour says who they are)."""
    stages = ["mine", "refinery", "user"]
    total = float(paths["quantity"].sum()) or 1.0
    gap = 0.02 * total
    positions = {}
    lowest = total
    for k, stage in enumerate(stages):
        sizes = paths.groupby(stage)["quantity"].sum().reindex(order).fillna(0.0)
        y = 0.0
        labels = []
        for group, size in sizes.items():
            if size > 0:
                positions[(stage, group)] = y
                ax.add_patch(Rectangle((k * 2 - 0.08, y), 0.16, size, color=colours[group], lw=0))
                if size >= 0.01 * total:
                    labels.append((y + size / 2, group, size))
                y += size + gap
        lowest = max(lowest, y)
        placed = _spread([c for c, _, _ in labels], 0.075 * total)
        for (_centre, group, size), ypos in zip(labels, placed):
            if k == 1:          # the middle column: shares only, on a white box over the ribbons
                ax.text(k * 2 + 0.14, ypos, f"{size / total:.0%}", fontsize=7, va="center", ha="left",
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": colours[group], "lw": 0.8})
                continue
            ax.text(k * 2 + (-0.14 if k == 0 else 0.14), ypos, f"{group} {size / total:.0%}", fontsize=8, va="center",
                    ha="right" if k == 0 else "left")
            lowest = max(lowest, ypos + 0.04 * total)
    out_cursor = dict(positions)
    in_cursor = dict(positions)
    for left, right in (("mine", "refinery"), ("refinery", "user")):
        k = stages.index(left)
        flows = paths.groupby([left, right])["quantity"].sum()
        for a in order:
            for b in order:
                size = flows.get((a, b), 0.0)
                if size <= 0:
                    continue
                y0, y1 = out_cursor[(left, a)], in_cursor[(right, b)]
                out_cursor[(left, a)] += size
                in_cursor[(right, b)] += size
                x0, x1 = k * 2 + 0.08, k * 2 + 1.92
                verts = [(x0, y0), ((x0 + x1) / 2, y0), ((x0 + x1) / 2, y1), (x1, y1), (x1, y1 + size),
                         ((x0 + x1) / 2, y1 + size), ((x0 + x1) / 2, y0 + size), (x0, y0 + size), (x0, y0)]
                codes = [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.LINETO,
                         MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.CLOSEPOLY]
                ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=colours[a if left == "mine" else b], alpha=0.45, lw=0))
    ax.set_xlim(-2.3, 6.3)
    ax.set_ylim(lowest + gap, -0.04 * total)     # first group on top
    ax.set_xticks([0, 2, 4], ["mined in", "refined in", "used in"])
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{title}\nmembers' use: {total:,.0f} {unit}", fontsize=9)


def _wrap(text: str, width: int = 38) -> str:
    words, lines, line = str(text).split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "\n".join(lines[:3]) + ("…" if len(lines) > 3 else "")


def sankey_sets(collection: Collection, product: str, threshold: float = 0.02) -> list[tuple[tuple[str, ...], list[str], list[str]]]:
    """(members, designs drawn, designs with little change) per member set: a design is drawn
    when its flows of `product` into members (home flows included) differ from the
    baseline's by more than `threshold` of them."""
    base = collection.results[collection.baseline].flows
    base = base[base["product"] == product].set_index(["origin", "destination"])["quantity"]
    sets: dict[tuple[str, ...], tuple[list[str], list[str]]] = {}
    for design in collection.designs:
        members = tuple(collection.members(design))
        f = collection.results[design].flows
        f = f[f["product"] == product].set_index(["origin", "destination"])["quantity"]
        into = lambda s: s[s.index.get_level_values("destination").isin(members)]  # noqa: E731
        moved = into(f).sub(into(base), fill_value=0.0).abs().sum() / 2
        drawn, quiet = sets.setdefault(members, ([], []))
        (drawn if moved > threshold * max(float(into(base).sum()), 1e-12) else quiet).append(design)
    return [(members, drawn, quiet) for members, (drawn, quiet) in sets.items()]


def figure_paths(collection: Collection, product: str, members: tuple[str, ...], designs: list[str], numbers: dict[str, int]) -> str:
    groups = path_groups(collection, set(members), product)
    order = _group_order(groups)
    colours = {g: group_colour(g, collection) for g in order}
    unit = _unit(collection.data, product)
    panels = [(collection.baseline, f"Baseline: {collection.baseline_title}")] + \
        [(d, f"{numbers[d]}. {collection.title(d)}") for d in designs]
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(4.6 * columns, 3.9 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, (name, title) in zip(axes, panels):
        _alluvial(ax, product_paths(collection.results[name], product, groups, set(members)), _wrap(title), order, colours, unit)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


# ------------------------------------------------------------------ HTML parts
