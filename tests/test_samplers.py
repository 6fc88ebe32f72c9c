"""bench.engine.samplers: the host's CPU between two snapshots (busy, steal) and the pre-run system check."""

import pytest

from bench.engine import samplers


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


def test_settle_waits_for_a_quiet_host_and_says_when_it_never_came(monkeypatch):
    readings = iter([0.9, 0.6, 0.1, 0.0])
    monkeypatch.setattr(samplers, "host_busy_cores", lambda window_s: next(readings))
    quiet = samplers.settle(max_wait_s=60, window_s=0.0)
    assert quiet["settled"] and quiet["busy_cores"] == 0.1
    assert next(readings) == 0.0  # it stopped at the first quiet window
    monkeypatch.setattr(samplers, "host_busy_cores", lambda window_s: 1.5)
    busy = samplers.settle(max_wait_s=0.05, window_s=0.0)
    assert not busy["settled"] and busy["busy_cores"] == 1.5 and busy["waited_s"] >= 0.05 - 0.01
    monkeypatch.setattr(samplers, "host_busy_cores", lambda window_s: None)  # cannot tell: do not wait
    unknown = samplers.settle(max_wait_s=60, window_s=0.0)
    assert unknown["settled"] is False and unknown["waited_s"] < 1


def test_the_terminal_and_the_report_say_what_the_host_cpu_did(tmp_path):
    from pathlib import Path

    from bench.report import write_report
    from bench.results import load, save
    from bench.report.summary import verdict_lines

    fixture = Path(__file__).parent / "fixtures" / "compare-base.json"
    res = load(fixture)
    assert not any("steal" in line for line in verdict_lines(res))  # not recorded: nothing said
    stolen = res.with_cluster(host_cpu={"measured_rounds": {"window_s": 90.0, "busy_cores": 1.2,
                                                            "steal_cores": 0.16, "steal_share": 0.08}})
    assert any(line.startswith("warning: the hypervisor took 8.0% of the host's CPU") for line in verdict_lines(stolen))
    quiet = res.with_cluster(host_cpu={"measured_rounds": {"window_s": 90.0, "busy_cores": 1.2,
                                                           "steal_cores": 0.0, "steal_share": 0.001}})
    assert not any("hypervisor" in line for line in verdict_lines(quiet))
    path = tmp_path / "stolen.json"
    save(stolen, path)
    page = write_report([str(path)], tmp_path / "index.html", charts=False).read_text()
    assert "Host CPU during the rounds" in page and "8.0% stolen by the hypervisor" in page


def test_the_terminal_says_how_long_trials_waited_for_a_quiet_host():
    from pathlib import Path

    from bench.results import load
    from bench.report.summary import verdict_lines

    def quiet_lines(res):
        return [line for line in verdict_lines(res) if line.startswith("quiet before each trial")]

    res = load(Path(__file__).parent / "fixtures" / "compare-base.json")
    assert quiet_lines(res) == []  # not recorded: nothing said
    runs = tuple(run.__class__(**{**run.__dict__, "extra": {**run.extra, "quiet_before_trial": {
        "waited_s": [0.1, 1.5], "busy_cores": [0.05, 0.9]}}}) for run in res.runs[:2])
    from dataclasses import replace
    (line,) = quiet_lines(replace(res, runs=runs))
    assert "waited 3.2 s in all (longest 1.5 s)" in line and "2 of 4 trials started with the host still busy" in line
