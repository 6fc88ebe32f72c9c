"""The cost of a failure against batch size: every run's fault_cost records (bench.engine.faultcost)
across the report's files, as a table, a chart and one line on the answers (make chaos-sweep)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bench.format import fmt_int, fmt_ratio, fmt_time
from bench.report import charts_cluster
from bench.report.view import SectionView


@dataclass(frozen=True)
class FailurePoint:
    file: str
    anchor: str
    label: str
    batch_size: int | None
    tasks: int | None
    measured: bool  # the fault landed inside a trial
    landed: str
    target: str
    trial: str
    re_executed: str
    re_executed_v: int | None
    retried: str
    recovery: str
    recovery_v: float | None
    detection: str
    detection_v: float | None
    slowdown: str
    slowdown_v: float | None
    times: str  # faulted trial against the clean median
    correct: bool
    events_note: str | None


@dataclass(frozen=True)
class FailureCost:
    points: tuple[FailurePoint, ...]
    chart: str | None
    answers: str
    answers_ok: bool
    notes: tuple[str, ...]


def _point(section: SectionView, run, cost: Mapping) -> FailurePoint:
    measured = cost.get("trial") is not None
    events = cost.get("task_events") or {}
    lookups, retried = cost.get("lookups_re_executed"), cost.get("tasks_retried")
    note = None
    if measured and not events.get("available"):
        note = f"re-executed work and recovery unavailable: {events.get('reason') or 'no task events'}"
    elif measured and events.get("tasks_seen") is not None and events.get("tasks_seen") != events.get("tasks_expected"):
        note = (f"task events for {fmt_int(events.get('tasks_seen'))} of {fmt_int(events.get('tasks_expected'))} "
                "tasks: the counts cover those")
    return FailurePoint(
        file=section.name, anchor=section.anchor, label=run.label, batch_size=cost.get("batch_size"),
        tasks=cost.get("tasks"), measured=measured, landed=str(cost.get("landed") or "–"),
        target=str(cost.get("target") or "–"),
        trial=f"#{cost['trial'] + 1}" if measured else "–",
        re_executed=fmt_int(lookups), re_executed_v=lookups,
        retried="–" if retried is None else f"{fmt_int(retried)} of {fmt_int(cost.get('tasks'))}",
        recovery=fmt_time(cost.get("recovery_s")), recovery_v=cost.get("recovery_s"),
        detection=fmt_time(cost.get("detection_s")), detection_v=cost.get("detection_s"),
        slowdown=fmt_ratio(cost.get("slowdown")), slowdown_v=cost.get("slowdown"),
        times=(f"{fmt_time(cost.get('faulted_response_s'))} vs {fmt_time(cost.get('clean_median_s'))}"
               if measured else "–"),
        correct=bool(run.correct) and cost.get("trial_correct") is not False, events_note=note,
    )


def _answers(sections: list[SectionView]) -> tuple[str, bool]:
    runs = [(s.name, r) for s in sections for r in s.results.runs]
    wrong = [f"{name}: {run.label}" for name, run in runs if not run.correct]
    if wrong:
        return "Wrong or missing answers in " + "; ".join(wrong) + ".", False
    files = len(sections)
    return (f"Every answer was correct: {fmt_int(len(runs))} run{'s' if len(runs) != 1 else ''} in {fmt_int(files)} "
            f"file{'s' if files != 1 else ''}, the faulted trials included, each checked against the sequential "
            "reference."), True


def failure_cost(sections: list[SectionView], with_charts: bool = True) -> FailureCost | None:
    """None when no run of any file recorded the cost of an injected fault."""
    points = [_point(section, run, cost) for section in sections for run in section.results.runs
              for cost in (run.extra.get("fault_cost") or ()) if isinstance(cost, Mapping)]
    if not points:
        return None
    points.sort(key=lambda p: (p.batch_size or 0, p.file))
    notes = [f"{p.file}, {p.label}: the fault landed {p.landed}, so it cost no measured trial; rerun with longer "
             "trials (more --queries or a larger --array-size)." for p in points if not p.measured]
    notes += [f"{p.file}, {p.label}: {p.events_note}." for p in points if p.events_note]
    sizes = [p.batch_size for p in points if p.measured]
    if len(set(sizes)) != len(sizes):
        notes.append("Several faults at one batch size: each is its own point.")
    chart = charts_cluster.failure_cost([
        {"batch_size": p.batch_size, "slowdown": p.slowdown_v, "re_executed": p.re_executed_v,
         "recovery_s": p.recovery_v, "detection_s": p.detection_v} for p in points if p.measured
    ]) if with_charts else None
    answers, ok = _answers(sections)
    return FailureCost(tuple(points), chart, answers, ok, tuple(notes))

