"""The page: load the results files, build each file's SectionView, render with jinja2, write atomically.

The page is written last, after the raw JSON and a CSV summary beside it, so a reader never
sees a partial report and the links on it always resolve.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Sequence

import jinja2

from bench import __version__
from bench.analysis.wording import speed_words
from bench.errors import RuntimeFailure, UsageError
from bench.format import fmt_bytes, fmt_int, fmt_pct, fmt_rate, fmt_ratio, fmt_speedup, fmt_time, utc_now
from bench.report.export import to_csv
from bench.report.failcost import failure_cost
from bench.report.figures import naive_fit, section_figures
from bench.report.multi import build_comparison
from bench.report.notes import (analysis_rows, environment_rows, fault_rows, node_rows, preflight_warnings,
                                stability_warnings)
from bench.report.reproduce import reproduce
from bench.report.summary import verdict_lines
from bench.report.verdict import verdict
from bench.report.view import SectionView, calibration_summary, run_view, where, workload_title, workload_words
from bench.results import Results, item_words, load, write_atomic
from bench.stats import HIGH_CV

TEMPLATE_DIR = Path(os.environ.get("BENCH_TEMPLATES") or Path(__file__).resolve().parents[2] / "templates")
# Top-level keys the page shows in its own sections; any other object in the file is listed as it is.
KNOWN_KEYS = {"schema_version", "status", "incomplete_reason", "suite", "workload", "metadata", "cluster", "runs",
              "analysis"}


@dataclass
class Source:
    path: Path
    name: str
    results: Results
    raw_text: str
    raw: dict
    json_name: str = ""
    csv_name: str = ""


def _with_speedups(views, facts):
    """Each correct run's speed-up per lookup against sequential and the naive reference."""
    seq, naive_ref = facts.seq, facts.naive_ref
    out = []
    for v in views:
        if v.correct and v.per_lookup_s:
            v = dataclasses.replace(
                v, speedup_seq=seq.per_lookup_s / v.per_lookup_s if seq else None,
                speedup_naive=naive_ref.per_lookup_s / v.per_lookup_s if naive_ref else None)
        out.append(v)
    return tuple(out)


def _what_ran(results: Results) -> str:
    workload = results.workload
    counts = [r.params.get("trials") or 0 for r in results.runs] or [0]
    # runs get different counts (planned by cost, more for noisy ones): say the range, not the largest
    trials = fmt_int(max(counts)) if min(counts) == max(counts) else f"{fmt_int(min(counts))}-{fmt_int(max(counts))}"
    return (f"Suite “{results.suite}”: {workload_words(workload)}, "
            f"{trials} measured trials per run after a warm-up, "
            f"on {where(results)}. Every run's answers are checked against the sequential reference.")


def build_section(source: Source, index: int, with_charts: bool = True) -> SectionView:
    results = source.results
    workload = dict(results.workload)
    views = [run_view(run, workload) for run in results.runs]
    facts = verdict(views, results)
    views = _with_speedups(views, facts)
    fit = naive_fit(views)
    items, item = item_words(workload)
    return SectionView(
        index=index, anchor=f"r{index}", name=source.name, path=str(source.path),
        json_name=source.json_name, csv_name=source.csv_name, results=results,
        status=results.status, incomplete_reason=results.incomplete_reason,
        seed=workload.get("seed"), reference_checksum=workload.get("reference_checksum", "–"),
        what_ran=_what_ran(results), where=where(results), workload_title=workload_title(workload, results.suite),
        views=views, verdict=facts, fit=fit, calibration=calibration_summary(results),
        charts=tuple(section_figures(views, results, facts.batched, fit)) if with_charts else (),
        preflight=tuple(preflight_warnings(results)), stability=tuple(stability_warnings(views, results)),
        environment=tuple(environment_rows(results)), nodes=tuple(node_rows(results)),
        reproduce=reproduce(results, str(source.path)),
        extras={k: v for k, v in source.raw.items() if k not in KNOWN_KEYS and isinstance(v, dict)},
        analysis_rows=tuple(analysis_rows(results)), faults=tuple(fault_rows(views, results)),
        finished=tuple(v.label for v in views if v.response),
        items=items, item=item,
    )


def _safe_name(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "results"


def load_sources(paths: Sequence[str]) -> list[Source]:
    if not paths:
        raise UsageError("report needs at least one results file (python -m bench report RESULTS.json ... --out reports/index.html)")
    sources = []
    used: set[str] = set()
    for path in paths:
        results = load(str(path))  # rejects missing, empty, non-JSON and wrong-version files
        text = Path(path).read_text(encoding="utf-8")
        stem = _safe_name(Path(str(path)).stem)
        name, n = stem, 2
        while name in used:
            name, n = f"{stem}-{n}", n + 1
        used.add(name)
        sources.append(Source(Path(str(path)), name, results, text, json.loads(text), f"{name}.json", f"{name}.csv"))
    return sources


def _environment() -> jinja2.Environment:
    if not (TEMPLATE_DIR / "report.html.j2").is_file():
        raise RuntimeFailure(f"report templates not found in {TEMPLATE_DIR} (set BENCH_TEMPLATES)")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(time=fmt_time, rate=fmt_rate, ratio=fmt_ratio, pct=fmt_pct, int=fmt_int, bytes=fmt_bytes,
                       speedup=fmt_speedup)
    env.globals.update(fmt_time=fmt_time, fmt_rate=fmt_rate)
    return env


def story_title(sections) -> str:
    """The page's title tells the story of its first overhead-bound file's claims (bench.analysis.facts)."""
    lead = next((s for s in sections if s.verdict.claims and not s.verdict.claims.work_bound), sections[0] if sections else None)
    claims = lead.verdict.claims if lead else None
    naive = claims.get("batched_vs_naive") if claims else None
    seq = claims.get("batched_vs_sequential") if claims else None
    if naive and seq and claims.best_batch_size:
        return (f"Ray task granularity: batching {fmt_int(claims.best_batch_size)} {claims.items} per task is "
                f"{speed_words(naive.value)} than one task each, and {speed_words(seq.value)} than one Python loop")
    if len(sections) == 1:
        return f"Ray task granularity: {sections[0].results.suite} suite on {sections[0].where}"
    return f"Ray task granularity: {', '.join(str(s.results.suite or s.name) for s in sections)}"


def render(sources: Sequence[Source], with_charts: bool = True, generated_utc: str | None = None,
           bench_version: str | None = None) -> str:
    """The page. generated_utc and bench_version default to now and this version; tests pass fixed ones."""
    sections = [build_section(source, i, with_charts) for i, source in enumerate(sources)]
    title = story_title(sections)
    return _environment().get_template("report.html.j2").render(
        title=title,
        only_functions=all(s.item == "item" for s in sections),
        sections=sections,
        comparison=build_comparison(sections),
        failure=failure_cost(sections, with_charts),
        generated_utc=generated_utc or utc_now(),
        bench_version=bench_version or __version__,
        high_cv=HIGH_CV,
    )


def write_report(paths: Sequence[str], out: str = "reports/index.html", charts: bool = True,
                 told: Collection[str] = ()) -> Path:
    """The `bench report` command. Overwrites an earlier report (reports are regenerated), never partially.
    Prints each file's verdict (all of them are kept in summary.txt beside the page), then where the
    page is; not again for the files in `told` (bench suites: a suite that ended prints its own)."""
    target = Path(str(out))
    if target.is_dir():
        raise UsageError(f"--out {target} is a directory; give a file name such as {target / 'index.html'}")
    if target.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {target}: the report is HTML; give a path ending in .html")
    sources = load_sources(paths)
    page = render(sources, with_charts=charts)  # everything is rendered before anything is written
    directory = target.parent if str(target.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for source in sources:
            raw_target = directory / source.json_name
            if not (raw_target.exists() and raw_target.resolve() == source.path.resolve()):
                write_atomic(raw_target, source.raw_text)
            write_atomic(directory / source.csv_name, to_csv(source.results))
        write_atomic(target, page)
        summary = summary_text(sources, target)
        write_atomic(directory / "summary.txt", summary)
    except OSError as exc:
        raise RuntimeFailure(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    already = {str(path) for path in told}
    print(summary_text([source for source in sources if str(source.path) not in already], target), end="")
    return target


def summary_text(sources, target: Path) -> str:
    """The terminal verdict of every file in the report (bench.report.summary), then where the page is."""
    parts = []
    for source in sources:
        parts.append(f"== {source.path.name} ({source.results.suite or 'results'})")
        parts += verdict_lines(source.results)
        parts.append("")
    parts.append(f"report: {target}")
    return "\n".join(parts) + "\n"
