"""SVG charts for the report, drawn with matplotlib and kept out of the core.

Each public function takes plain data (shaped by bench.report.figures) and
returns an inline-ready SVG string, or None when there is nothing to draw. No
chart loads anything from the network: text stays text (svg.fonttype=none, the
page's own sans-serif), and matplotlib's RDF metadata, which names remote URIs,
is left out. The per-run charts live here; the cluster and multi-file ones in
bench.report.charts_cluster, which shares this house style.
"""

from __future__ import annotations

import io
import re
from typing import Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg", force=False)  # no display: draw to SVG only (before pyplot picks a backend)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from bench import mode_table
from bench.format import fmt_compact, fmt_seconds_tick, fmt_time

# Okabe & Ito (2008), a palette that colour-blind readers can tell apart.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
SERIES = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
INVALID = "#9a9a9a"
WIDTH_IN = 8.0


def mode_colour(mode: str, index: int = 0) -> str:
    """The mode's colour from bench.mode_table; a mode it does not know takes the index-th series colour."""
    spec = mode_table.spec_of(mode)
    return OKABE_ITO[spec.colour] if spec else SERIES[index % len(SERIES)]


_STYLE = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.fontsize": 8,
    "legend.frameon": False,
}


def to_svg(fig, name: str) -> str:
    """Serialise a figure to an SVG fragment fit to inline in HTML."""
    buffer = io.StringIO()
    # A per-chart salt keeps element ids unique across the SVGs of one page and stable between renders.
    with matplotlib.rc_context({"svg.hashsalt": f"bench-{name}"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight",
                    metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = re.sub(r"<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # Make the chart scale with the page; the viewBox keeps its proportions.
    text = re.sub(r'(<svg[^>]*?)\swidth="[^"]*"\sheight="[^"]*"', r'\1', text, count=1)
    # Inline SVG in HTML needs no namespace declarations (the HTML parser supplies them), and
    # leaving them out keeps the page free of any http:// string.
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text)
    text = text.replace("<svg ", f'<svg class="chart" role="img" aria-label="{name}" ', 1)
    return text.strip()


def figure(rows: int = 1, cols: int = 1, height: float = 3.4, **kwargs):
    with matplotlib.rc_context(_STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, height), **kwargs)
    return fig, axes


def style_axes(ax):
    for key, value in _STYLE.items():
        if key.startswith("axes.spines."):
            ax.spines[key.split(".")[-1]].set_visible(value)
    ax.grid(True, color=_STYLE["grid.color"], linewidth=_STYLE["grid.linewidth"])
    ax.set_axisbelow(True)


def house_style(fn):
    """Run a drawing function under the house style."""

    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_STYLE):
            return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def seconds_formatter():
    return FuncFormatter(lambda v, _pos: fmt_seconds_tick(v))


def count_formatter():
    return FuncFormatter(lambda v, _pos: fmt_compact(v) if v > 0 else "0")


# --- (1) response time by mode -------------------------------------------------------


@house_style
def response_by_mode(rows: Sequence[dict], title: str = "Response time by run (median, IQR whiskers; log scale)") -> str | None:
    """rows: label, mode, median, q1, q3, correct."""
    rows = [r for r in rows if r.get("median")]
    if not rows:
        return None
    fig, ax = figure(height=0.9 + 0.32 * len(rows))
    style_axes(ax)
    ys = list(range(len(rows)))[::-1]
    for y, (index, row) in zip(ys, enumerate(rows)):
        colour = mode_colour(row["mode"], index) if row["correct"] else INVALID
        ax.barh(y, row["median"], color=colour, hatch=None if row["correct"] else "///",
                edgecolor="white" if row["correct"] else "#555555", height=0.7)
        lo, hi = row.get("q1"), row.get("q3")
        if lo is not None and hi is not None:
            ax.errorbar(row["median"], y, xerr=[[row["median"] - lo], [hi - row["median"]]],
                        fmt="none", ecolor="#333333", elinewidth=1, capsize=2)
        text = fmt_time(row["median"])
        if not row["correct"]:
            text += "  ✗ wrong answers: excluded"
        ax.text(max(row["median"], row.get("q3") or 0) * 1.12, y, text, va="center", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([r["label"] for r in rows])
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(seconds_formatter())
    lo = min(r["median"] for r in rows)
    hi = max(max(r["median"], r.get("q3") or 0) for r in rows)
    ax.set_xlim(lo / 2, hi * (40 if any(not r["correct"] for r in rows) else 6))
    ax.set_xlabel("median response time, first submission to last result (s, log scale)")
    ax.set_title(title, loc="left")
    ax.grid(axis="y", visible=False)
    return to_svg(fig, "response-by-mode")


# --- (2) batch-size sweep ------------------------------------------------------------


@house_style
def batch_sweep(points: Sequence[dict], references: Sequence[dict] = (), model: dict | None = None,
                items: str = "lookups") -> str | None:
    """points: batch_size, median, q1, q3, lookups_per_s, correct, best. references: label, median, mode."""
    points = sorted((p for p in points if p.get("median")), key=lambda p: p["batch_size"])
    if len(points) < 2:
        return None
    fig, (left, right) = figure(1, 2, height=3.3)
    colour = mode_colour("ray-batched")
    good, bad = [p for p in points if p["correct"]], [p for p in points if not p["correct"]]
    for ax in (left, right):
        style_axes(ax)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(count_formatter())
        ax.set_xlabel(f"batch size B ({items} per task, log scale)")
    xs = [p["batch_size"] for p in good]
    left.plot(xs, [p["median"] for p in good], "-o", color=colour, label="ray-batched (median)")
    left.errorbar(xs, [p["median"] for p in good],
                  yerr=[[p["median"] - (p.get("q1") or p["median"]) for p in good],
                        [(p.get("q3") or p["median"]) - p["median"] for p in good]],
                  fmt="none", ecolor=colour, capsize=2)
    right.plot(xs, [p["lookups_per_s"] for p in good], "-o", color=colour, label="ray-batched")
    if bad:
        left.plot([p["batch_size"] for p in bad], [p["median"] for p in bad], "x", color=INVALID,
                  markersize=8, mew=2, label="wrong answers (excluded)")
        right.plot([p["batch_size"] for p in bad], [p["lookups_per_s"] for p in bad], "x", color=INVALID,
                   markersize=8, mew=2)
    for i, ref in enumerate(references):
        if ref.get("median"):
            left.axhline(ref["median"], color=mode_colour(ref["mode"], i), linestyle=["--", ":", "-."][i % 3],
                         linewidth=1, label=ref["label"])
            if ref.get("lookups_per_s"):
                right.axhline(ref["lookups_per_s"], color=mode_colour(ref["mode"], i),
                              linestyle=["--", ":", "-."][i % 3], linewidth=1, label=ref["label"])
    curve = [pt for pt in ((model or {}).get("curve") or ()) if len(pt) >= 2 and pt[1] and pt[1] > 0]
    if curve and xs:
        lo, hi = min(xs) / 1.5, max(xs) * 1.5
        curve = [pt for pt in curve if lo <= pt[0] <= hi]
        if len(curve) >= 2:
            rms = (model or {}).get("rms_relative_error")
            left.plot([pt[0] for pt in curve], [pt[1] for pt in curve], color=OKABE_ITO["sky"], linewidth=1.2,
                      linestyle=(0, (4, 2)), label="overhead model" + (f" (RMS error {rms:.0%})" if rms is not None else ""))
    best = [p for p in good if p.get("best")]
    if best:
        b = best[0]
        left.plot([b["batch_size"]], [b["median"]], marker="*", markersize=16, color=OKABE_ITO["orange"],
                  markeredgecolor="black", linestyle="none", label=f"best: B={b['batch_size']:,}", zorder=5)
        right.plot([b["batch_size"]], [b["lookups_per_s"]], marker="*", markersize=16, color=OKABE_ITO["orange"],
                   markeredgecolor="black", linestyle="none", zorder=5)
    left.set_yscale("log")
    left.yaxis.set_major_formatter(seconds_formatter())
    left.set_ylabel("median response time (s, log scale)")
    left.set_title("Response time vs batch size", loc="left")
    right.set_yscale("log")
    right.set_ylabel(f"throughput ({items}/s, log scale)")
    right.yaxis.set_major_formatter(count_formatter())
    right.set_title("Throughput vs batch size", loc="left")
    handles, labels = left.get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), bbox_to_anchor=(0.5, 0.0))
    return to_svg(fig, "batch-sweep")


# --- (3) naive time vs task count ----------------------------------------------------


@house_style
def naive_scaling(points: Sequence[dict], fit: dict | None, item: str = "lookup") -> str | None:
    """points: tasks, median, q1, q3, correct. fit: slope_s (s per task), intercept_s,
    max_relative_residual (the worst point's relative distance from the line)."""
    points = sorted((p for p in points if p.get("median")), key=lambda p: p["tasks"])
    if not points:
        return None
    fig, ax = figure(height=3.3)
    style_axes(ax)
    colour = mode_colour("ray-naive")
    good = [p for p in points if p["correct"]]
    bad = [p for p in points if not p["correct"]]
    ax.errorbar([p["tasks"] for p in good], [p["median"] for p in good],
                yerr=[[p["median"] - (p.get("q1") or p["median"]) for p in good],
                      [(p.get("q3") or p["median"]) - p["median"] for p in good]],
                fmt="o", color=colour, capsize=3, label="ray-naive, median [IQR]")
    if bad:
        ax.plot([p["tasks"] for p in bad], [p["median"] for p in bad], "x", color=INVALID, markersize=8, mew=2,
                label="wrong answers (excluded)")
    span = max(p["tasks"] for p in points) / min(p["tasks"] for p in points)
    logscale = span >= 20
    if fit:
        lo = min(p["tasks"] for p in points)
        hi = max(p["tasks"] for p in points)
        start = max(0.0, -fit["intercept_s"] / fit["slope_s"]) if fit["intercept_s"] < 0 else 0.0
        xs = np.geomspace(lo, hi, 50) if logscale else np.linspace(start, hi, 50)
        ax.plot(xs, fit["intercept_s"] + fit["slope_s"] * xs, "--", color=OKABE_ITO["black"], linewidth=1,
                label=f"linear fit: {fit['rate']:,.0f} tasks/s (worst point {fit['max_relative_residual']:+.0%})"
                if fit.get("max_relative_residual") is not None else f"linear fit: {fit['rate']:,.0f} tasks/s")
    if logscale:
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
    ax.xaxis.set_major_formatter(count_formatter())
    ax.yaxis.set_major_formatter(seconds_formatter())
    ax.set_xlabel(f"tasks submitted (one {item} each)" + (", log scale" if logscale else ""))
    ax.set_ylabel("median response time (s" + (", log scale)" if logscale else ")"))
    ax.set_title("Naive Ray: time grows linearly with the task count", loc="left")
    ax.legend(loc="upper left")
    return to_svg(fig, "naive-scaling")


# --- (4) submission latency vs task count --------------------------------------------


@house_style
def submission_latency(points: Sequence[dict]) -> str | None:
    """points: label, mode, tasks, submit_s, submit_per_task_s, correct."""
    points = [p for p in points if p.get("submit_s") is not None and p.get("tasks")]
    if not points:
        return None
    fig, (left, right) = figure(1, 2, height=3.3)
    modes = list(dict.fromkeys(p["mode"] for p in points))
    for ax in (left, right):
        style_axes(ax)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(count_formatter())
        ax.set_xlabel("tasks submitted per trial (log scale)")
    for i, mode in enumerate(modes):
        sel = sorted((p for p in points if p["mode"] == mode and p["correct"]), key=lambda p: p["tasks"])
        if sel:
            style = dict(color=mode_colour(mode, i), marker=MARKERS[i % len(MARKERS)], linestyle="-")
            left.plot([p["tasks"] for p in sel], [p["submit_s"] for p in sel], label=mode, **style)
            right.plot([p["tasks"] for p in sel], [p["submit_per_task_s"] * 1e6 for p in sel], label=mode, **style)
        bad = [p for p in points if p["mode"] == mode and not p["correct"]]
        if bad:
            left.plot([p["tasks"] for p in bad], [p["submit_s"] for p in bad], "x", color=INVALID, mew=2)
            right.plot([p["tasks"] for p in bad], [p["submit_per_task_s"] * 1e6 for p in bad], "x", color=INVALID, mew=2)
    left.set_yscale("log")
    left.yaxis.set_major_formatter(seconds_formatter())
    left.set_ylabel("time inside .remote() calls, total (s, log)")
    left.set_title("Submission time per trial", loc="left")
    right.set_ylabel("submission time per task (µs)")
    right.set_ylim(bottom=0)
    right.set_title("Submission cost per task", loc="left")
    if left.get_legend_handles_labels()[0]:  # none when every run's answers were wrong
        left.legend(loc="upper left")
    fig.tight_layout()
    return to_svg(fig, "submission-latency")


# --- (6) per-task latency distribution -----------------------------------------------


@house_style
def task_latency_distribution(series: Sequence[dict]) -> str | None:
    """series: label, mode, values (seconds, pooled over trials), correct."""
    series = [s for s in series if len(s["values"]) >= 2 and s["correct"]]
    if not series:
        return None
    fig, ax = figure(height=3.4)
    style_axes(ax)
    counts: dict[str, int] = {}
    for i, s in enumerate(series):
        values = np.sort(np.asarray(s["values"], dtype=float))
        values = values[values > 0]
        if values.size < 2:
            continue
        k = counts.get(s["mode"], 0)
        counts[s["mode"]] = k + 1
        ys = np.arange(1, values.size + 1) / values.size
        ax.step(values, ys, where="post", color=mode_colour(s["mode"], i),
                linestyle=["-", "--", ":", "-."][k % 4], linewidth=1.2, label=s["label"])
    for q in (0.5, 0.95, 0.99):
        ax.axhline(q, color="#999999", linewidth=0.6, linestyle=":")
        ax.text(1.0, q, f" p{int(q * 100)}", transform=ax.get_yaxis_transform(), va="center", fontsize=7,
                color="#666666")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(seconds_formatter())
    ax.set_xlabel("per-task latency, submission to result available (s, log scale)")
    ax.set_ylabel("fraction of tasks (cumulative)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Per-task latency distribution (all measured trials pooled)", loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=7.5, ncol=min(3, len(series)))
    return to_svg(fig, "task-latency")


# --- (7) naive throughput vs calibration ---------------------------------------------


@house_style
def naive_vs_calibration(calibration: dict | None, naive: Sequence[dict]) -> str | None:
    """calibration: median, q1, q3 (no-op tasks/s). naive: label, median, q1, q3 (tasks/s), correct."""
    bars = []
    if calibration and calibration.get("median"):
        bars.append(("calibration: no-op tasks", calibration, OKABE_ITO["sky"], True))
    for row in naive:
        if row.get("median"):
            bars.append((row["label"], row, mode_colour("ray-naive") if row["correct"] else INVALID, row["correct"]))
    if not bars or not naive:
        return None
    fig, ax = figure(height=0.9 + 0.38 * len(bars))
    style_axes(ax)
    ys = list(range(len(bars)))[::-1]
    for y, (label, row, colour, ok) in zip(ys, bars):
        ax.barh(y, row["median"], color=colour, height=0.65, hatch=None if ok else "///")
        if row.get("q1") is not None and row.get("q3") is not None:
            ax.errorbar(row["median"], y, xerr=[[row["median"] - row["q1"]], [row["q3"] - row["median"]]],
                        fmt="none", ecolor="#333333", capsize=2)
        ax.text(max(row["median"], row.get("q3") or 0), y, f"   {row['median']:,.0f}/s", va="center", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([b[0] for b in bars])
    ax.set_xlim(0, max(max(b[1]["median"], b[1].get("q3") or 0) for b in bars) * 1.25)
    ax.set_xlabel("tasks completed per second (median, IQR whiskers)")
    ax.set_title("Naive Ray throughput vs the measured no-op task rate", loc="left")
    ax.grid(axis="y", visible=False)
    return to_svg(fig, "naive-vs-calibration")
