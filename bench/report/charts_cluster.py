"""Charts about the cluster and across results files: per-node resources, files side by side, scaling.

Same house style and SVG output as bench.report.charts (which holds the per-run charts); split off to keep
each module readable.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.ticker import FuncFormatter

from bench.format import fmt_time
from bench.report.charts import (MARKERS, OKABE_ITO, SERIES, figure, house_style, mode_colour, seconds_formatter,
                                 style_axes, to_svg)


# --- (5) per-node CPU and memory over time -------------------------------------------


@house_style
def node_resources(nodes: Sequence[dict], spans: Sequence[dict], faults: Sequence[dict] = ()) -> str | None:
    """nodes: name, cpus, series [(t_rel_s, cpu_pct, mem_bytes)] with None marking gaps; lost (bool) and
    lost_at (seconds, when the driver saw the loss) for a node that died. spans: short, start, end (seconds
    relative to the suite start). faults: t, text (injected by a chaos harness)."""
    nodes = [n for n in nodes if any(s is not None for s in n["series"]) or n.get("lost")]
    if not any(any(s is not None for s in n["series"]) for n in nodes):
        return None
    fig, (top, bottom) = figure(2, 1, height=4.6, sharex=True)
    for ax in (top, bottom):
        style_axes(ax)
        for i, span in enumerate(spans):
            ax.axvspan(span["start"], span["end"], color="#e6e6e6" if i % 2 == 0 else "#f3f3f3", zorder=0, linewidth=0)
            ax.axvline(span["start"], color="#bbbbbb", linewidth=0.5, zorder=0)
    total = max((s["end"] for s in spans), default=1) or 1
    for span in spans:
        if (span["end"] - span["start"]) / total > 0.025:
            top.text((span["start"] + span["end"]) / 2, 1.01, span["short"], transform=top.get_xaxis_transform(),
                     ha="center", va="bottom", fontsize=6.5, rotation=90, color="#444444")
    for i, node in enumerate(nodes):
        colour = SERIES[i % len(SERIES)]
        ts = [s[0] if s else float("nan") for s in node["series"]]
        cpu = [s[1] if s else float("nan") for s in node["series"]]
        mem = [s[2] / 2**30 if s else float("nan") for s in node["series"]]
        label = node["name"]
        if node.get("lost"):
            label += " (lost" + (f" at {node['lost_at']:.3g} s)" if node.get("lost_at") is not None else ")")
        top.plot(ts, cpu, color=colour, linewidth=1, label=label)
        bottom.plot(ts, mem, color=colour, linewidth=1, label=label)
        if node.get("cpus"):
            top.axhline(node["cpus"] * 100, color=colour, linestyle=":", linewidth=0.8)
        if node.get("lost"):
            last = [s for s in node["series"] if s is not None]
            if last:  # the series ends here: the last sample that came back from the node
                top.plot([last[-1][0]], [last[-1][1]], marker="X", color=colour, markersize=8,
                         markeredgecolor="black", linestyle="none", zorder=5)
                bottom.plot([last[-1][0]], [last[-1][2] / 2**30], marker="X", color=colour, markersize=8,
                            markeredgecolor="black", linestyle="none", zorder=5)
            if node.get("lost_at") is not None:
                for ax in (top, bottom):
                    ax.axvline(node["lost_at"], color=OKABE_ITO["vermillion"], linestyle="--", linewidth=1.3, zorder=4)
                bottom.text(node["lost_at"], 0.97, f" ✗ {node['name']} lost", transform=bottom.get_xaxis_transform(),
                            ha="left", va="top", fontsize=7.5, color=OKABE_ITO["vermillion"], fontweight="bold")
    for fault in faults:
        for ax in (top, bottom):
            ax.axvline(fault["t"], color=OKABE_ITO["black"], linestyle=(0, (1, 1.5)), linewidth=1.2, zorder=4)
        bottom.text(fault["t"], 0.80, f"⚡ {fault['text']} ", transform=bottom.get_xaxis_transform(),
                    ha="right", va="top", fontsize=7, color="#333333")
    top.set_ylabel("CPU (% of one core)")
    top.set_ylim(bottom=0)
    bottom.set_ylabel("memory in use (GiB)")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("time since the first run started (s); shaded bands are runs, gaps are between runs"
                      + ("; dashed red: node lost" if any(n.get("lost") for n in nodes) else "")
                      + ("; dotted black: fault injected" if faults else ""))
    top.set_title("Per-node CPU and memory during the runs", loc="left", pad=44)
    top.legend(loc="lower left", ncol=min(4, len(nodes)), title="node", title_fontsize=8, frameon=True, framealpha=0.9)
    fig.tight_layout()
    return to_svg(fig, "node-resources")


# --- several results files side by side ----------------------------------------------


@house_style
def side_by_side(labels: Sequence[str], files: Sequence[str], medians: Sequence[Sequence[float | None]]) -> str | None:
    """medians[f][l]: median response time of run label l in file f (None if absent or wrong)."""
    if not labels or len(files) < 2:
        return None
    n_files = len(files)
    fig, ax = figure(height=1.0 + 0.22 * len(labels) * n_files + 0.2 * len(labels))
    style_axes(ax)
    height = 0.8 / n_files
    base = np.arange(len(labels))[::-1].astype(float)
    for f, name in enumerate(files):
        ys = base + 0.4 - height * (f + 0.5)
        values = [medians[f][i] for i in range(len(labels))]
        xs = [v if v else 0 for v in values]
        ax.barh(ys, xs, height=height * 0.92, color=SERIES[f % len(SERIES)], label=name)
    ax.set_yticks(base)
    ax.set_yticklabels(labels)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(seconds_formatter())
    ax.set_xlabel("median response time (s, log scale)")
    ax.set_title("Results files side by side", loc="left")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right")
    return to_svg(fig, "side-by-side")


# --- speed-up and efficiency against total CPUs --------------------------------------


@house_style
def scaling(series: Sequence[dict], cpus: Sequence[int], title: str = "", name: str = "scaling",
            target: float = 0.9) -> str | None:
    """series: mode, points [{cpus, speedup, efficiency}] relative to the smallest cluster (P0).
    Left: speed-up with the ideal line y = P/P0; right: parallel efficiency with 100% and the target."""
    series = [s for s in series if len([p for p in s["points"] if p.get("speedup")]) >= 2]
    if not series or len(cpus) < 2:
        return None
    fig, (left, right) = figure(1, 2, height=3.5)
    p0 = min(cpus)
    top = max(cpus)
    for ax in (left, right):
        style_axes(ax)
        ax.set_xlabel("total CPUs in the cluster")
        ax.set_xticks(sorted(set(cpus)))
        ax.set_xlim(p0 - 0.3, top + 0.3)
    left.plot([p0, top], [1, top / p0], color="#777777", linestyle="--", linewidth=1.2, label=f"ideal: P / {p0:g}")
    right.axhline(1.0, color="#777777", linestyle="--", linewidth=1.2, label="ideal (100%)")
    right.axhline(target, color=OKABE_ITO["vermillion"], linestyle=":", linewidth=1, label=f"target ({target:.0%})")
    high = top / p0
    for i, s in enumerate(series):
        pts = sorted((p for p in s["points"] if p.get("speedup")), key=lambda p: p["cpus"])
        style = dict(color=mode_colour(s["mode"], i), marker=MARKERS[i % len(MARKERS)], linewidth=1.5, markersize=6)
        left.plot([p["cpus"] for p in pts], [p["speedup"] for p in pts], label=s["mode"], **style)
        right.plot([p["cpus"] for p in pts], [p["efficiency"] for p in pts], label=s["mode"], **style)
        high = max(high, max(p["speedup"] for p in pts))
    left.set_ylim(0, high * 1.12)
    left.set_ylabel(f"speed-up vs {p0:g} CPU{'s' if p0 != 1 else ''} (median time ratio)")
    left.set_title("Speed-up", loc="left")
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v * 100:.0f}%"))
    low = min([0.0] + [p["efficiency"] for s in series for p in s["points"] if p.get("efficiency") is not None])
    high_eff = max([1.0] + [p["efficiency"] for s in series for p in s["points"] if p.get("efficiency") is not None])
    right.set_ylim(min(0.0, low), high_eff * 1.12)
    right.set_ylabel("parallel efficiency (speed-up / ideal)")
    right.set_title("Parallel efficiency", loc="left")
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=10.5, fontweight="bold")
    handles, labels = left.get_legend_handles_labels()
    extra_h, extra_l = right.get_legend_handles_labels()
    for h, l in zip(extra_h, extra_l):
        if l.startswith("target"):
            handles.append(h)
            labels.append(l)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), bbox_to_anchor=(0.5, 0.0))
    return to_svg(fig, name)


# --- the anatomy of a task: where each task's latency goes, per batch size ---------------

ANATOMY_COLOURS = {
    "submission": OKABE_ITO["black"],
    "waiting_for_args": OKABE_ITO["yellow"],
    "scheduling_and_lease": OKABE_ITO["vermillion"],
    "dispatch": OKABE_ITO["purple"],
    "execution": OKABE_ITO["blue"],
    "return_and_get": OKABE_ITO["sky"],
}


@house_style
def task_anatomy(rows: Sequence[dict]) -> str | None:
    """rows: label, phases {name: median seconds or None}, measured (median end-to-end seconds),
    residual (median seconds). One 100% bar per row: each phase's share of the phases' sum."""
    rows = [r for r in rows if r.get("measured") and any(v for v in r["phases"].values())]
    if not rows:
        return None
    fig, ax = figure(height=1.0 + 0.42 * len(rows))
    style_axes(ax)
    ys = list(range(len(rows)))[::-1]
    for y, row in zip(ys, rows):
        total = sum(v for v in row["phases"].values() if v) or 1.0
        left = 0.0
        for name, colour in ANATOMY_COLOURS.items():
            share = 100.0 * (row["phases"].get(name) or 0.0) / total
            ax.barh(y, share, left=left, color=colour, height=0.62, label=name.replace("_", " ") if y == ys[0] else None)
            left += share
        ax.text(101, y, f" {fmt_time(row['measured'])} per task, residual {fmt_time(row.get('residual'))}",
                va="center", fontsize=7.5)
    ax.set_yticks(ys)
    ax.set_yticklabels([r["label"] for r in rows])
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the per-task latency (%, medians of each phase)")
    ax.set_title("Where each task's time goes (Ray task events, a separate diagnostic run)", loc="left")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3, fontsize=7.5)
    return to_svg(fig, "task-anatomy")


# --- the cost of a failure against batch size (make chaos-sweep) ---------------------------


@house_style
def failure_cost(points: Sequence[dict]) -> str | None:
    """points: batch_size, slowdown, re_executed (lookups), recovery_s, detection_s (None where not
    measured). Three panels against B (log): the slowdown, the lookups Ray ran again, and the times
    from the kill to the loss being seen and to the last retried task finishing."""
    points = sorted((p for p in points if p.get("batch_size")), key=lambda p: p["batch_size"])
    if len({p["batch_size"] for p in points}) < 2:
        return None
    fig, axes = figure(1, 3, height=3.3)
    xs = [p["batch_size"] for p in points]
    panels = (("slowdown", "faulted trial / median clean trial", "Slowdown", OKABE_ITO["vermillion"]),
              ("re_executed", "lookups re-executed (log)", "Work Ray ran again", OKABE_ITO["blue"]),
              ("recovery_s", "seconds after the kill", "Recovery", OKABE_ITO["green"]))
    for ax, (key, ylabel, title, colour) in zip(axes, panels):
        style_axes(ax)
        ax.set_xscale("log")
        ax.set_xlabel("batch size B (lookups per task, log)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, loc="left")
        shown = [(x, p[key]) for x, p in zip(xs, points) if p.get(key) is not None]
        if shown:
            ax.plot(*zip(*shown), color=colour, marker="o", linewidth=1.5, markersize=6,
                    label="last retried task finished" if key == "recovery_s" else None)
    axes[0].axhline(1.0, color="#777777", linestyle="--", linewidth=1, label="no cost")
    axes[0].set_ylim(bottom=0)
    positive = [p["re_executed"] for p in points if p.get("re_executed")]
    if positive:
        axes[1].set_yscale("log")
        axes[1].plot(xs, xs, color="#777777", linestyle="--", linewidth=1, label="one task of B")
        axes[1].legend(loc="upper left", fontsize=7.5)
    detected = [(x, p["detection_s"]) for x, p in zip(xs, points) if p.get("detection_s") is not None]
    if detected:
        axes[2].plot(*zip(*detected), color=OKABE_ITO["black"], marker="s", linestyle=":", linewidth=1.2,
                     markersize=5, label="node loss seen")
    axes[2].set_ylim(bottom=0, top=axes[2].get_ylim()[1] * 1.3)  # room for the legend above the points
    axes[2].legend(loc="upper center", fontsize=7.5)
    axes[0].legend(loc="lower right", fontsize=7.5)
    fig.tight_layout()
    return to_svg(fig, "failure-cost")
