"""SVG charts for the report, drawn with matplotlib and kept out of the core.

Each public function takes plain data (already summarised by bench.report) and
returns an inline-ready SVG string, or None when there is nothing to draw. No
chart loads anything from the network: text stays text (svg.fonttype=none, the
page's own sans-serif), and matplotlib's RDF metadata, which names remote URIs,
is left out.
"""

from __future__ import annotations

import io
import math
import re
from typing import Iterable, Sequence

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
MODE_COLOURS = {
    "sequential": OKABE_ITO["black"],
    "numpy": OKABE_ITO["green"],
    "multiprocessing": OKABE_ITO["purple"],
    "ray-naive": OKABE_ITO["vermillion"],
    "ray-batched": OKABE_ITO["blue"],
    "ray-auto": OKABE_ITO["orange"],
}
SERIES = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
INVALID = "#9a9a9a"
WIDTH_IN = 8.0


def mode_colour(mode: str, index: int = 0) -> str:
    return MODE_COLOURS.get(mode, SERIES[index % len(SERIES)])


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


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


def _svg(fig, name: str) -> str:
    """Serialise a figure to an SVG fragment fit to inline in HTML."""
    plt = _plt()
    import matplotlib

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


def _figure(rows: int = 1, cols: int = 1, height: float = 3.4, **kwargs):
    plt = _plt()
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, height), **kwargs)
    return fig, axes


def _style(ax):
    import matplotlib

    for key, value in _STYLE.items():
        if key.startswith("axes.spines."):
            ax.spines[key.split(".")[-1]].set_visible(value)
    ax.grid(True, color=_STYLE["grid.color"], linewidth=_STYLE["grid.linewidth"])
    ax.set_axisbelow(True)
    return matplotlib


def _draw(fn):
    """Run a drawing function under the house style."""

    def wrapper(*args, **kwargs):
        import matplotlib

        _plt()
        with matplotlib.rc_context(_STYLE):
            return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def fmt_seconds_axis(value: float) -> str:
    if value <= 0 or not math.isfinite(value):
        return "0"
    if value >= 1:
        return f"{value:g} s"
    if value >= 1e-3:
        return f"{value * 1e3:g} ms"
    return f"{value * 1e6:g} µs"


def _seconds_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: fmt_seconds_axis(v))


def _count_formatter():
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _pos):
        if v <= 0:
            return "0"
        for div, suffix in ((1e6, "M"), (1e3, "k")):
            if v >= div:
                return f"{v / div:g}{suffix}"
        return f"{v:g}"

    return FuncFormatter(fmt)


# --- (1) response time by mode -------------------------------------------------------


@_draw
def response_by_mode(rows: Sequence[dict], title: str = "Response time by run (median, IQR whiskers; log scale)") -> str | None:
    """rows: label, mode, median, q1, q3, correct."""
    rows = [r for r in rows if r.get("median")]
    if not rows:
        return None
    fig, ax = _figure(height=0.9 + 0.32 * len(rows))
    _style(ax)
    ys = list(range(len(rows)))[::-1]
    for y, (index, row) in zip(ys, enumerate(rows)):
        colour = mode_colour(row["mode"], index) if row["correct"] else INVALID
        ax.barh(y, row["median"], color=colour, hatch=None if row["correct"] else "///",
                edgecolor="white" if row["correct"] else "#555555", height=0.7)
        lo, hi = row.get("q1"), row.get("q3")
        if lo is not None and hi is not None:
            ax.errorbar(row["median"], y, xerr=[[row["median"] - lo], [hi - row["median"]]],
                        fmt="none", ecolor="#333333", elinewidth=1, capsize=2)
        text = fmt_seconds_axis_precise(row["median"])
        if not row["correct"]:
            text += "  ✗ wrong answers: excluded"
        ax.text(max(row["median"], row.get("q3") or 0) * 1.12, y, text, va="center", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([r["label"] for r in rows])
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_seconds_formatter())
    lo = min(r["median"] for r in rows)
    hi = max(max(r["median"], r.get("q3") or 0) for r in rows)
    ax.set_xlim(lo / 2, hi * (40 if any(not r["correct"] for r in rows) else 6))
    ax.set_xlabel("median response time, first submission to last result (s, log scale)")
    ax.set_title(title, loc="left")
    ax.grid(axis="y", visible=False)
    return _svg(fig, "response-by-mode")


def fmt_seconds_axis_precise(value: float) -> str:
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} µs"


# --- (2) batch-size sweep ------------------------------------------------------------


@_draw
def batch_sweep(points: Sequence[dict], references: Sequence[dict] = (), model: dict | None = None) -> str | None:
    """points: batch_size, median, q1, q3, lookups_per_s, correct, best. references: label, median, mode."""
    points = sorted((p for p in points if p.get("median")), key=lambda p: p["batch_size"])
    if len(points) < 2:
        return None
    fig, (left, right) = _figure(1, 2, height=3.3)
    colour = MODE_COLOURS["ray-batched"]
    good = [p for p in points if p["correct"]]
    bad = [p for p in points if not p["correct"]]
    for ax in (left, right):
        _style(ax)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_count_formatter())
        ax.set_xlabel("batch size B (lookups per task, log scale)")
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
    left.yaxis.set_major_formatter(_seconds_formatter())
    left.set_ylabel("median response time (s, log scale)")
    left.set_title("Response time vs batch size", loc="left")
    right.set_yscale("log")
    right.set_ylabel("throughput (lookups/s, log scale)")
    right.yaxis.set_major_formatter(_count_formatter())
    right.set_title("Throughput vs batch size", loc="left")
    handles, labels = left.get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), bbox_to_anchor=(0.5, 0.0))
    return _svg(fig, "batch-sweep")


# --- (3) naive time vs task count ----------------------------------------------------


@_draw
def naive_scaling(points: Sequence[dict], fit: dict | None) -> str | None:
    """points: tasks, median, q1, q3, correct. fit: slope_s (s per task), intercept_s,
    max_relative_residual (the worst point's relative distance from the line)."""
    points = sorted((p for p in points if p.get("median")), key=lambda p: p["tasks"])
    if not points:
        return None
    fig, ax = _figure(height=3.3)
    _style(ax)
    colour = MODE_COLOURS["ray-naive"]
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
        import numpy as np

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
    ax.xaxis.set_major_formatter(_count_formatter())
    ax.yaxis.set_major_formatter(_seconds_formatter())
    ax.set_xlabel("tasks submitted (one lookup each)" + (", log scale" if logscale else ""))
    ax.set_ylabel("median response time (s" + (", log scale)" if logscale else ")"))
    ax.set_title("Naive Ray: time grows linearly with the task count", loc="left")
    ax.legend(loc="upper left")
    return _svg(fig, "naive-scaling")


# --- (4) submission latency vs task count --------------------------------------------


@_draw
def submission_latency(points: Sequence[dict]) -> str | None:
    """points: label, mode, tasks, submit_s, submit_per_task_s, correct."""
    points = [p for p in points if p.get("submit_s") is not None and p.get("tasks")]
    if not points:
        return None
    fig, (left, right) = _figure(1, 2, height=3.3)
    modes = list(dict.fromkeys(p["mode"] for p in points))
    for ax in (left, right):
        _style(ax)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_count_formatter())
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
    left.yaxis.set_major_formatter(_seconds_formatter())
    left.set_ylabel("time inside .remote() calls, total (s, log)")
    left.set_title("Submission time per trial", loc="left")
    right.set_ylabel("submission time per task (µs)")
    right.set_ylim(bottom=0)
    right.set_title("Submission cost per task", loc="left")
    left.legend(loc="upper left")
    fig.tight_layout()
    return _svg(fig, "submission-latency")


# --- (5) per-node CPU and memory over time -------------------------------------------


@_draw
def node_resources(nodes: Sequence[dict], spans: Sequence[dict], faults: Sequence[dict] = ()) -> str | None:
    """nodes: name, cpus, series [(t_rel_s, cpu_pct, mem_bytes)] with None marking gaps; lost (bool) and
    lost_at (seconds, when the driver saw the loss) for a node that died. spans: short, start, end (seconds
    relative to the suite start). faults: t, text (injected by a chaos harness)."""
    nodes = [n for n in nodes if any(s is not None for s in n["series"]) or n.get("lost")]
    if not any(any(s is not None for s in n["series"]) for n in nodes):
        return None
    fig, (top, bottom) = _figure(2, 1, height=4.6, sharex=True)
    for ax in (top, bottom):
        _style(ax)
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
    return _svg(fig, "node-resources")


# --- (6) per-task latency distribution -----------------------------------------------


@_draw
def task_latency_distribution(series: Sequence[dict]) -> str | None:
    """series: label, mode, values (seconds, pooled over trials), correct."""
    import numpy as np

    series = [s for s in series if len(s["values"]) >= 2 and s["correct"]]
    if not series:
        return None
    fig, ax = _figure(height=3.4)
    _style(ax)
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
    ax.xaxis.set_major_formatter(_seconds_formatter())
    ax.set_xlabel("per-task latency, submission to result available (s, log scale)")
    ax.set_ylabel("fraction of tasks (cumulative)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Per-task latency distribution (all measured trials pooled)", loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=7.5, ncol=min(3, len(series)))
    return _svg(fig, "task-latency")


# --- (7) naive throughput vs calibration ---------------------------------------------


@_draw
def naive_vs_calibration(calibration: dict | None, naive: Sequence[dict]) -> str | None:
    """calibration: median, q1, q3 (no-op tasks/s). naive: label, median, q1, q3 (tasks/s), correct."""
    bars = []
    if calibration and calibration.get("median"):
        bars.append(("calibration: no-op tasks", calibration, OKABE_ITO["sky"], True))
    for row in naive:
        if row.get("median"):
            bars.append((row["label"], row, MODE_COLOURS["ray-naive"] if row["correct"] else INVALID, row["correct"]))
    if not bars or not naive:
        return None
    fig, ax = _figure(height=0.9 + 0.38 * len(bars))
    _style(ax)
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
    return _svg(fig, "naive-vs-calibration")


# --- several results files side by side ----------------------------------------------


@_draw
def side_by_side(labels: Sequence[str], files: Sequence[str], medians: Sequence[Sequence[float | None]]) -> str | None:
    """medians[f][l]: median response time of run label l in file f (None if absent or wrong)."""
    import numpy as np

    if not labels or len(files) < 2:
        return None
    n_files = len(files)
    fig, ax = _figure(height=1.0 + 0.22 * len(labels) * n_files + 0.2 * len(labels))
    _style(ax)
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
    ax.xaxis.set_major_formatter(_seconds_formatter())
    ax.set_xlabel("median response time (s, log scale)")
    ax.set_title("Results files side by side", loc="left")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right")
    return _svg(fig, "side-by-side")


# --- speed-up and efficiency against total CPUs --------------------------------------


@_draw
def scaling(series: Sequence[dict], cpus: Sequence[int], title: str = "", name: str = "scaling",
            target: float = 0.9) -> str | None:
    """series: mode, points [{cpus, speedup, efficiency}] relative to the smallest cluster (P0).
    Left: speed-up with the ideal line y = P/P0; right: parallel efficiency with 100% and the target."""
    series = [s for s in series if len([p for p in s["points"] if p.get("speedup")]) >= 2]
    if not series or len(cpus) < 2:
        return None
    fig, (left, right) = _figure(1, 2, height=3.5)
    p0 = min(cpus)
    top = max(cpus)
    for ax in (left, right):
        _style(ax)
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
    from matplotlib.ticker import FuncFormatter

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
    return _svg(fig, name)


def all_present(charts: Iterable[str | None]) -> list[str]:
    return [c for c in charts if c]
