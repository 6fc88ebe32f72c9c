"""Ray's task events, read from the GCS (`TaskInfoGcsService.GetTaskEvents`, the RPC Ray's
state API uses: no dashboard needed, and the channel carries Ray's token-auth metadata when
token auth is on), for the anatomy (bench.engine.anatomy) and the fault cost
(bench.engine.faultcost). Never inside a timed trial."""

from __future__ import annotations

import time

# A task's latency spans between its state stamps: (start state, end state).
EVENT_SPANS = {
    "waiting_for_args": ("PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT"),
    "scheduling_and_lease": ("PENDING_NODE_ASSIGNMENT", "SUBMITTED_TO_WORKER"),
    "dispatch": ("SUBMITTED_TO_WORKER", "RUNNING"),
    "execution": ("RUNNING", "FINISHED"),
}
TERMINAL_STATES = ("FINISHED", "FAILED")
SOURCE = "gcs task events"
POLL_S = 0.25


def _filter_predicate_equal():
    from ray.core.generated import gcs_service_pb2

    return gcs_service_pb2.FilterPredicate.Value("EQUAL")


def query_task_events(task_name: str, limit: int, timeout_s: float = 10.0) -> list:
    """This job's non-driver task events named task_name, from the GCS (no dashboard needed)."""
    import ray
    from ray._private.grpc_utils import init_grpc_channel
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    context = ray.get_runtime_context()
    request = gcs_service_pb2.GetTaskEventsRequest(limit=limit)
    equal = _filter_predicate_equal()
    name_filter = request.filters.task_name_filters.add()
    name_filter.task_name, name_filter.predicate = task_name, equal
    job_filter = request.filters.job_filters.add()
    job_filter.job_id, job_filter.predicate = bytes.fromhex(context.get_job_id()), equal
    request.filters.exclude_driver = True
    channel = init_grpc_channel(context.gcs_address, asynchronous=False)  # adds token auth when on
    try:
        stub = gcs_service_pb2_grpc.TaskInfoGcsServiceStub(channel)
        return list(stub.GetTaskEvents(request, timeout=timeout_s).events_by_task)
    finally:
        channel.close()


def events_by_task(events: list) -> dict[str, dict]:
    """{task_id hex: {"states": {STATE: ns}, "attempt": n}} keeping each task's latest attempt."""
    from ray.core.generated import common_pb2

    latest: dict[str, dict] = {}
    for event in events:
        task_id = event.task_id.hex()
        if task_id in latest and latest[task_id]["attempt"] > event.attempt_number:
            continue
        states = {common_pb2.TaskStatus.Name(k): int(v) for k, v in event.state_updates.state_ts_ns.items()}
        if task_id in latest and latest[task_id]["attempt"] == event.attempt_number:
            states = {**latest[task_id]["states"], **states}
        latest[task_id] = {"states": states, "attempt": event.attempt_number}
    return latest


def _complete(states: dict) -> bool:
    """A terminal state and every span's states (RUNNING comes from the executing worker's
    own flush, after the owner has reported FINISHED)."""
    spans = {state for pair in EVENT_SPANS.values() for state in pair}
    return "FAILED" in states or spans <= states.keys()


def wait_for_events(batches: dict[str, list[str]], timeout_s: float, grace_s: float = 5.0) -> dict[str, dict]:
    """Poll the GCS for the task events of every batch ({task name: task ids}, one wait for
    all of them) until every task's events are complete, or grace_s after every task shows
    a terminal state (a state that never comes is then missing), or timeout_s. Workers flush
    every task_events_report_interval_ms (1 s by default). Returns {task id: events}."""
    deadline, all_terminal_at = time.monotonic() + timeout_s, None
    task_ids = [task for tasks in batches.values() for task in tasks]
    while True:
        found = {}
        for name, tasks in batches.items():
            found.update(events_by_task(query_task_events(name, limit=len(tasks) * 2 + 100)))
        states = [found.get(t, {}).get("states", {}) for t in task_ids]
        now = time.monotonic()
        if all(_complete(s) for s in states) or now >= deadline:
            return found
        if all_terminal_at is None and all(any(k in s for k in TERMINAL_STATES) for s in states):
            all_terminal_at = now
        if all_terminal_at is not None and now - all_terminal_at >= grace_s:
            return found
        # (nothing at all: keep waiting to the deadline; after a suite of 100k tasks the driver's
        # backlog of earlier events can take many flush intervals, and "events off" is checked first)
        time.sleep(POLL_S)


def events_disabled_reason() -> str | None:
    """Why the GCS holds no task events for this driver, where the driver's Ray config says."""
    import ray

    checks = (("enable_task_events", False, "task events are disabled (RAY_enable_task_events=0)"),
              ("task_events_report_interval_ms", False,
               "task events are never reported (RAY_task_events_report_interval_ms=0)"),
              ("enable_task_events_to_dashboard_head", True,
               "task events go to the dashboard head (RAY_enable_task_events_to_dashboard_head=1), not the GCS"))
    for setting, bad, reason in checks:
        getter = getattr(ray._config, setting, None)
        if getter is not None and bool(getter()) == bad:
            return reason
    return None
