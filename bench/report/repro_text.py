"""`bench repro` in words: the claims table, then the rows, then the explanations (the verdicts
themselves are bench.analysis.repro's)."""

from __future__ import annotations

import sys

from bench import results as results_io
from bench.analysis import compare
from bench.analysis.machines import describe_factor, probe_apart
from bench.analysis.repro import Reproduction, _raise_unless_reproduced, check_tolerance, reproduction_table, tolerance_line
from bench.format import fmt_time
from bench.results import Results

def format_table(rep: Reproduction) -> list[str]:
    across = not rep.same_machine
    header = (("run", "original", "expected here", "new", "new/orig", "new/expected") if across
              else ("run", "original", "new", "new/orig")) + ("tolerance", "p (MWU)", "95% CI", "verdict")
    body = []
    for row in rep.rows:
        expected = row.median_a * row.factor if row.median_a else None
        cells = [row.label, fmt_time(row.median_a, missing="-")]
        if across:
            cells.append(fmt_time(expected, missing="-"))
        cells += [fmt_time(row.median_b, missing="-"), "-" if row.raw_ratio is None else f"{row.raw_ratio:.3f}×"]
        if across:
            cells.append("-" if row.ratio is None else f"{row.ratio:.3f}×")
        cells += [f"±{row.tolerance:.0%}", "-" if row.p_value is None else f"{row.p_value:.3g}",
                  "-" if row.ci is None else f"[{row.ci[0]:.3f}, {row.ci[1]:.3f}]", row.verdict]
        body.append(tuple(cells))
    return compare.align_table(header, body)


def claim_table(rep: Reproduction) -> list[str]:
    return compare.claims_table(rep.claims, rep.items, not rep.same_machine)


def machine_lines(rep: Reproduction) -> list[str]:
    """Across machines: what differs, and the factor per kind of cost the rows are judged with."""
    m = rep.machines
    if m is not None and m.same and m.same_boot and probe_apart(m.python):
        return [f"same machine (one kernel boot), though its probe took {describe_factor(m.python)} the original's "
                f"time: the load or drift around the rounds, not another machine; judged by this machine's bands"]
    if m is None or m.same:
        return []

    def shown(what, value):
        return fmt_time(value) if what == "probe_s" else f"{value / 2**30:.1f} GiB" if what == "memory_bytes" else value

    said = "; ".join(f"{what} {shown(what, va)} (original) vs {shown(what, vb)} (here)" for what, va, vb in m.differences)
    return [f"ANOTHER MACHINE: the original ran elsewhere ({said}).",
            f"machine factors (here / original, time): Python work {describe_factor(m.python)} (the machine probe), "
            f"Ray per-task cost {describe_factor(m.ray_task)} (the no-op task), numpy {describe_factor(m.numpy)}; "
            f"each row and claim is judged against the original times these factors (batched rows through the "
            f"model: c scaled by the Ray factor, w by the Python factor)"]


def explained_line(rep: Reproduction) -> str | None:
    """Across machines: which rows the factors explain (within tolerance of the prediction) and which not."""
    if rep.same_machine:
        return None
    measured = [row for row in rep.rows if row.ratio is not None and row.status not in ("wrong",)]
    explained = [row.label for row in measured if abs(row.ratio - 1) <= row.tolerance]
    others = [f"{row.label} ({row.ratio:.2f}× the prediction)" for row in measured if abs(row.ratio - 1) > row.tolerance]
    return (f"the factors explain {len(explained)} of {len(measured)} rows"
            + (f"; not: {', '.join(others)}" if others else ""))


def print_reproduction(rep: Reproduction, path_a: str, path_b: str, a: Results, b: Results, out=None) -> None:
    out = out or sys.stdout
    print(f"original: {compare._describe(a, path_a)}", file=out)
    print(f"new:      {compare._describe(b, path_b)}", file=out)
    for line in machine_lines(rep):
        print(line, file=out)
    if rep.code[0] != rep.code[1]:
        print(f"code differs: the original ran {rep.code[0] or 'an unrecorded commit'}, the new run "
              f"{rep.code[1] or 'an unrecorded commit'}", file=out)
    for line in rep.environment:
        if not line.startswith("git_commit"):
            print(f"environment differs: {line}", file=out)
    print(file=out)
    print("claims (ratios within each run, judged first): a claim holds within its tolerance, differs when "
          "outside it and significant, and can't tell otherwise", file=out)
    for line in claim_table(rep):
        print(line, file=out)
    print(file=out)
    print(f"rule: {rep.rule}", file=out)
    print(tolerance_line(rep.tolerances), file=out)
    for line in format_table(rep):
        print(line, file=out)
    print(file=out)
    print(rep.summary(), file=out)
    for line in (explained_line(rep), rep.shift.line(), rep.machine_line()):
        if line:
            print(line, file=out)


def repro_files(path_a: str, path_b: str, tolerance=None, out=None) -> Reproduction:
    """`bench repro A.json B.json`: compare only, nothing is run."""
    tolerance = check_tolerance(tolerance)
    a, b = results_io.load(str(path_a)), results_io.load(str(path_b))
    rep = reproduction_table(a, b, tolerance)
    print_reproduction(rep, str(path_a), str(path_b), a, b, out)
    _raise_unless_reproduced(rep)
    return rep
