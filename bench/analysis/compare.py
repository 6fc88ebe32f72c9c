"""Compare two results files run by run, and say whether each difference is real.

A difference is called real when a two-sided Mann-Whitney U rank test over the raw
per-trial response times gives p < alpha (asv's habit). A bootstrap 95% confidence
interval of the ratio of medians is shown beside it. With very few trials a rank test
cannot reach significance at all (3 vs 3 trials: the smallest possible p is 0.10);
the table says so rather than calling the runs equal.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bench.analysis import claims, facts
from bench.analysis.wording import claim_name, fmt_interval, fmt_value
from bench.errors import RuntimeFailure, UsageError
from bench.format import fmt_time
from bench.mode_table import spec_of
from bench.results import Results, Run, load

ALPHA = 0.05
WORKLOAD_KEYS = ("kind", "function", "items_source", "queries", "array_size", "value_range", "seed")
BOOTSTRAP_RESAMPLES = 5000


def run_key(run: Run) -> tuple:
    """What makes two runs in different files the same experiment.

    The mode plus the params its bench.mode_table entry names (naive's task count, batched's
    batch size): multiprocessing's pool size and ray-auto's CPUs follow the machine, so they
    are not part of it. A mode this code does not know is keyed by its label.
    """
    spec = spec_of(run.mode)
    if spec is None:
        return (run.mode, run.label)
    return (run.mode, *(run.params.get(name) for name in spec.key))


def match_runs(a: Results, b: Results) -> tuple[list[tuple[Run, Run]], list[Run], list[Run]]:
    """Pairs (a_run, b_run) in a's order, then runs only in a, runs only in b."""
    b_by_key: dict[tuple, Run] = {}
    for run in b.runs:
        b_by_key.setdefault(run_key(run), run)
    pairs, only_a, used = [], [], set()
    for run in a.runs:
        other = b_by_key.get(run_key(run))
        if other is not None and id(other) not in used:
            pairs.append((run, other))
            used.add(id(other))
        else:
            only_a.append(run)
    only_b = [run for run in b.runs if id(run) not in used]
    # The "1 task per CPU" batch size differs between clusters of different size: pair those up.
    leftover_a = [r for r in only_a if r.mode == "ray-batched" and r.params.get("per_cpu")]
    leftover_b = [r for r in only_b if r.mode == "ray-batched" and r.params.get("per_cpu")]
    for ra, rb in zip(leftover_a, leftover_b):
        pairs.append((ra, rb))
        only_a.remove(ra)
        only_b.remove(rb)
    return pairs, only_a, only_b


def workload_identity(workload) -> tuple:
    """What makes two files' workloads the same: the lookups' parameters, or a user's function
    and its items (files from before --workload have no kind: they are lookups)."""
    return tuple((workload.get(key) or "lookups") if key == "kind" else workload.get(key) for key in WORKLOAD_KEYS)


def workload_difference(a: Results, b: Results) -> str | None:
    diffs = []
    for key, va, vb in zip(WORKLOAD_KEYS, workload_identity(a.workload), workload_identity(b.workload)):
        if va != vb:
            diffs.append(f"{key} {va} vs {vb}")
    return ", ".join(diffs) or None


def response_samples(run: Run) -> list[float]:
    return [float(v) for v in (run.samples.get("response_s") or ()) if v is not None]


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) < 1 or len(b) < 1:
        return None
    if len(set(a)) == 1 and set(a) == set(b):
        return 1.0
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def min_attainable_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p an exact Mann-Whitney test can give for these sizes."""
    if n_a < 1 or n_b < 1:
        return 1.0
    try:
        return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))
    except OverflowError:  # over ~1,000 trials in all: C(n_a + n_b, n_a) exceeds a float, p is 0
        return 0.0


def bootstrap_ratio_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95,
                       resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap CI of median(b) / median(a)."""
    if len(a) < 2 or len(b) < 2:
        return None
    rng = np.random.default_rng(seed)
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    ma = np.median(rng.choice(xa, size=(resamples, xa.size), replace=True), axis=1)
    mb = np.median(rng.choice(xb, size=(resamples, xb.size), replace=True), axis=1)
    ratios = mb / ma
    tail = (1 - level) / 2 * 100
    return float(np.percentile(ratios, tail)), float(np.percentile(ratios, 100 - tail))


@dataclass(frozen=True)
class Row:
    label: str
    label_b: str
    n_a: int
    n_b: int
    median_a: float | None
    median_b: float | None
    ratio: float | None  # median_b / median_a (response time: > 1 means B is slower)
    p_value: float | None
    ci: tuple[float, float] | None
    correct_a: bool
    correct_b: bool
    verdict: str
    significant: bool
    testable: bool

    @property
    def change_pct(self) -> float | None:
        return None if self.ratio is None else (self.ratio - 1.0) * 100.0


def _direction(a: Sequence[float], b: Sequence[float], ratio: float) -> str:
    """Which side is slower: by the medians, else by the Hodges-Lehmann shift (the median
    of all b - a differences), which the rank test's significance is about."""
    if ratio != 1.0:
        return f"B is {'slower' if ratio > 1 else 'faster'}"
    shift = float(np.median(np.subtract.outer(np.asarray(b, float), np.asarray(a, float))))
    if shift == 0.0:
        return "the distributions differ (equal medians, no shift)"
    return f"B is {'slower' if shift > 0 else 'faster'} (equal medians; rank shift)"


def trials_for_alpha(alpha: float, limit: int = 1000) -> int | None:
    """The fewest trials a side for which an exact rank test can reach p < alpha."""
    return next((n for n in range(2, limit) if min_attainable_p(n, n) < alpha), None)


def compare_pair(run_a: Run, run_b: Run, alpha: float = ALPHA) -> Row:
    sa, sb = response_samples(run_a), response_samples(run_b)
    ma = float(np.median(sa)) if sa else None
    mb = float(np.median(sb)) if sb else None
    ratio = mb / ma if ma and mb is not None else None
    p = mann_whitney_p(sa, sb) if sa and sb else None
    ci = bootstrap_ratio_ci(sa, sb)
    testable = min_attainable_p(len(sa), len(sb)) < alpha
    significant = p is not None and p < alpha
    if not (run_a.correct and run_b.correct):
        which = " and ".join(x for x, ok in (("A", run_a.correct), ("B", run_b.correct)) if not ok)
        verdict = f"not compared: wrong answers in {which}"
        significant = False
    elif ratio is None:
        verdict = "no samples"
    elif significant:
        verdict = f"real: {_direction(sa, sb, ratio)}"
    elif not testable:
        verdict = f"too few trials to tell ({len(sa)} vs {len(sb)})"
    else:
        verdict = "no real difference"
    return Row(run_a.label, run_b.label, len(sa), len(sb), ma, mb, ratio, p, ci, run_a.correct, run_b.correct,
               verdict, significant, testable)


@dataclass(frozen=True)
class Comparison:
    rows: list[Row]
    only_a: list[Run]
    only_b: list[Run]


def compare_results(a: Results, b: Results, alpha: float = ALPHA, source_a: str = "A", source_b: str = "B") -> Comparison:
    diff = workload_difference(a, b)
    if diff:
        raise UsageError(f"cannot compare {source_a} and {source_b}: the workloads differ ({diff})")
    pairs, only_a, only_b = match_runs(a, b)
    return Comparison([compare_pair(ra, rb, alpha) for ra, rb in pairs], only_a, only_b)


def regressions(comparison: Comparison, fail_above_pct: float) -> list[str]:
    """Runs where B is slower than A by more than the threshold and the slowdown is not shown to be noise.

    Shown to be noise means: enough trials for the rank test to decide, and p >= alpha.
    With too few trials to test, the median change alone decides. A run that answers
    wrongly in B (but not in A) is always a regression.
    """
    found = []
    for row in comparison.rows:
        if row.correct_a and not row.correct_b:
            found.append(f"{row.label_b} (wrong answers)")
            continue
        if not (row.correct_a and row.correct_b) or row.change_pct is None:
            continue
        if row.change_pct > fail_above_pct and (row.significant or not row.testable):
            found.append(f"{row.label_b} ({row.change_pct:+.1f}%)")
    return found


def _describe(res: Results, path: str) -> str:
    nodes = [n for n in (res.cluster.get("nodes") or ()) if n.get("alive", True)]
    cpus = res.cluster.get("cluster_cpus") or res.metadata.get("cpu_count")
    where = f"{len(nodes)} node(s), {cpus:g} CPUs" if nodes and cpus else f"{res.metadata.get('host')}, {cpus} CPUs"
    status = "" if res.status == "complete" else f", {res.status.upper()}"
    return f"{path} (suite {res.suite}, {where}, {res.metadata.get('started_utc', '?')}{status})"


def format_table(comparison: Comparison, alpha: float = ALPHA) -> list[str]:
    header = ("run", "A median", "B median", "B/A", "change", "p (MWU)", "95% CI of B/A", "verdict")
    body = []
    for row in comparison.rows:
        label = row.label if row.label == row.label_b else f"{row.label} / {row.label_b}"
        body.append((
            label,
            fmt_time(row.median_a, missing="-"),
            fmt_time(row.median_b, missing="-"),
            "-" if row.ratio is None else f"{row.ratio:.3f}×",
            "-" if row.change_pct is None else f"{row.change_pct:+.1f}%",
            "-" if row.p_value is None else f"{row.p_value:.3g}",
            "-" if row.ci is None else f"[{row.ci[0]:.3f}, {row.ci[1]:.3f}]",
            row.verdict,
        ))
    return align_table(header, body)


def align_table(header: tuple, body: list[tuple]) -> list[str]:
    """Columns padded to their widest cell, the first and last left-aligned, a rule under the header."""
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    last = len(header) - 1
    lines = []
    for i, r in enumerate([header, *body]):
        cells = [str(c).ljust(w) if j in (0, last) else str(c).rjust(w) for j, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def claims_table(verdicts, items: str = "lookups", across: bool = False,
                 names: tuple[str, str] = ("original", "new")) -> list[str]:
    """One line per claim: both files' values with their intervals, new/expected, the verdict."""
    old, new = names
    header = ("claim", old) + (("expected here",) if across else ()) + (new, f"{new}/expected" if across
                                                                        else f"{new}/{old[:4]}", "tolerance", "verdict")
    body = []
    for c in verdicts:
        if c.unit == "B":
            cells = [claim_name(c.key, items), "B = " + ", ".join(f"{b:,.0f}" for b in c.original_members)]
            cells += ["same"] * across + ["B = " + ", ".join(f"{b:,.0f}" for b in c.new_members), "-",
                                          f"within {c.tolerance:.0%}", c.status + (" (the regions share a B)"
                                                                                  if c.status == "holds" else
                                                                                  " (no B in both regions)")]
        else:
            cells = [claim_name(c.key, items), fmt_value(c.original, c.unit) + fmt_interval(c.original_ci, c.unit)]
            cells += [fmt_value(c.expected, c.unit)] * across
            cells += [fmt_value(c.new, c.unit) + fmt_interval(c.new_ci, c.unit),
                      "-" if c.ratio is None else f"{c.ratio:.3f}×" + (f" [{c.ci[0]:.3f}, {c.ci[1]:.3f}]" if c.ci else ""),
                      f"±{c.tolerance:.0%}", c.status + ({"missing": " (not in both files)",
                                                        "no-interval": " (no interval to decide)",
                                                        "noise": " (outside the band, not significant)"}.get(c.reason, ""))]
        body.append(tuple(cells))
    return align_table(header, body)


def print_claims(a: Results, b: Results, out) -> None:
    """Both files' claims (bench.analysis.facts) side by side, judged as bench.analysis.repro judges them."""
    facts_a, facts_b = facts.compute(a), facts.compute(b)
    verdicts = claims.judge_all(facts_a, facts_b)
    if verdicts:
        print(file=out)
        print("claims (ratios within each file, 95% CI from same-round pairs; B/A within the claim's tolerance: "
              "holds):", file=out)
        for line in claims_table(verdicts, facts_a.items, names=("A", "B")):
            print(line, file=out)


def compare_files(path_a: str, path_b: str, fail_above: float | None = None, alpha: float = ALPHA,
                  out=None) -> Comparison:
    """The `bench compare` command: print the table; raise on a regression beyond fail_above, a
    fraction like every relative threshold of the CLI (0.1: more than 10% slower)."""
    out = out or sys.stdout
    if fail_above is not None:
        if isinstance(fail_above, bool) or not isinstance(fail_above, (int, float)) or not 0 <= fail_above < 1:
            raise UsageError(f"--fail-above must be a fraction from 0 to 1 (0.1: 10% slower), got {fail_above!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1, got {alpha!r}")
    a = load(str(path_a))
    b = load(str(path_b))
    comparison = compare_results(a, b, alpha, str(path_a), str(path_b))
    print(f"A: {_describe(a, str(path_a))}", file=out)
    print(f"B: {_describe(b, str(path_b))}", file=out)
    print(f"Response time, median of the measured trials. B/A > 1: B is slower. "
          f"'real' = Mann-Whitney U two-sided p < {alpha:g}.", file=out)
    print(file=out)
    for line in format_table(comparison, alpha):
        print(line, file=out)
    for name, runs in (("A", comparison.only_a), ("B", comparison.only_b)):
        if runs:
            print(f"only in {name}: {', '.join(r.label for r in runs)}", file=out)
    print_claims(a, b, out)
    untestable = [row for row in comparison.rows if not row.testable]
    if untestable:
        need = trials_for_alpha(alpha)
        fewest = min(min(row.n_a, row.n_b) for row in untestable)
        advice = (f"rerun both with --trials {need} or more to tell real differences from noise" if need
                  else "choose a larger --alpha")
        print(f"note: with {fewest} trial(s) a side a rank test cannot reach p < {alpha:g}; {advice}", file=out)
    if fail_above is not None:
        bad = regressions(comparison, 100.0 * fail_above)
        if bad:
            raise RuntimeFailure(f"{len(bad)} run(s) regressed beyond {100 * fail_above:g}%: {', '.join(bad)}")
        print(f"no regression beyond {100 * fail_above:g}%", file=out)
    return comparison
