"""What a reader checks before trusting the numbers, in words: warnings, node losses, the
environment, the cluster's nodes, the derived model and how the trials were taken."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bench import mode_table
from bench.analysis.conditions import placement_cost
from bench.analysis.wording import PLACEMENT_WORDS, fault_cost_line, lease_single_node_text, placement_text, run_warning_text
from bench.format import fmt_bytes, fmt_int, fmt_pct, fmt_rate, fmt_time
from bench.options import TOP_K_FRACTION
from bench.report.view import (Note, RunFaults, analysis_of, as_dicts, calibration_summary, nodes_of, where, workload_words)
from bench.results import Results, item_words
from bench.stats import HIGH_CV

AUTH_OFF = {"off", "none", "disabled", "false", "no"}


@dataclass(frozen=True)
class FaultRow:
    """One run that lost (or gained) a node or had a fault injected, or a loss between runs."""
    label: str
    badge: str
    level: str
    lines: tuple[str, ...]
    start: str
    end: str
    answers: str
    answers_ok: bool | None


@dataclass(frozen=True)
class NodeRow:
    host: str
    ip: str
    role: str
    alive: bool
    cpus: str
    host_cpus: str
    cpu_limit: str
    memory: str
    host_memory: str
    memory_limit: str
    object_store: str
    shm: str
    shm_small: bool


def _counts_text(counts: dict | None) -> str:
    if not counts:
        return "not recorded"
    alive, with_cpus, cpus = counts.get("alive"), counts.get("alive_with_cpus"), counts.get("cpus")
    text = f"{fmt_int(alive)} node{'s' if alive != 1 else ''}"
    if with_cpus is not None and with_cpus != alive:
        text += f" ({fmt_int(with_cpus)} with CPUs)"
    return text + (f", {fmt_int(cpus)} CPUs" if cpus is not None else "")


def _detection_line(f: RunFaults) -> str | None:
    if f.detection_s:
        return ("Detection delay (fault to the driver seeing the loss): "
                + ", ".join(fmt_time(d) for d in f.detection_s) + ".")
    if f.faults and f.lost:
        return "Detection delay: not observable (no loss followed a logged fault)."
    if f.lost and not f.faults:
        return ("Detection delay: not observable (no fault log: the loss was not injected by the chaos harness, "
                "or BENCH_FAULT_LOG was not set).")
    if f.faults and not f.lost:
        return "No node loss was seen after this fault before the run ended."
    return None


def _fault_lines(f: RunFaults) -> list[str]:
    lines = []
    for loss in f.lost:
        text = f"Lost node {loss.hostname}"
        if loss.cpus:
            text += f" ({fmt_int(loss.cpus)} CPU{'s' if loss.cpus != 1 else ''})"
        text += f", detected {fmt_time(loss.at_s)} into the run" if loss.at_s is not None else ", detection time not recorded"
        if loss.reason:
            text += f"; Ray says: {str(loss.reason).rstrip('. ')}"
        lines.append(text + ".")
    for fault in f.faults:
        lines.append(f"Injected fault: {fault.event} on {fault.target}"
                     + (f", {fmt_time(fault.at_s)} into the run." if fault.at_s is not None else "."))
    detection = _detection_line(f)
    if detection:
        lines.append(detection)
    lines += [fault_cost_line("cost", cost).removeprefix("fault cost, ") + "." for cost in f.costs]
    if f.fewer_nodes and not f.lost:
        lines.append("Fewer nodes were alive at the end than at the start, but the node watcher recorded no loss event.")
    lines += [f"Node {host} joined during the run." for host in f.joined]
    if f.lost_samplers:
        lines.append("No resource samples came back from " + ", ".join(f.lost_samplers)
                     + " for this run: its series in the per-node chart ends before it.")
    return lines


def _losses_between_runs(views, results: Results) -> list[FaultRow]:
    """Losses the watcher saw between runs (cluster.node_events holds every event of the suite)."""
    seen = {loss.node_id for v in views if v.faults for loss in v.faults.lost}
    starts = [r.extra.get("started_unix") for r in results.runs if isinstance(r.extra.get("started_unix"), (int, float))]
    t0 = min(starts) if starts else None
    rows = []
    for e in as_dicts(results.cluster.get("node_events")):
        if isinstance(e, dict) and e.get("event") == "node_lost" and e.get("node_id") not in seen:
            at = (float(e["detected_unix"]) - t0) if t0 is not None and isinstance(e.get("detected_unix"), (int, float)) else None
            line = (f"Lost node {e.get('hostname') or str(e.get('node_id'))[:12]}"
                    + (f", detected {fmt_time(at)} after the first run started" if at is not None else "")
                    + (f"; Ray says: {e.get('reason')}" if e.get("reason") else "") + ".")
            rows.append(FaultRow("between runs", "node lost", "error", (line,), "–", "–", "no run was in progress", None))
    return rows


def fault_rows(views, results: Results) -> list[FaultRow]:
    """One entry per run that lost (or gained) a node or had a fault injected, in words, for the page."""
    rows = [FaultRow(v.label, v.faults.badge, "error" if (v.faults.lost or v.faults.fewer_nodes) else "warn",
                     tuple(_fault_lines(v.faults)), _counts_text(v.faults.start), _counts_text(v.faults.end),
                     v.faults.answers, v.faults.answers_ok)
            for v in views if v.faults]
    return rows + _losses_between_runs(views, results)


def _shm_warnings(results: Results) -> list[Note]:
    found = []
    meta, store_total = results.metadata, results.cluster.get("object_store_memory_bytes")
    for node in nodes_of(results):
        shm, store = node.get("shm_bytes"), node.get("object_store_memory_bytes")
        if shm and store and shm < store:
            found.append(Note("warn", (
                f"Node {node.get('hostname') or node.get('node_id')}: /dev/shm is {fmt_bytes(shm)}, smaller than its "
                f"object store ({fmt_bytes(store)}). Ray spills objects to disk-backed files; size shm_size to the object store.")))
    if not any(n.get("shm_bytes") for n in nodes_of(results)) and meta.get("shm_bytes") and store_total \
            and meta["shm_bytes"] < store_total:
        found.append(Note("warn", f"/dev/shm on the driver is {fmt_bytes(meta['shm_bytes'])}, smaller than the object store ({fmt_bytes(store_total)})."))
    return found


def _auth_note(results: Results) -> Note:
    cluster = results.cluster
    auth = results.metadata.get("ray_auth_mode", cluster.get("auth_mode"))
    if auth is None:
        return Note("info", "Ray token authentication: unknown (this results file does not record it).")
    if str(auth).lower() in AUTH_OFF:
        level = "info" if cluster.get("mode") == "embedded" else "warn"
        return Note(level, f"Ray token authentication is off ({auth})" + (
            ": acceptable for an embedded local Ray, not for a shared cluster." if level == "info" else
            ": anyone who can reach the cluster's ports can run code on it."))
    return Note("ok", f"Ray authentication mode: {auth}.")


def preflight_warnings(results: Results) -> list[Note]:
    """Checks a reader wants before trusting the numbers: level is 'warn', 'info' or 'ok'."""
    found = _shm_warnings(results)
    meta, cluster = results.metadata, results.cluster
    expected = cluster.get("expected_nodes")
    alive_start = (cluster.get("nodes_start") or {}).get("alive")
    if alive_start is None and nodes_of(results):
        alive_start = sum(1 for n in nodes_of(results) if n.get("alive", True))
    if expected and alive_start is not None and alive_start < expected:
        found.append(Note("warn", f"Only {alive_start} node(s) were alive, fewer than the {expected} expected."))
    alive_end = (cluster.get("nodes_end_counts") or {}).get("alive")
    if alive_start is not None and alive_end is not None and alive_end < alive_start:
        found.append(Note("warn", f"Nodes were lost during the suite: {alive_start} alive at the start, {alive_end} at the end."))
    found.append(_auth_note(results))
    cpu_limit = meta.get("cgroup_cpu_limit")
    if cpu_limit and meta.get("cpu_count") and cpu_limit < meta["cpu_count"]:
        found.append(Note("info", f"The driver is limited to {cpu_limit:g} CPUs by its cgroup (host has {meta['cpu_count']})."))
    return found


def stability_warnings(views, results: Results) -> list[Note]:
    """Run warnings grouped by kind (one line for 'CV too high in 8 runs', not eight lines), then failures."""
    found = []
    unstable = [v for v in views if v.high_cv]
    if unstable:
        found.append(Note("warn", (
            f"Response time varies by more than {HIGH_CV:.0%} (CV) in {len(unstable)} of {len(views)} runs: "
            + ", ".join(f"{v.label} {fmt_pct(v.cv)}" for v in unstable)
            + ". Rerun on a quieter machine or with more --trials; medians and ratios are still meaningful, their last digit is not."),
            None, "unstable"))
    grouped: dict[str, list] = {}
    for view in views:
        for w in view.run.extra.get("warnings") or ():
            kind = w.get("kind", "other") if isinstance(w, Mapping) else "other"
            message = (run_warning_text(w, view.run.extra.get("outliers") or ()) if isinstance(w, Mapping)
                       else str(w))
            if kind == "unstable" or "CV" in message:
                continue  # covered above, from the samples themselves
            grouped.setdefault(message, []).append(view.label)
    found += [Note("warn", message, ", ".join(labels), "run") for message, labels in grouped.items()]
    found += [Note("error", f"failed: {view.run.extra['error']}", view.label, "error")
              for view in views if view.run.extra.get("error")]
    calibration = calibration_summary(results)
    if calibration and calibration.cv is not None and calibration.cv > HIGH_CV:
        found.append(Note("warn", f"no-op task rate CV is {fmt_pct(calibration.cv)} (> {HIGH_CV:.0%}): the machine was busy or noisy",
                          "calibration", "unstable"))
    stopped = calibration_stopped(results.cluster.get("calibration") or {})
    if stopped:
        found.append(Note("warn", stopped, "calibration", "calibration"))
    return found


KNOWN_METADATA = {"bench_version", "ray_version", "python_version", "numpy_version", "host", "platform", "cpu_model",
                  "cpu_count", "memory_bytes", "cgroup_cpu_limit", "cgroup_memory_limit_bytes", "shm_bytes", "git_commit",
                  "image", "image_id", "command_line", "started_utc", "ray_auth_mode"}


def _placement_rows(results: Results) -> list[tuple[str, str]]:
    """Where the Ray rows' tasks went, and the hop's cost when both placements were timed."""
    cost = placement_cost(results)
    if cost:
        return [("Task placement", placement_text(cost).removeprefix("placement: "))]
    placements = {run.params.get("placement") for run in results.runs if mode_table.spec_of(run.mode)
                  and mode_table.spec_of(run.mode).needs_ray}
    return [("Task placement", "; ".join(PLACEMENT_WORDS.get(p, p) if p else
                                         "Ray's default scheduler (recorded before --placement existed)"
                                         for p in sorted(placements, key=str)))] if placements else []


def environment_rows(results: Results) -> list[tuple[str, str]]:
    meta, cluster, workload = results.metadata, results.cluster, results.workload
    rows = [
        ("Results file status", results.status + (f" ({results.incomplete_reason})" if results.incomplete_reason else "")),
        ("Suite", str(results.suite)),
        ("Started (UTC)", str(meta.get("started_utc", "–"))),
        ("Workload", workload_words(workload)),
        ("Reference checksum", str(workload.get("reference_checksum", "–"))),
        ("Cluster", f"{cluster.get('mode', '–')}" + (f" at {cluster.get('address')}" if cluster.get("address") else "")),
        ("Nodes and CPUs", where(results)),
        *_placement_rows(results),
        ("Object store (all nodes)", fmt_bytes(cluster.get("object_store_memory_bytes"))),
        ("Ray init", fmt_time(cluster.get("init_s")) if cluster.get("init_s") is not None else "–"),
        ("Ray auth", str(meta.get("ray_auth_mode", cluster.get("auth_mode", "unknown (not recorded)")))),
        ("Driver host", f"{meta.get('host', '–')}: {meta.get('cpu_model') or 'unknown CPU'}, {fmt_int(meta.get('cpu_count'))} CPUs, {fmt_bytes(meta.get('memory_bytes'))} RAM, /dev/shm {fmt_bytes(meta.get('shm_bytes'))}"),
        ("cgroup limits (driver)", f"CPU {meta.get('cgroup_cpu_limit') or 'none'}, memory {fmt_bytes(meta.get('cgroup_memory_limit_bytes')) if meta.get('cgroup_memory_limit_bytes') else 'none'}"),
        ("Platform", str(meta.get("platform", "–"))),
        ("Versions", ", ".join(f"{name} {meta.get(key)}" for name, key in (
            ("bench", "bench_version"), ("Ray", "ray_version"), ("Python", "python_version"), ("numpy", "numpy_version"))
            if meta.get(key))),
        ("Image", f"{meta.get('image') or '– (not run from the appliance image)'}" + (f" ({meta.get('image_id')})" if meta.get("image_id") else "")),
        ("Git commit", str(meta.get("git_commit") or "– (not recorded)")),
        ("Command", str(meta.get("command_line", "–"))),
    ]
    # fields later versions add: show, don't interpret
    rows += [(key, str(value)) for key, value in meta.items()
             if key not in KNOWN_METADATA and isinstance(value, (str, int, float, bool))]
    return rows


def fit_words(model: dict) -> str:
    """The model's fit on the relative scale it was fitted on (v1 files get it on load)."""
    if model.get("rms_relative_error") is None:
        return "fit quality unknown"
    text = (f"RMS relative error {fmt_pct(model['rms_relative_error'])}, worst point "
            f"{model['max_relative_residual']:+.0%} at B = {fmt_int(model.get('worst_point_batch_size'))}")
    return text + (" — a misfit: read c and the break-even as rough" if model.get("misfit") else "")


def _model_rows(model: dict, items: str = "lookups", item: str = "lookup") -> list[tuple[str, str]]:
    rows = [
        ("Overhead model", str(model.get("formula", "–"))),
        ("Fit quality", fit_words(model) + f" over {len(model.get('points') or ())} batch sizes"),
        ("Per-task overhead c", fmt_time(model.get("per_task_overhead_s"))),
        ("Fixed cost per run a", fmt_time(model.get("fixed_cost_s"))),
        (f"Work per {item} w", f"{fmt_time(model.get('per_lookup_work_s'))} ({model.get('per_lookup_work_source', '–')})"),
        ("Best measured batch size", f"B = {fmt_int(model.get('best_batch_size'))} ({fmt_time(model.get('best_time_s'))})"),
        ("Smallest B within 5% of the best", f"measured {fmt_int(model.get('smallest_batch_within_5pct'))}, model {fmt_int(model.get('model_smallest_batch_within_5pct'))}"),
    ]
    if model.get("break_even_lookups_per_task"):
        rows.append(("Break-even task size", f"{fmt_int(round(model['break_even_lookups_per_task']))} {items} ({fmt_time(model.get('break_even_work_per_task_s'))} of work) per task"))
    return rows


def analysis_rows(results: Results) -> list[tuple[str, str]]:
    """The derived figures of results.analysis that a reader can use, in words."""
    analysis = analysis_of(results)
    items, item = item_words(dict(results.workload))
    rows = _model_rows(analysis["model"], items, item) if analysis.get("model") else []
    auto = analysis.get("auto")
    if auto and auto.get("ratio"):
        rows.append(("ray-auto vs best swept", f"B = {fmt_int(auto.get('auto_batch_size'))}: {fmt_time(auto.get('auto_median_s'))} vs "
                     f"B = {fmt_int(auto.get('best_batch_size'))}: {fmt_time(auto.get('best_median_s'))} ({auto['ratio']:.2f}× the time)"
                     + (f"; its probe took {fmt_time(auto['probe_s'])}" if auto.get("probe_s") else "")))
    harness = analysis.get("harness")
    if harness and harness.get("ratio"):
        rows.append(("Naive vs no-op task rate", f"{fmt_rate(harness.get('naive_tasks_per_s'))} vs {fmt_rate(harness.get('calibration_tasks_per_s'))} tasks/s "
                     f"({harness['ratio']:.2f}) at {fmt_int(harness.get('naive_tasks'))} tasks"))
        if harness.get("ratio_vs_same_arguments"):
            rows.append(("Naive vs no-op tasks taking the same arguments",
                         f"{fmt_rate(harness.get('naive_tasks_per_s'))} vs {fmt_rate(harness.get('calibration_with_args_tasks_per_s'))} "
                         f"tasks/s ({harness['ratio_vs_same_arguments']:.2f}): what remains is the harness's own cost "
                         f"plus the {item} work; the rest of the gap is passing the array by value"))
    return rows + measurement_rows(results)


def _stop_reasons(results: Results) -> dict[str, list[str]]:
    reasons: dict[str, list[str]] = {}
    for run in results.runs:
        if run.extra.get("stop_reason"):
            reasons.setdefault(str(run.extra["stop_reason"]), []).append(
                f"{run.label} ({len(run.samples.get('response_s') or ())})")
    return reasons


def measurement_rows(results: Results) -> list[tuple[str, str]]:
    """How the trials were taken: rounds and order, why rows stopped, outliers, the machine's state."""
    rows = []
    order = results.config.get("order") or ()
    if order:
        rows.append(("Trial order", f"{len(order)} interleaved rounds, each in a seeded random order "
                     f"(config.order): trial k of every configuration runs in round k (one with fewer trials, in rounds "
                     f"spread over the plan: each run's trial_rounds), so drift spreads over all"))
    reasons = _stop_reasons(results)
    if reasons:
        target, median_target = results.config.get("target_cv"), results.config.get("median_ci_target")
        rule = f"CV target {fmt_pct(target)}" if target else ""
        if target and median_target:
            rule += f", or the median known within ±{fmt_pct(median_target)} (95% CI)"
        rows.append(("Why each row stopped" + (f" ({rule})" if rule else ""),
                     "; ".join(f"{reason}: {', '.join(labels)}" for reason, labels in reasons.items())))
    outliers = [f"{run.label} trial {o['trial'] + 1} ({fmt_time(o['response_s'])}, {o['vs_median']:.2f}× the median)"
                for run in results.runs for o in (run.extra.get("outliers") or ()) if o.get("vs_median")]
    if outliers:
        rows.append(("Outlier trials (kept, named)", "; ".join(outliers)))
    idle = results.cluster.get("idle_load") or {}
    if idle.get("host_busy_cores") is not None:
        rows.append(("Idle load before the trials",
                     f"{idle['host_busy_cores']:.2f} cores busy on the host; Ray nodes' own use "
                     f"{idle.get('nodes_total_pct_of_core', 0):.0f}% of one core in all, over {idle.get('window_s', 0):g} s"))
    rows += [("System check", warning) for warning in (results.cluster.get("system_check") or {}).get("warnings") or ()]
    host = (results.cluster.get("host_cpu") or {}).get("measured_rounds") or {}
    if host.get("busy_cores") is not None:
        rows.append(("Host CPU during the rounds",
                     f"{host['busy_cores']:.2f} cores busy, {fmt_pct(host.get('steal_share'))} stolen by the hypervisor "
                     f"over {fmt_time(host.get('window_s'))} (host-wide /proc/stat; per round in the results)"))
    settings = results.cluster.get("driver_settings") or {}
    slice_ms = settings.get("RAY_get_check_signal_interval_milliseconds")
    if slice_ms:
        rows.append(("Driver's ray.get slice", f"{slice_ms} ms ({settings.get('source', '')}; Ray's default 1000 ms "
                     f"stalled cross-node gets of large results by ~1 s)"))
    lease = results.cluster.get("lease_placement") or {}
    if lease.get("fewest_candidates") and lease.get("cpu_nodes", 0) >= 2:  # one node: no lease to place elsewhere
        single = lease.get("single_node")
        rows.append(("Lease placement", (lease_single_node_text(single) if single else lease.get("warning")) or (
            f"a lease no raylet can grant at once goes to one of {lease['fewest_candidates']} of {lease['nodes']} nodes "
            f"at random ({TOP_K_FRACTION}; Ray's default, 0.2, draws from a single node on clusters of under 10)")))
    anatomy = _anatomy_words(results.cluster.get("anatomy"))
    if anatomy:
        rows.append(("Task anatomy", anatomy))
    return rows


def _anatomy_words(anatomy) -> str | None:
    """The largest phase per diagnosed batch size, or why there is no anatomy (never invented)."""
    if not anatomy:
        return None
    if not anatomy.get("available"):
        return f"not measured: {anatomy.get('reason') or 'task events unavailable'}"
    parts = []
    for entry in anatomy.get("runs") or ():
        where = "naive" if entry.get("mode") == "ray-naive" else f"B = {fmt_int(entry.get('batch_size'))}"
        if not entry.get("available"):
            parts.append(f"{where}: not measured ({entry.get('reason')})")
            continue
        largest = entry.get("largest_phase")
        share = ((entry.get("phases") or {}).get(largest) or {}).get("median_s")
        total = (entry.get("measured_latency") or {}).get("median_s")
        parts.append(f"{where}: {str(largest).replace('_', ' ')} {fmt_time(share)} of {fmt_time(total)}")
    return "largest phase per task: " + "; ".join(parts)


def node_rows(results: Results) -> list[NodeRow]:
    return [NodeRow(
        host=node.get("hostname") or "–",
        ip=node.get("ip") or "–",
        role="head" if node.get("is_head") else "worker",
        alive=node.get("alive", True),
        cpus=fmt_int(node.get("cpus")),
        host_cpus=fmt_int(node.get("host_cpus")),
        cpu_limit=fmt_int(node.get("cpu_limit")) if node.get("cpu_limit") else "none",
        memory=fmt_bytes(node.get("memory_bytes")),
        host_memory=fmt_bytes(node.get("host_memory_bytes")),
        memory_limit=fmt_bytes(node.get("memory_limit_bytes")) if node.get("memory_limit_bytes") else "none",
        object_store=fmt_bytes(node.get("object_store_memory_bytes")),
        shm=fmt_bytes(node.get("shm_bytes")),
        shm_small=bool(node.get("shm_bytes") and node.get("object_store_memory_bytes")
                       and node["shm_bytes"] < node["object_store_memory_bytes"]),
    ) for node in nodes_of(results)]


def calibration_stopped(record: dict) -> str | None:
    """What to tell the user when the batches after the rounds failed (a node lost mid-suite):
    which figure the results then hold. None when they did not fail."""
    error = (record or {}).get("in_rounds_error")
    if not error:
        return None
    kept = ("the batches after the rounds before it failed" if "before_rounds" in record
            else "the block before the rounds")
    return f"the calibration's batches after the rounds stopped ({error}); its figure is {kept}"
