"""bench.samplers: the host's CPU between two snapshots (busy, steal) and the pre-run system check."""

import pytest

from bench import samplers


def snapshot(unix, busy, idle, steal):
    return {"unix": unix, "busy_s": busy, "idle_s": idle, "steal_s": steal}


def test_host_cpu_between_gives_cores_busy_and_stolen_over_the_window():
    # 10 s on a 2-CPU host: 20 CPU-seconds, of which 5 busy, 13 idle, 2 stolen by the hypervisor.
    got = samplers.host_cpu_between(snapshot(100.0, 50.0, 400.0, 1.0), snapshot(110.0, 55.0, 413.0, 3.0))
    assert got == pytest.approx({"window_s": 10.0, "busy_cores": 0.5, "steal_cores": 0.2, "steal_share": 0.1})


def test_host_cpu_between_refuses_what_it_cannot_tell():
    start = snapshot(100.0, 50.0, 400.0, 1.0)
    assert samplers.host_cpu_between(None, start) is None
    assert samplers.host_cpu_between(start, None) is None
    assert samplers.host_cpu_between(start, start) is None  # no time passed
    frozen = samplers.host_cpu_between(start, snapshot(101.0, 50.0, 400.0, 1.0))
    assert frozen["steal_share"] is None and frozen["busy_cores"] == 0.0  # no CPU time recorded at all


def test_host_cpu_times_account_for_every_cpu_second_once():
    import os
    import time

    first = samplers.host_cpu_times()
    assert first is not None and first["busy_s"] > 0 and first["idle_s"] > 0 and first["steal_s"] >= 0
    time.sleep(1.0)
    later = samplers.host_cpu_times()
    seconds = sum(later[k] - first[k] for k in ("busy_s", "idle_s", "steal_s"))
    # busy + idle + steal is all the CPU time there was (guest time is inside user time, not added twice)
    assert seconds == pytest.approx((later["unix"] - first["unix"]) * os.cpu_count(), rel=0.2)
