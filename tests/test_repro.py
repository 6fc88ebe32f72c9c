"""`bench repro`: verdicts per row on constructed fixture pairs, exit codes, the re-run path, the report.

repro-within / repro-drift are scaled copies of compare-same (tests/fixtures/make_repro_fixtures.py):
every row 1.04x, and B=10 1.31x, B=100 1.12x, calibration rate 0.8x respectively.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

import pytest

from bench import rerun
from bench.analysis import repro
from bench.cli import main
from bench.errors import UsageError
from bench.report import write_report
from bench.results import load

FIXTURES = Path(__file__).parent / "fixtures"
BASE = FIXTURES / "compare-base.json"
WITHIN = FIXTURES / "repro-within.json"
DRIFT = FIXTURES / "repro-drift.json"
DRIFTED = {"ray-batched B=10", "ray-batched B=100", "calibration: time per no-op task"}
# the calibration's 3 trials a side cannot reach p < 0.05: outside the band, it can't tell
DIFFERING = DRIFTED - {"calibration: time per no-op task"}


def _median(path, label):
    run = next(r for r in json.loads(Path(path).read_text())["runs"] if r["label"] == label)
    return statistics.median(run["samples"]["response_s"])


def _exit_code(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code, capsys.readouterr()


def test_a_pair_within_tolerance_reproduces():
    rep = repro.reproduction_table(load(BASE), load(WITHIN))
    assert rep.reproduced and not rep.failed
    assert len(rep.counted) == len(load(BASE).runs) + 1  # every run, plus the calibration rate
    assert all(row.status == "reproduced" and row.verdict.startswith("reproduced within ") for row in rep.rows)
    seq = next(row for row in rep.rows if row.label == "sequential")
    expected = _median(WITHIN, "sequential") / _median(BASE, "sequential")
    assert seq.ratio == pytest.approx(expected, rel=1e-12)
    assert seq.verdict == f"reproduced within {int(-(-abs(expected - 1) * 100 // 1))}%"
    assert rep.claims_verdict == "holds" and all(c.status == "holds" for c in rep.claims)
    n = len(rep.counted)
    assert rep.summary() == (f"reproduced: claims: {len(rep.claims)} of {len(rep.claims)} hold; "
                             f"rows: {n} of {n} reproduced, 0 differ, 0 can't tell")


def test_a_drifted_pair_differs_on_exactly_the_drifted_rows():
    rep = repro.reproduction_table(load(BASE), load(DRIFT))
    assert not rep.reproduced
    assert {row.label for row in rep.failed} == DIFFERING
    assert {row.label for row in rep.undecided} == DRIFTED - DIFFERING
    b10 = next(row for row in rep.rows if row.label == "ray-batched B=10")
    ratio = _median(DRIFT, "ray-batched B=10") / _median(BASE, "ray-batched B=10")
    assert b10.ratio == pytest.approx(ratio, rel=1e-12)
    assert b10.verdict.startswith(f"differs: {ratio:.2f}×, p < 0.001")
    cal = next(row for row in rep.rows if row.mode == "calibration")
    assert cal.ratio == pytest.approx(1 / 0.8, rel=1e-9)  # rates 0.8x: each no-op task 1.25x as long
    assert cal.status == "cant-tell" and cal.reason == "noise"
    assert "too few for the rank test" in cal.verdict and "more trials a side would settle it" in cal.verdict
    assert "rows: 7 of 10 reproduced, 2 differ, 1 can't tell: ray-batched B=10 (1.3" in rep.summary()
    assert rep.summary().startswith("NOT reproduced: ")


def test_tolerance_table_on_a_cluster_and_when_given(tmp_path):
    drift = json.loads(DRIFT.read_text())
    drift["cluster"]["mode"] = "existing"  # as joined with --address in the appliance
    compose = tmp_path / "compose.json"
    compose.write_text(json.dumps(drift))
    rep = repro.reproduction_table(load(BASE), load(compose))
    assert rep.tolerances["ray-batched"] == rep.tolerances["ray-auto"] == 0.15
    assert rep.tolerances["sequential"] == rep.tolerances["calibration"] == 0.10
    # B=100 at 1.12x is inside ±15% for ray-batched on a cluster; B=10 at 1.31x is not
    assert {row.label for row in rep.failed} == DIFFERING - {"ray-batched B=100"}
    assert "cluster: embedded (original) vs existing (now)" in rep.environment
    assert not any(line.startswith("lease_candidates") for line in rep.environment)  # neither file records it
    drift["cluster"]["lease_placement"] = {"fewest_candidates": 5, "nodes": 5, "cpu_nodes": 3}
    compose.write_text(json.dumps(drift))
    rep = repro.reproduction_table(load(BASE), load(compose))
    assert "lease_candidates: not recorded (original) vs 5 (now)" in rep.environment
    base = json.loads(BASE.read_text())
    drift["cluster"]["earlier_jobs"] = 1
    compose.write_text(json.dumps(drift))
    rep = repro.reproduction_table(load(BASE), load(compose))
    assert not any(line.startswith("driver jobs") for line in rep.environment)  # only the new file records it
    base["cluster"]["earlier_jobs"] = 0
    (tmp_path / "base.json").write_text(json.dumps(base))
    rep = repro.reproduction_table(load(tmp_path / "base.json"), load(compose))
    assert "driver jobs the cluster had run before: 0 (original) vs 1 (now)" in rep.environment
    loose = repro.reproduction_table(load(BASE), load(DRIFT), tolerance=0.40)
    assert loose.reproduced and set(loose.tolerances.values()) == {0.40}
    with pytest.raises(UsageError, match="fraction"):
        repro.reproduction_table(load(BASE), load(DRIFT), tolerance=10)


def test_wrong_answers_and_missing_rows_do_not_reproduce(tmp_path):
    data = json.loads(WITHIN.read_text())
    data["runs"][0]["correct"] = False
    del data["runs"][-1]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    rep = repro.reproduction_table(load(BASE), load(other))
    status = {row.label: row.status for row in rep.rows}
    assert status["sequential"] == "wrong" and status["ray-auto"] == "missing"
    assert not rep.reproduced and len(rep.failed) == 2


def test_cli_exit_codes(capsys, tmp_path):
    assert main(["repro", str(BASE), str(WITHIN)]) is None  # exit 0
    out = capsys.readouterr().out
    assert "rows: 10 of 10 reproduced, 0 differ, 0 can't tell" in out and "rule: a row reproduces" in out
    assert out.index("claims (") < out.index("rule: ")  # the claims are judged first

    code, captured = _exit_code(["repro", str(BASE), str(DRIFT)], capsys)
    assert code == 1
    assert "differs: 1.3" in captured.out and "rows: 7 of 10 reproduced, 2 differ, 1 can't tell" in captured.out
    assert captured.err.strip().splitlines() == [captured.err.strip()] and captured.err.startswith("bench: error: ")

    not_json = tmp_path / "broken.json"
    not_json.write_text('{"schema_version": 1, "runs": [')
    wrong_schema = tmp_path / "schema.json"
    wrong_schema.write_text(json.dumps({"schema_version": 1, "runs": []}))
    for bad in (tmp_path / "missing.json", not_json, wrong_schema):
        for argv in (["repro", str(bad)], ["repro", str(BASE), str(bad)]):
            code, captured = _exit_code(argv, capsys)
            assert code == 2, argv
            lines = captured.err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("bench: error: ") and str(bad) in lines[0]
            assert captured.out == ""
    # a results file from before configs were recorded cannot be re-run exactly
    code, captured = _exit_code(["repro", str(BASE)], capsys)
    assert code == 2 and "records no run configuration" in captured.err


def test_rerun_repeats_the_recorded_config_and_records_the_verdict(tmp_path, capsys):
    """A Ray-free suite end to end: the re-run uses the file's parameters, and the exit code is the table's verdict."""
    original = tmp_path / "orig.json"
    main(["run", "--suite", "quick", "--modes", "sequential", "--queries", "3000", "--trials", "4",
          "--seed", "7", "--out", str(original), "--quiet"])
    new = tmp_path / "new.json"
    try:
        main(["repro", str(original), "--out", str(new), "--quiet"])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr().out
    a, b = load(original), load(new)
    for key in ("suite", "modes", "queries", "array_size", "value_range", "seed", "trials"):
        assert b.config[key] == a.config[key], key
    assert b.workload["reference_checksum"] == a.workload["reference_checksum"]
    recorded = json.loads(new.read_text())["metadata"]["repro"]
    rep = repro.reproduction_table(a, b)
    assert recorded["reproduced"] == rep.reproduced and rep.summary() in out
    assert recorded["rows"] == rep.to_dict()["rows"] and "summary" not in recorded  # figures, no prose
    assert recorded["tolerances"]["sequential"] == 0.10 and recorded["original"] == str(original)
    assert code == (0 if rep.reproduced else 1 if rep.failed else 3)
    # the output path is never overwritten
    code, captured = _exit_code(["repro", str(original), "--out", str(new)], capsys)
    assert code == 2 and "already exists" in captured.err


def test_report_shows_the_reproduction_table(tmp_path):
    out = tmp_path / "index.html"
    write_report([str(BASE), str(DRIFT)], out=str(out), charts=False)
    html = out.read_text()
    assert 'id="g0-repro"' in html
    section = html[html.index('id="g0-repro"'):]
    assert "2 differ, 1 can&#39;t tell" in section or "2 differ, 1 can't tell" in section
    assert section.count('data-status="differs"') == 2
    assert section.count('data-status="cant-tell"') == 1
    assert section.count('data-status="reproduced"') == 7
    assert f"<code>python -m bench repro {BASE} {DRIFT}</code>" in section  # the same table in a terminal
    # files of different sizes are a scaling comparison, not a reproduction: no table
    scaling = tmp_path / "scaling.html"
    write_report([str(FIXTURES / "heavy-1cpu.json"), str(FIXTURES / "heavy-2cpu.json")], out=str(scaling), charts=False)
    assert "-repro" not in scaling.read_text().split("<section")[0]
    # a file with an injected fault (make chaos, chaos-sweep) is not a re-run of anything
    data = json.loads(DRIFT.read_text())
    data["runs"][0]["faults"] = [{"event": "docker kill", "target": "w1", "unix": 1.0}]
    faulted = tmp_path / "faulted.json"
    faulted.write_text(json.dumps(data))
    chaos = tmp_path / "chaos.html"
    write_report([str(BASE), str(faulted)], out=str(chaos), charts=False)
    assert 'id="g0-repro"' not in chaos.read_text()


def test_reproduce_block_names_the_repro_command(tmp_path):
    out = tmp_path / "index.html"
    heavy = FIXTURES / "heavy-1cpu.json"  # records its run configuration
    write_report([str(heavy), str(BASE)], out=str(out), charts=False)
    html = out.read_text()
    assert f"python -m bench repro {heavy}\n" in html
    assert "make repro FILE=results/heavy-1cpu.json" in html
    # a file from before configs were recorded: re-run by hand, then compare the two files
    assert f"python -m bench repro {BASE} NEW.json" in html


def _with(tmp_path, name, edit):
    data = json.loads((FIXTURES / "heavy-2cpu.json").read_text())  # records its run configuration
    edit(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return load(path)


def test_rerun_options_repeat_the_recorded_parameters(tmp_path):
    from bench.engine.suites import build_config

    def as_run(data):
        data["metadata"]["command_line"] = "python -m bench run --suite heavy --num-cpus 2"
        data["config"].update(trials=5, mystery_knob=3)  # 5: the heavy suite's default

    res = _with(tmp_path, "a.json", as_run)
    options, notes = rerun.rerun_options(res)
    config = build_config(**options)
    recorded = res.config
    assert config.describe()["seed"] == recorded["seed"] and list(config.modes) == list(recorded["modes"])
    assert (config.queries, config.array_size, config.value_range) == (
        recorded["queries"], recorded["array_size"], recorded["value_range"])
    assert list(config.batch_sizes) == list(recorded["batch_sizes"]) and config.num_cpus == 2
    assert options["trials"] is None  # left to the suite, as the original did
    assert build_config(**{**options, "trials": None}).trials == 5
    assert notes[0] == "recorded parameter mystery_knob=3 is not an option of this bench; not re-applied"
    # a file from before --placement ran its Ray tasks by Ray's default placement: so does its re-run
    assert config.placement == "default" and "predates --placement" in notes[1] and len(notes) == 2

    def given(data):
        data["metadata"]["command_line"] = "python -m bench run --suite heavy --trials 5"
        data["config"]["trials"] = 5

    assert rerun.rerun_options(_with(tmp_path, "b.json", given))[0]["trials"] == 5
    # a default that differs from the suite's today (changed since) is passed as recorded
    assert rerun.rerun_options(_with(tmp_path, "c.json", lambda d: d["config"].update(trials=3)))[0]["trials"] == 3


def test_rerun_options_on_a_cluster(tmp_path):
    def compose(data):
        data["config"].update(address="auto", expect_nodes=3, num_cpus=None, placement="affinity")
        data["cluster"]["mode"] = "existing"

    res = _with(tmp_path, "e.json", compose)
    options, notes = rerun.rerun_options(res)
    assert options["address"] == "auto" and options["expect_nodes"] == 3 and not notes
    local, local_notes = rerun.rerun_options(_with(tmp_path, "d.json", lambda d: d["config"].update(placement="default")),
                                             address="auto")
    assert local["placement"] == "default" and options["placement"] == "affinity"  # as recorded
    assert local["address"] == "auto" and "num_cpus" not in local  # --num-cpus is embedded-only
    assert local["expect_nodes"] is None and not local_notes
    with pytest.raises(UsageError, match="address"):
        rerun.rerun_options(res, address="not-an-address")


FAKE_COMPOSE = """#!/bin/sh
# stands in for `docker compose`: logs each call, and writes --out like `bench repro` would
echo "$*" >> "$LOG"
prev=; for a in "$@"; do [ "$prev" = --out ] && case "$a" in results/*) : > "$RES/${a#results/}";; esac; prev=$a; done
case "$*" in *"bench repro results/$FAIL"*) exit 1;; esac
exit 0
"""


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_repro_picks_the_newest_file_then_its_heavy_partner(tmp_path):
    from docker_helpers import clean_env, make

    results, bin_dir, log = tmp_path / "results", tmp_path / "bin", tmp_path / "compose.log"
    results.mkdir()
    bin_dir.mkdir()
    names = ["standard-1.json", "standard-2.json", "standard-2-heavy.json", "chaos-3.json",
             "standard-2-repro-4.json"]  # oldest first
    for age, name in enumerate(reversed(names)):
        (results / name).write_text("{}")
        os.utime(results / name, (1e9 - age * 100, 1e9 - age * 100))
    # two workers and a bench container, healthy; `docker inspect` of the image gives its id
    (bin_dir / "docker").write_text(
        '#!/bin/sh\ncase "$*" in *"service=ray-worker"*) echo w0; echo w1;; *"ps "*) echo bench0;;\n'
        '  *State.Status*) echo "running healthy";; *) echo sha256:test;; esac\n')
    (bin_dir / "compose").write_text(FAKE_COMPOSE)
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = clean_env(PATH=f"{bin_dir}:{os.environ['PATH']}", LOG=str(log), RES=str(results), FAIL="standard-2-heavy")
    args = ["repro", "BENCH_CONTAINER=fake", f"COMPOSE={bin_dir / 'compose'}", f"RESULTS_DIR={results}"]

    proc = make(*args, timeout=60, env=env)
    calls = log.read_text().splitlines()
    # the cluster is restarted, fresh, with its worker count, before the first re-run
    ups = [i for i, c in enumerate(calls) if c.startswith("up -d")]
    assert len(ups) == 1 and "--force-recreate" in calls[ups[0]] and "--scale ray-worker=2" in calls[ups[0]]
    repros = [c for c in calls if " bench repro " in c]
    assert ups[0] < calls.index(repros[0])
    assert [c.split(" bench repro ")[1].split()[0] for c in repros] == ["results/standard-2.json",
                                                                       "results/standard-2-heavy.json"]
    assert all("--address auto" in c and "--out results/standard-2" in c and "-repro-" in c for c in repros)
    report = [c for c in calls if " bench report " in c]
    assert len(report) == 1 and report[0].count("results/") == 4 and "reports/repro/index.html" in report[0]
    assert proc.returncode != 0  # the heavy file did not reproduce: make fails, after rendering the report

    log.unlink()
    proc = make(*args, "FILE=results/standard-1.json", "TOLERANCE=0.2", timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert [c for c in log.read_text().splitlines() if " bench repro " in c][0].split(" bench repro ")[1].startswith(
        "results/standard-1.json --out results/standard-1-repro-")
    assert "--tolerance 0.2" in log.read_text()

    proc = make(*args, "FILE=results/nope.json", timeout=60, env=env)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("make: ***")]
    assert proc.returncode != 0 and len(lines) == 1 and "nope.json: no such file" in lines[0]


def _scaled(tmp_path, factor, exceptions=None):
    """BASE with every response time (and no-op task time) times factor; exceptions: label -> factor."""
    data = json.loads(BASE.read_text())
    exceptions = exceptions or {}
    for run in data["runs"]:
        scale = exceptions.get(run["label"], factor)
        run["samples"]["response_s"] = [t * scale for t in run["samples"]["response_s"]]
    calibration = data["cluster"]["calibration"]
    calibration["samples"]["tasks_per_s"] = [r / factor for r in calibration["samples"]["tasks_per_s"]]
    path = tmp_path / f"scaled-{factor}.json"
    path.write_text(json.dumps(data))
    return load(path)


def test_a_whole_run_shift_is_named_and_rows_that_differ_beyond_it_are_picked_out(tmp_path):
    rep = repro.reproduction_table(load(BASE), _scaled(tmp_path, 1.2, {"ray-batched B=100": 1.6}))
    assert not rep.reproduced  # named, never excused: every row still differs beyond ±10%
    shift = rep.shift
    assert shift.named and shift.factor == pytest.approx(1.2, rel=1e-6)
    assert shift.slower == shift.rows == len(rep.counted)
    assert shift.beyond_shift == ("ray-batched B=100",)  # 1.6 / 1.2 = 1.33: its own difference
    assert dict(shift.witnesses) == pytest.approx({"sequential": 1.2, "calibration: time per no-op task": 1.2})
    line = shift.line()
    assert line.startswith("whole-run shift: the new run took 1.20× the original's time throughout")
    assert "the machine changed between the runs" in line and "ray-batched B=100" in line
    assert rep.to_dict()["shift"]["named"] is True
    assert "CPU steal" not in line  # neither file recorded the host's CPU


def test_the_shift_names_the_hosts_cpu_steal_when_both_files_recorded_it(tmp_path):
    def with_steal(res, share):
        return res.with_cluster(host_cpu={"measured_rounds": {"window_s": 60.0, "busy_cores": 1.0,
                                                                "steal_cores": 2 * share, "steal_share": share}})
    rep = repro.reproduction_table(with_steal(load(BASE), 0.001), with_steal(_scaled(tmp_path, 1.2), 0.15))
    assert rep.steal == (0.001, 0.15)
    assert "CPU steal 0.1% → 15.0% of the host" in rep.shift.line()
    assert repro.reproduction_table(with_steal(load(BASE), 0.001), _scaled(tmp_path, 1.2)).steal is None


def test_no_shift_is_named_when_only_some_rows_moved_or_all_moved_a_little(tmp_path):
    drift = repro.reproduction_table(load(BASE), load(DRIFT)).shift
    assert not drift.named and drift.factor == pytest.approx(1.0, abs=0.02)
    assert set(drift.beyond_shift) == DRIFTED  # the rows that differ are the drifted ones, shift or not
    assert drift.line().startswith("whole-run shift: none (median ratio 1.0")
    small = repro.reproduction_table(load(BASE), load(WITHIN)).shift
    assert not small.named and small.factor == pytest.approx(1.04, rel=0.01)  # under 5%: not a shift
    faster = repro.reproduction_table(load(BASE), _scaled(tmp_path, 0.8)).shift
    assert faster.named and faster.slower == 0 and "rows faster" in faster.line()
    assert "every row is within its tolerance of the shift" in faster.line()


def _probed(tmp_path, path, name, slow_rows=None):
    """path's results with each run in its own round (row i in round 2i+1, so no two rows share a
    mark) and a machine probe of 20 ms at every mark, times slow_rows[label] around that row's round."""
    data = json.loads(Path(path).read_text())
    slow_rows = slow_rows or {}
    marks = [0.020] * (2 * len(data["runs"]) + 1)
    for i, run in enumerate(data["runs"]):
        run["trial_rounds"] = [2 * i + 1] * len(run["samples"]["response_s"])
        marks[2 * i] = marks[2 * i + 1] = 0.020 * slow_rows.get(run["label"], 1.0)
    data["cluster"]["host_cpu"] = {"probe": {"method": "test", "probe_s": marks}}
    out = tmp_path / name
    out.write_text(json.dumps(data))
    return load(out)


def test_the_machine_probe_says_which_differing_rows_the_machine_explains(tmp_path):
    b10_ratio = _median(DRIFT, "ray-batched B=10") / _median(BASE, "ray-batched B=10")
    base = _probed(tmp_path, BASE, "base.json")
    drift = _probed(tmp_path, DRIFT, "drift.json", {"ray-batched B=10": b10_ratio})
    rep = repro.reproduction_table(base, drift)
    assert {row.label for row in rep.failed} == DIFFERING  # the verdict is unchanged: explained, not excused
    machine = {row.label: row.machine for row in rep.rows}
    assert machine["ray-batched B=10"] == pytest.approx(b10_ratio)
    assert machine["ray-batched B=100"] == pytest.approx(1.0)
    assert machine["calibration: time per no-op task"] == pytest.approx(1.0)  # before round 1: the first mark
    line = rep.machine_line()
    assert line.startswith("machine probe (a fixed CPU loop timed around every round, new/original): 1.00× over the run")
    assert f"ray-batched B=10 {b10_ratio:.2f}× with the machine at {b10_ratio:.2f}× (the machine explains it)" in line
    b100_ratio = _median(DRIFT, "ray-batched B=100") / _median(BASE, "ray-batched B=100")
    assert f"ray-batched B=100 {b100_ratio:.2f}× with the machine at 1.00× (not the machine: it held or moved the other way)" in line
    assert rep.to_dict()["machine_probe"]["rows"]["ray-batched B=10"] == pytest.approx(b10_ratio)
    assert repro.reproduction_table(load(BASE), load(DRIFT)).machine_line() is None  # files without a probe


@pytest.mark.parametrize("ratio, machine, reading", [
    (1.12, 1.10, "the machine explains it"),
    (0.87, 0.90, "the machine explains it"),
    # 1.12 / 1.03 is within ±10%, but a 3% slower machine is a quarter of a 12% move
    (1.12, 1.03, "the machine explains part of it: 1.09× with the machine divided out"),
    (1.30, 1.12, "the machine explains part of it: 1.16× with the machine divided out"),
    (1.12, 1.40, "the machine moved more than the row: 0.80× with the machine divided out"),
    (1.12, 0.97, "not the machine: it held or moved the other way"),
    (1.12, 1.00, "not the machine: it held or moved the other way"),
])
def test_the_machine_explains_a_row_only_when_it_moved_as_much(ratio, machine, reading):
    row = repro.ReproRow("naive", "ray-naive", "differs", "", 0.10, ratio=ratio, machine=machine)
    assert repro.machine_reading(row) == reading



def _with_calibration(tmp_path, name, calibration, probe_s=None):
    data = json.loads(BASE.read_text())
    data["cluster"]["calibration"] = calibration
    if probe_s:
        data["cluster"]["host_cpu"] = {"probe": {"method": "test", "probe_s": probe_s}}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return load(path)


def test_calibrations_pair_like_with_like_and_their_probe_is_the_rounds_they_followed(tmp_path):
    rates = [1000.0, 1010.0, 990.0]
    block = {"samples": {"tasks_per_s": rates}}
    slower = [r / 1.5 for r in rates]  # the batches after the rounds, 1.5x the time per task
    interleaved = {"samples": {"tasks_per_s": slower}, "trial_rounds": [1, 2, 3], "before_rounds": block}
    old_style = _with_calibration(tmp_path, "old", block)
    new_style = _with_calibration(tmp_path, "new", interleaved, probe_s=[1.0, 1.0, 2.0, 2.0])
    label = repro.CALIBRATION_NOOP_LABEL

    # a file with only the block before the rounds pairs with the re-run's block, not its rounds
    row = next(r for r in repro.reproduction_table(old_style, new_style).rows if r.label == label)
    assert row.ratio == pytest.approx(1.0)
    # two interleaved files pair their in-round figures
    original = _with_calibration(tmp_path, "orig", {**interleaved, "samples": {"tasks_per_s": rates}},
                                 probe_s=[1.0, 1.0, 1.0, 1.0])
    row = next(r for r in repro.reproduction_table(original, new_style).rows if r.label == label)
    assert row.ratio == pytest.approx(1.5) and row.status == "cant-tell"  # 3 vs 3 trials: the test cannot decide
    # the machine around the rounds the batches followed (marks 1-3: 1.0, 2.0, 2.0), not the first mark
    run = next(r for r in repro.calibration_runs(new_style) if r.label == label)
    assert repro.machine_speed(new_style, run) == pytest.approx(1.5)
    assert repro.machine_speed(new_style, repro.calibration_runs(new_style, block=True)[0]) == pytest.approx(1.0)


def test_a_row_with_wrong_answers_gets_no_machine_reading():
    """Wrong answers are not a speed: the machine probe never 'explains' such a row."""
    wrong = repro.ReproRow("naive", "ray-naive", "wrong", "wrong answers in the new run", 0.10, ratio=1.01, machine=1.05)
    slow = repro.ReproRow("B=10", "ray-batched", "differs", "differs", 0.15, ratio=1.30, machine=1.25)
    line = repro.Reproduction((wrong, slow), {}, machine=1.02).machine_line()
    assert "naive" not in line and "B=10 1.30× with the machine at 1.25× (the machine explains it)" in line


def test_a_rerun_is_judged_against_the_new_file_not_the_original_itself(tmp_path, monkeypatch, capsys):
    """The re-run writes a file 1.5x slower on sequential: the verdict must see it (a re-run
    compared with its own original would call it reproduced)."""
    original = tmp_path / "orig.json"
    main(["run", "--suite", "quick", "--modes", "sequential", "--queries", "2000", "--trials", "6",
          "--seed", "7", "--out", str(original), "--quiet"])

    def slower_run(config, out, force=False, argv=None, on_done=None):
        data = json.loads(original.read_text())
        for run in data["runs"]:
            run["samples"]["response_s"] = [t * 1.5 for t in run["samples"]["response_s"]]
        Path(out).write_text(json.dumps(data))
        return None, Path(out)

    monkeypatch.setattr(rerun, "run_benchmark", slower_run)
    new = tmp_path / "new.json"
    code, captured = _exit_code(["repro", str(original), "--out", str(new), "--quiet"], capsys)
    assert code == 1 and "differs: 1.50×" in captured.out
    row = next(r for r in json.loads(new.read_text())["metadata"]["repro"]["rows"] if r["label"] == "sequential")
    assert row["status"] == "differs" and row["ratio"] == pytest.approx(1.5)


# --- bench.rerun in detail (issue 25: every branch of the re-run's options, file and output) ---

HEAVY = FIXTURES / "heavy-2cpu.json"  # records its run configuration: heavy suite, seed 42, 2 CPUs, embedded


@pytest.mark.parametrize("command_line, given", [
    (None, None), ("", None),
    ('python -m bench run --suite "heavy', None),  # not parseable: cannot be told
    ("python -m bench repro a.json --trials 5", None),  # not a `bench run`: its options are elsewhere
    ("python -m bench run --suite heavy --trials 5", True),
    ("python -m bench run --trials=5", True),
    ("python -m bench run --suite heavy", False),
    ("python -m bench run --trialsx 5 --num-trials 3", False),
])
def test_flag_given_reads_the_recorded_command_line(command_line, given):
    assert rerun._flag_given(command_line, "trials") is given


def test_flag_given_accepts_both_spellings_of_an_option():
    assert rerun._flag_given("bench run --batch-sizes 10,100", "batch_sizes") is True
    assert rerun._flag_given("bench run --batch_sizes 10", "batch_sizes") is True
    assert rerun._flag_given("bench run --batch_sizes=10", "batch_sizes") is True
    assert rerun._flag_given("bench run --naive-tasks 10", "batch_sizes") is False


def _heavy(tmp_path, name="orig.json", edit=None):
    data = json.loads(HEAVY.read_text())
    if edit:
        edit(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_recorded_trials_repeat_a_reruns_own_and_leave_the_suites_default_to_the_suite(tmp_path):
    def res(name, trials, command_line=None, repro=None, suite="heavy"):
        def edit(data):
            data["config"].update(trials=trials, suite=suite)
            data["metadata"]["command_line"] = command_line
            if repro is not None:
                data["metadata"]["repro"] = repro
        return load(_heavy(tmp_path, name, edit))

    def trials(r):
        return rerun._recorded_trials(r.config, r)

    # a re-run repeats what it was itself given, even "left to the suite" (None)
    assert trials(res("a", 5, repro={"options": {"trials": 7}})) == 7
    assert trials(res("b", 5, "bench run --trials 5", repro={"options": {"trials": None}})) is None
    # a repro record without options, or without trials in them: judged as an original
    assert trials(res("c", 5, "bench run --suite heavy", repro={"original": "x"})) is None
    assert trials(res("d", 5, "bench run --suite heavy", repro={"options": {"seed": 1}})) is None
    # the heavy suite's default, 5: given on the command line or not
    assert trials(res("e", 5, "bench run --suite heavy --trials 5")) == 5
    assert trials(res("f", 5, "bench run --suite heavy")) is None
    assert trials(res("g", 5, None)) is None  # no command line: the suite decides
    # not the suite's default today, or no suite to ask: as recorded
    assert trials(res("h", 4, "bench run --suite heavy")) == 4
    assert trials(res("i", None, "bench run --suite heavy")) is None
    assert trials(res("j", 5, "bench run", suite="no-such-suite")) == 5


def test_rerun_options_refuse_a_file_without_a_recorded_configuration(tmp_path):
    for name, edit in (("none.json", lambda d: d.pop("config")),
                       ("rebuilt.json", lambda d: d["config"].update(reconstructed_from="runs"))):
        with pytest.raises(UsageError) as info:
            rerun.rerun_options(load(_heavy(tmp_path, name, edit)))
        assert str(info.value) == (
            "the results file records no run configuration (written before bench recorded one); it cannot be re-run "
            "exactly: run the suite again and compare with 'bench repro A.json B.json'")


def test_rerun_options_translate_the_recorded_config_into_options(tmp_path):
    def edit(data):
        data["config"].update(placement="affinity", order=["x"], gc="off", extra_budget_s=12.5, target_cv=0.07)
    options, notes = rerun.rerun_options(load(_heavy(tmp_path, "o.json", edit)), quiet=True)
    assert notes == []  # order and gc are outcomes the runner records: not options, not noted
    assert "order" not in options and "gc" not in options and "extra_budget_s" not in options
    assert options["budget"] == 12.5 and options["target_cv"] == 0.07  # extra_budget_s is set by --budget
    assert options["modes"] == ["sequential", "numpy", "multiprocessing", "ray-batched", "ray-auto"]
    assert type(options["modes"]) is list and options["batch_sizes"] == [100, 1000]
    assert type(options["batch_sizes"]) is list
    assert options["naive_tasks"] is None  # recorded [] (the suite's): not an option value
    assert options["num_cpus"] == 2 and options["address"] is None and options["expect_nodes"] is None
    assert options["placement"] == "affinity" and options["quiet"] is True
    assert options["seed"] == 42 and options["suite"] == "heavy"
    assert rerun.rerun_options(load(_heavy(tmp_path, "p.json", edit)))[0]["quiet"] is False


def test_rerun_options_placement_of_a_file_from_before_the_option(tmp_path):
    options, notes = rerun.rerun_options(load(_heavy(tmp_path, "ray.json")))
    assert options["placement"] == "default"
    assert notes == ["the original predates --placement: its Ray tasks went where Ray's default placement sent "
                     "them, and so do this re-run's (--placement default)"]
    # no Ray mode, no placement recorded: left to today's default, nothing to note
    options, notes = rerun.rerun_options(load(_heavy(tmp_path, "seq.json", lambda d: d["config"].update(
        modes=["sequential"], placement=None))))
    assert "placement" not in options and notes == []


def test_rerun_options_of_a_cluster_run_rerun_embedded_or_on_a_cluster(tmp_path):
    def on_cluster(data):
        data["config"].update(address="auto", placement="affinity", num_cpus=None)
        data["cluster"]["mode"] = "existing"
        node = data["cluster"]["nodes"][0]
        data["cluster"]["nodes"] = [dict(node, cpus=0.0), dict(node, cpus=4.0), dict(node, cpus=4.0),
                                    dict(node, cpus=4.0, alive=False)]
    res = load(_heavy(tmp_path, "c.json", on_cluster))
    options, notes = rerun.rerun_options(res)
    assert options["address"] == "auto" and options["expect_nodes"] == 2 and notes == []  # the alive CPU nodes
    assert "num_cpus" not in options
    options, notes = rerun.rerun_options(res, address="10.0.0.1:6379")
    assert options["address"] == "10.0.0.1:6379" and options["expect_nodes"] == 2
    # a cluster run whose file records no address (the cluster mode alone says so): re-run embedded
    def no_address(data):
        on_cluster(data)
        data["config"]["address"] = None
    options, notes = rerun.rerun_options(load(_heavy(tmp_path, "e.json", no_address)))
    assert options["address"] is None and options["expect_nodes"] is None and "num_cpus" in options
    assert notes == ["the original ran on a cluster (2 CPU node(s)); this re-run is embedded (give --address to "
                     "join a cluster)"]

    def nodes_unknown(data):
        no_address(data)
        data["cluster"]["nodes"] = []
        data["config"]["expect_nodes"] = 3
    options, notes = rerun.rerun_options(load(_heavy(tmp_path, "u.json", nodes_unknown)))
    assert notes == ["the original ran on a cluster (? CPU node(s)); this re-run is embedded (give --address to "
                     "join a cluster)"]
    assert options["expect_nodes"] is None  # nodes to wait for: an option of a cluster run only


def test_an_embedded_original_rerun_on_a_cluster_waits_for_no_node_count(tmp_path):
    res = load(_heavy(tmp_path, "e.json"))
    options, notes = rerun.rerun_options(res, address="auto")
    assert options["address"] == "auto" and options["expect_nodes"] is None and "num_cpus" not in options
    assert not any("ran on a cluster" in n for n in notes)
    expect = load(_heavy(tmp_path, "x.json", lambda d: d["config"].update(expect_nodes=4)))
    assert rerun.rerun_options(expect, address="auto")[0]["expect_nodes"] == 4  # as recorded


def test_default_out_is_next_to_the_original_stamped_with_the_utc_time(tmp_path):
    import calendar
    import re
    import time

    before = int(time.time())
    out = rerun.default_out(tmp_path / "standard-1.json")
    after = time.time()
    assert out.parent == tmp_path
    match = re.fullmatch(r"standard-1-repro-(\d{8}T\d{6}Z)\.json", out.name)
    assert match, out.name
    stamp = calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%SZ"))
    assert before <= stamp <= after


def _fake_run_benchmark(calls, wrong=(), fail=None, write=True, extra=None):
    """Stands in for run_benchmark: writes the original's runs again to out (the labels in wrong
    with wrong answers)."""
    def run_benchmark(config, out, force=False, argv=None, on_done=None):
        calls.append({"config": config, "out": out, "force": force, "argv": argv, "on_done": on_done})
        if write:
            data = json.loads(HEAVY.read_text())
            for run in data["runs"]:
                run["correct"] = run["label"] not in wrong
            data.update(extra or {})
            Path(out).write_text(json.dumps(data))
        if fail is not None:
            raise fail
        return None, Path(out)
    return run_benchmark


def test_repro_run_reruns_the_recorded_suite_and_records_the_verdict_in_the_new_file(tmp_path, monkeypatch, capsys):
    import io

    from bench.report.summary import print_summary

    calls = []
    monkeypatch.setattr(rerun, "run_benchmark", _fake_run_benchmark(calls, extra={"future_field": {"kept": 1}}))
    original, new = _heavy(tmp_path), tmp_path / "new.json"
    stream = io.StringIO()
    rep = rerun.repro_run(str(original), out=str(new), quiet=True, argv=["repro", "x"], stream=stream)
    assert rep.reproduced and rep.summary().startswith("reproduced: ")
    assert len(calls) == 1
    call = calls[0]
    assert call["out"] == str(new) and call["force"] is False and call["argv"] == ["repro", "x"]
    assert call["on_done"] is print_summary
    assert call["config"].seed == 42 and call["config"].num_cpus == 2 and call["config"].placement == "default"
    assert call["config"].quiet is True
    text = stream.getvalue()
    assert text.startswith(f"repro: re-running {original} (heavy suite, seed 42) into {new}\n\noriginal: ")
    assert rep.summary() in text
    assert f"\nnew:      {new} (suite heavy, " in text and f"\noriginal: {original} (suite heavy, " in text
    err = capsys.readouterr().err
    assert "bench: warning: the original predates --placement" in err
    raw = new.read_text()
    assert raw.endswith("}\n") and raw.startswith('{\n "')  # indented by one, one newline at the end
    assert raw == json.dumps(json.loads(raw), indent=1, allow_nan=False) + "\n"
    data = json.loads(raw)
    assert data["future_field"] == {"kept": 1}  # fields this code does not model survive
    recorded = data["metadata"]["repro"]
    options, notes = rerun.rerun_options(load(original))
    assert recorded["original"] == str(original)
    assert recorded["options"] == {k: v for k, v in options.items() if k != "quiet"} and "quiet" not in recorded["options"]
    assert recorded["notes"] == notes and len(notes) == 1
    assert {k: recorded[k] for k in rep.to_dict()} == json.loads(json.dumps(rep.to_dict()))
    assert recorded["reproduced"] is True


def test_the_record_is_strict_json(tmp_path):
    """metadata.repro is written as standard JSON: a NaN anywhere in the file is refused, not written."""
    rep = repro.reproduction_table(load(BASE), load(WITHIN))
    path = tmp_path / "new.json"
    path.write_text('{"metadata": {}, "figure": NaN}')
    with pytest.raises(ValueError):
        rerun._record(path, rep, "orig.json", {}, [])
    assert path.read_text() == '{"metadata": {}, "figure": NaN}'  # left as it was
    path.write_text('{"metadata": {"x": "caf\u00e9"}, "figure": 1.5}')
    rerun._record(path, rep, "orig.json", {"seed": 1}, ["a note"])
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["figure"] == 1.5 and data["metadata"]["x"] == "café"
    assert data["metadata"]["repro"] == {"original": "orig.json", "options": {"seed": 1},
                                         **json.loads(json.dumps(rep.to_dict())), "notes": ["a note"]}


def test_repro_run_without_out_writes_next_to_the_original_and_prints_to_stdout(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(rerun, "run_benchmark", _fake_run_benchmark(calls))
    original = _heavy(tmp_path, "heavy-1.json")
    rerun.repro_run(original, tolerance="0.3", address="auto")
    assert calls[0]["config"].quiet is False
    out = Path(calls[0]["out"])
    assert out.parent == tmp_path and out.name.startswith("heavy-1-repro-") and out.is_file()
    assert calls[0]["config"].address == "auto"
    captured = capsys.readouterr()
    assert f"repro: re-running {original} (heavy suite, seed 42) into {out}" in captured.out
    assert "original: " in captured.out
    recorded = json.loads(out.read_text())["metadata"]["repro"]
    assert set(recorded["tolerances"].values()) == {0.3}  # the given band, for every row
    assert recorded["options"]["address"] == "auto"


def test_repro_run_checks_everything_before_running(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rerun, "run_benchmark", _fake_run_benchmark(calls))
    original = _heavy(tmp_path)
    with pytest.raises(UsageError, match="tolerance"):
        rerun.repro_run(str(original), out=str(tmp_path / "a.json"), tolerance=2)
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    with pytest.raises(UsageError, match="already exists"):
        rerun.repro_run(str(original), out=str(taken))
    with pytest.raises(UsageError, match="address"):
        rerun.repro_run(str(original), out=str(tmp_path / "b.json"), address="nowhere")
    assert calls == [] and not (tmp_path / "a.json").exists()
    rerun.repro_run(str(original), out=str(taken), force=True, stream=open(os.devnull, "w"))
    assert calls[0]["force"] is True and json.loads(taken.read_text())["metadata"]["repro"]["reproduced"] is True


def test_repro_run_of_an_incomplete_original_says_so(tmp_path, monkeypatch, capsys):
    import io

    calls = []
    monkeypatch.setattr(rerun, "run_benchmark", _fake_run_benchmark(calls))
    original = _heavy(tmp_path, edit=lambda d: d.update(status="incomplete", incomplete_reason="interrupted"))
    new = tmp_path / "new.json"
    rerun.repro_run(str(original), out=str(new), stream=io.StringIO())
    note = "the original is incomplete (interrupted): its missing runs cannot be compared"
    assert f"bench: warning: {note}\n" in capsys.readouterr().err
    assert json.loads(new.read_text())["metadata"]["repro"]["notes"][-1] == note


def test_repro_run_judges_a_new_file_with_wrong_answers_then_raises_its_failure(tmp_path, monkeypatch):
    import io

    from bench.errors import RuntimeFailure

    failure = RuntimeFailure("1 run gave wrong answers")
    calls = []
    monkeypatch.setattr(rerun, "run_benchmark", _fake_run_benchmark(calls, fail=failure))
    new, stream = tmp_path / "new.json", io.StringIO()
    with pytest.raises(RuntimeFailure) as info:
        rerun.repro_run(str(_heavy(tmp_path)), out=str(new), stream=stream)
    assert info.value is failure
    assert "metadata" in json.loads(new.read_text()) and "repro" in json.loads(new.read_text())["metadata"]
    assert "original: " in stream.getvalue()  # the table is printed before the failure is raised
    # no file written: nothing to judge, the failure goes up at once
    lost = RuntimeFailure("head node lost")
    monkeypatch.setattr(rerun, "run_benchmark", _fake_run_benchmark(calls, fail=lost, write=False))
    stream = io.StringIO()
    with pytest.raises(RuntimeFailure) as info:
        rerun.repro_run(str(_heavy(tmp_path, "o2.json")), out=str(tmp_path / "none.json"), stream=stream)
    assert info.value is lost and not (tmp_path / "none.json").exists()
    assert "original: " not in stream.getvalue()


def test_repro_run_raises_not_reproduced_when_a_row_does_not_reproduce(tmp_path, monkeypatch):
    import io

    calls = []
    monkeypatch.setattr(rerun, "run_benchmark", _fake_run_benchmark(calls, wrong={"sequential"}))
    new, stream = tmp_path / "new.json", io.StringIO()
    with pytest.raises(repro.NotReproduced, match="sequential"):
        rerun.repro_run(str(_heavy(tmp_path)), out=str(new), stream=stream)
    recorded = json.loads(new.read_text())["metadata"]["repro"]
    assert recorded["reproduced"] is False
    assert next(r for r in recorded["rows"] if r["label"] == "sequential")["status"] == "wrong"
    assert "original: " in stream.getvalue()  # the table is printed before the verdict is raised


# --- bench.analysis.repro in detail (issue 25: each verdict's boundary, text and record) ---

def _r(label, samples, mode="sequential", correct=True, params=None, **extra):
    from bench.results import Run

    return Run(mode=mode, label=label, params=params or {}, samples={"response_s": tuple(samples)}, stats={},
               correct=correct, extra=extra)


def test_check_tolerance_is_a_fraction_or_none():
    assert repro.check_tolerance(None) is None
    assert repro.check_tolerance("0.2") == 0.2 and repro.check_tolerance(0.05) == 0.05
    with pytest.raises(UsageError, match=r"^--tolerance must be a fraction"):
        repro.check_tolerance(1.5)


def test_on_cluster_by_the_cluster_mode_or_a_recorded_address(tmp_path):
    def res(name, mode, address):
        def edit(data):
            data["cluster"]["mode"] = mode
            data["config"]["address"] = address
        return load(_heavy(tmp_path, name, edit))

    assert repro._on_cluster(res("a", "existing", None)) is True
    assert repro._on_cluster(res("b", "embedded", "auto")) is True
    assert repro._on_cluster(res("c", "embedded", None)) is False
    assert repro._on_cluster(res("d", "embedded", "")) is False


def test_tolerance_table_per_mode_embedded_on_a_cluster_and_given(tmp_path):
    from bench import mode_table

    embedded = load(_heavy(tmp_path, "e.json"))
    cluster = load(_heavy(tmp_path, "c.json", lambda d: d["cluster"].update(mode="existing")))
    modes = set(mode_table.names()) | {"calibration"}
    assert repro.tolerance_table(embedded, embedded) == {m: 0.10 for m in modes}
    wide = {m: 0.15 if m in ("ray-batched", "ray-auto") else 0.10 for m in modes}
    assert repro.tolerance_table(embedded, cluster) == wide  # either file on a cluster
    assert repro.tolerance_table(cluster, embedded) == wide
    given = repro.tolerance_table(cluster, embedded, 0.25)
    assert given == {m: 0.25 for m in modes} and all(type(v) is float for v in given.values())
    assert repro.tolerance_table(embedded, embedded, 1)["sequential"] == 1.0


def test_repro_row_counts_ok_and_raw_ratio():
    def row(status, **kw):
        return repro.ReproRow("x", "sequential", status, "", 0.1, **kw)

    assert [row(s).counts for s in ("reproduced", "extra", "missing")] == [True, False, True]
    assert [row(s).ok for s in ("reproduced", "extra", "cant-tell", "differs", "wrong", "missing", "no-samples")] == [
        True, True, True, False, False, False, False]
    assert row("differs", ratio=1.5, factor=2.0).raw_ratio == 3.0
    assert row("differs", ratio=1.5).raw_ratio == 1.5
    assert row("no-samples").raw_ratio is None
    defaults = row("reproduced")
    assert (defaults.n_a, defaults.n_b, defaults.factor, defaults.reason, defaults.more_trials) == (0, 0, 1.0, "", None)


def test_judge_within_the_band_reproduces_with_the_band_edge_inclusive():
    a = _r("seq", [1.0, 1.0, 1.0])
    row = repro._judge(a, _r("seq", [1.1, 1.1, 1.1]), 0.10, 0.05)  # 1.1/1.0 - 1 is 0.1 plus a rounding error
    assert row.status == "reproduced" and row.verdict == "reproduced within 10%"
    assert (row.label, row.mode, row.tolerance, row.n_a, row.n_b) == ("seq", "sequential", 0.10, 3, 3)
    assert (row.median_a, row.median_b, row.ratio, row.factor) == (1.0, 1.1, 1.1, 1.0)
    from bench.analysis import compare

    assert row.p_value == compare.mann_whitney_p([1.0] * 3, [1.1] * 3)
    assert row.ci == (1.1, 1.1) and row.reason == "" and row.more_trials is None
    assert repro._judge(a, a, 0.10, 0.05).verdict == "reproduced within 1%"  # at least 1%
    assert repro._judge(a, _r("seq", [1.031] * 3), 0.10, 0.05).verdict == "reproduced within 4%"
    assert repro._judge(a, _r("seq", [0.95] * 3), 0.10, 0.05).verdict == "reproduced within 5%"


def test_judge_divides_the_machine_factor_out_of_the_expected_time():
    row = repro._judge(_r("seq", [1.0, 1.0, 1.0]), _r("seq", [2.0, 2.0, 2.0]), 0.10, 0.05, factor=2.0)
    assert row.status == "reproduced" and row.ratio == 1.0 and row.raw_ratio == 2.0
    assert row.median_a == 1.0 and row.median_b == 2.0 and row.factor == 2.0


def test_judge_wrong_answers_name_the_file_that_has_them():
    ok, bad = _r("seq", [1.0, 1.0]), _r("seq", [1.0, 1.0], correct=False)
    assert repro._judge(bad, ok, 0.1, 0.05).verdict == "wrong answers in the original"
    assert repro._judge(ok, bad, 0.1, 0.05).verdict == "wrong answers in the new run"
    row = repro._judge(bad, bad, 0.1, 0.05)
    assert row.status == "wrong" and row.verdict == "wrong answers in the original and the new run"
    assert repro._judge(ok, _r("seq", [3.0, 3.0], correct=False), 0.1, 0.05).status == "wrong"  # before the ratio


def test_judge_without_samples():
    row = repro._judge(_r("seq", [1.0, 1.0]), _r("seq", []), 0.1, 0.05)
    assert row.status == "no-samples" and row.verdict == "no samples to compare"
    assert row.ratio is None and row.median_b is None and row.n_b == 0 and row.p_value is None
    row = repro._judge(_r("seq", []), _r("seq", [1.0]), 0.1, 0.05)
    assert row.status == "no-samples" and row.median_a is None and row.n_a == 0


def test_judge_per_task_rows_within_the_session_spread_cannot_tell():
    a = [1.0 + i / 1000 for i in range(10)]
    b = [t * 1.15 for t in a]
    row = repro._judge(_r("n", a, mode="ray-naive"), _r("n", b, mode="ray-naive"), 0.10, 0.05)
    assert row.status == "cant-tell" and row.reason == "session" and row.more_trials is None
    assert row.verdict == ("can't tell: 1.15×, within Ray's session-to-session spread on this machine class (±20%), "
                           "which one session per run does not sample")
    # exactly at the spread (a rounding error over it) still can't tell
    edge = repro._judge(_r("n", [1.0] * 10, mode="ray-naive"), _r("n", [1.2] * 10, mode="ray-naive"), 0.10, 0.05)
    assert edge.reason == "session"
    # beyond the spread, or on another machine (the factor is applied), or not per-task: the rank test decides
    for ra, rb, factor in ((_r("n", a, mode="ray-naive"), _r("n", [t * 1.25 for t in a], mode="ray-naive"), 1.0),
                           (_r("n", a, mode="ray-naive"), _r("n", [t * 1.15 * 1.5 for t in a], mode="ray-naive"), 1.5),
                           (_r("n", a), _r("n", b), 1.0)):
        row = repro._judge(ra, rb, 0.10, 0.05, factor)
        assert row.status == "differs" and row.reason == "" and row.verdict.endswith("p < 0.001"), row


def test_judge_differs_only_when_the_rank_test_can_and_does_decide():
    a = [1.0 + i / 1000 for i in range(10)]
    row = repro._judge(_r("s", a), _r("s", [t * 1.5 for t in a]), 0.10, 0.05)
    assert row.status == "differs" and row.verdict == "differs: 1.50×, p < 0.001" and row.more_trials is None
    assert row.p_value < 0.001 and row.ci == pytest.approx((1.5, 1.5), rel=0.01)
    # the same pair against a stricter alpha than its p: can't tell
    strict = repro._judge(_r("s", a), _r("s", [t * 1.5 for t in a]), 0.10, row.p_value)
    assert strict.status == "cant-tell" and "not significant" in strict.verdict


def test_judge_cant_tell_from_noise_says_how_many_trials_would_settle_it():
    from bench.analysis import compare

    a = [1.0, 1.4, 0.8, 1.2, 1.0, 0.9, 1.1, 1.3]
    b = [t * 1.2 for t in [1.0, 0.8, 1.4, 0.9, 1.2, 1.0, 1.1, 0.85]]
    row = repro._judge(_r("s", a), _r("s", b), 0.10, 0.05)
    p = compare.mann_whitney_p(a, b)
    ratio = statistics.median(b) / statistics.median(a)
    more = repro.more_trials_to_settle(ratio, row.ci, 8)
    assert p >= 0.05 and more > 1
    assert row.status == "cant-tell" and row.reason == "noise" and row.more_trials == more
    assert row.verdict == (f"can't tell: {ratio:.2f}×, p = {p:.2g} (not significant; the noise is wider than ±10%; "
                           f"about {more} more trials a side would settle it)")


def test_judge_too_few_trials_for_the_rank_test_asks_for_at_least_enough_for_it():
    a, b = [1.0, 1.01, 0.99], [1.5, 1.52, 1.49]
    row = repro._judge(_r("s", a), _r("s", b), 0.10, 0.05)
    assert row.status == "cant-tell" and row.reason == "noise"
    # 4 trials a side is the fewest that can reach p < 0.05: 1 more than 3 (the interval alone would need fewer)
    assert row.more_trials == 1
    assert row.verdict == ("can't tell: 1.50×, p = 0.1 (3 vs 3 trials: too few for the rank test; the noise is "
                           "wider than ±10%; about 1 more trial a side would settle it)")
    # with 1 trial a side there is no interval: the rank test's minimum alone (4 - 1)
    one = repro._judge(_r("s", [1.0]), _r("s", [1.5]), 0.10, 0.05)
    assert one.more_trials == 3 and one.ci is None and "1 vs 1 trials" in one.verdict
    assert one.verdict.endswith("; about 3 more trials a side would settle it)")
    # a wide interval needs more than the rank test's minimum: the larger figure
    wide_a, wide_b = [1.0, 2.0, 0.5], [1.5, 3.0, 0.75]
    wide = repro._judge(_r("s", wide_a), _r("s", wide_b), 0.10, 0.05)
    assert wide.more_trials == repro.more_trials_to_settle(1.5, wide.ci, 3) > 1


def test_judge_cant_tell_without_a_trial_count_says_none():
    # 1 trial against 10 at alpha 0.3: testable (the least p is 2/11), not significant, no interval to scale
    b = [0.5, 0.6, 0.9, 1.2, 1.5, 1.5, 1.6, 1.8, 2.0, 2.5]
    row = repro._judge(_r("s", [1.2]), _r("s", b), 0.10, 0.3)
    assert row.status == "cant-tell" and row.more_trials is None and row.ci is None
    assert row.verdict == "can't tell: 1.25×, p = 0.75 (not significant; the noise is wider than ±10%)"


def test_fmt_p_and_short_reason():
    assert repro._fmt_p(None) == "p = n/a"
    assert repro._fmt_p(0.0009) == "p < 0.001" and repro._fmt_p(0.001) == "p = 0.001"
    assert repro._fmt_p(0.04567) == "p = 0.046"
    differs = repro.ReproRow("b", "ray-batched", "differs", "", 0.1, ratio=1.304)
    assert repro._short_reason(differs) == "1.30×"
    assert repro._short_reason(replace_row(differs, ratio=None)) == "differs"
    assert repro._short_reason(replace_row(differs, status="wrong")) == "wrong"


def replace_row(row, **kw):
    from dataclasses import replace

    return replace(row, **kw)


def test_per_task_rows_are_naive_the_calibration_and_big_batched_sweeps():
    assert repro.per_task_row("ray-naive", {})
    assert repro.per_task_row("calibration", {})
    assert repro.per_task_row("ray-batched", {"tasks": 1000})
    assert not repro.per_task_row("ray-batched", {"tasks": 999})
    assert not repro.per_task_row("ray-batched", {"tasks": None}) and not repro.per_task_row("ray-batched", {})
    assert repro.per_task_row("ray-auto", {"tasks": 5000})
    assert not repro.per_task_row("sequential", {"tasks": 5000}) and not repro.per_task_row("numpy", {"tasks": 10**6})
    assert not repro.per_task_row("no-such-mode", {"tasks": 5000})


def test_more_trials_to_settle_scales_the_interval_as_one_over_root_n():
    import math

    ci = (1.05, 1.25)
    half = (math.log(1.25) - math.log(1.05)) / 2
    expected = math.ceil(10 * (half / math.log(1.2)) ** 2)
    assert repro.more_trials_to_settle(1.2, ci, 10) == max(expected - 10, 1)
    # an interval four times as wide needs sixteen times the trials
    wide = (math.exp(math.log(1.2) - 2.0), math.exp(math.log(1.2) + 2.0))
    assert repro.more_trials_to_settle(1.2, wide, 10) == math.ceil(10 * (2.0 / math.log(1.2)) ** 2) - 10
    assert repro.more_trials_to_settle(0.8, wide, 10) == math.ceil(10 * (2.0 / math.log(1.25)) ** 2) - 10  # |log|
    assert repro.more_trials_to_settle(1.2, (1.1, 1.3), 10) == 1  # already enough: at least one
    for args in ((1.2, None, 10), (1.2, (), 10), (0.0, ci, 10), (-1.0, ci, 10), (1.2, (0.0, 1.3), 10),
                 (1.2, (-0.5, 1.3), 10), (1.2, ci, 1), (1.0, ci, 10)):
        assert repro.more_trials_to_settle(*args) is None, args
    assert repro.more_trials_to_settle(1.2, wide, 2) == math.ceil(2 * (2.0 / math.log(1.2)) ** 2) - 2


def _res_with_calibration(tmp_path, name, calibration, **metadata):
    data = json.loads(BASE.read_text())
    data["cluster"]["calibration"] = calibration
    data["metadata"].update(metadata)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return load(path)


def test_calibration_runs_label_and_invert_each_rate(tmp_path):
    cal = {"samples": {"tasks_per_s": [1000.0, 0, 500.0]}, "trial_rounds": [2, 4],
           "with_naive_args": {"samples": {"tasks_per_s": [250.0]}},
           "before_rounds": {"samples": {"tasks_per_s": [2000.0]}}}
    res = _res_with_calibration(tmp_path, "c", cal)
    assert repro.interleaved_calibration(res)
    runs = repro.calibration_runs(res)
    assert [r.label for r in runs] == [repro.CALIBRATION_NOOP_LABEL,
                                       "calibration: time per no-op task with naive's arguments"]
    noop, naive = runs
    assert noop.mode == naive.mode == "calibration" and noop.correct and dict(noop.params) == {}
    assert tuple(noop.samples["response_s"]) == (0.001, 0.002)  # a zero rate is no sample
    assert tuple(noop.extra["trial_rounds"]) == (2, 4) and tuple(naive.extra["trial_rounds"]) == ()
    assert tuple(naive.samples["response_s"]) == (0.004,)
    block = repro.calibration_runs(res, block=True)
    assert [tuple(r.samples["response_s"]) for r in block] == [(0.0005,), (0.004,)]  # naive's has no block
    assert repro.calibration_runs(_res_with_calibration(tmp_path, "none", {})) == []
    assert not repro.interleaved_calibration(_res_with_calibration(tmp_path, "old", {"samples": {}}))
    old = _res_with_calibration(tmp_path, "old2", {"samples": {"tasks_per_s": [100.0]}, "before_rounds": {}})
    assert tuple(repro.calibration_runs(old, block=True)[0].samples["response_s"]) == (0.01,)  # empty block: its own


def test_code_version_names_the_commit_and_a_dirty_tree(tmp_path):
    assert repro.code_version(_res_with_calibration(tmp_path, "a", {}, git_commit="abc123")) == "abc123"
    assert repro.code_version(_res_with_calibration(tmp_path, "b", {}, git_commit="abc123", git_dirty=True)) == \
        "abc123-dirty"
    assert repro.code_version(_res_with_calibration(tmp_path, "c", {}, git_commit="abc", git_dirty=False)) == "abc"
    assert repro.code_version(_res_with_calibration(tmp_path, "d", {}, git_commit="")) is None
    assert repro.code_version(_res_with_calibration(tmp_path, "e", {}, git_commit=None, git_dirty=True)) is None


def test_reproduction_table_refuses_another_workload_and_pairs_rows_and_calibrations(tmp_path):
    other = json.loads(BASE.read_text())
    other["workload"]["seed"] = 7
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(UsageError, match=r"^not the same workload, nothing to reproduce \(.*seed"):
        repro.reproduction_table(load(BASE), load(tmp_path / "other.json"))

    a = json.loads(BASE.read_text())
    b = json.loads(BASE.read_text())
    a["runs"] = [r for r in a["runs"] if r["label"] != "numpy"]  # only in the new run: extra
    b["runs"] = [r for r in b["runs"] if r["label"] != "ray-auto"]  # only in the original: missing
    a["cluster"]["calibration"]["with_naive_args"] = {"samples": {"tasks_per_s": [100.0, 110.0]}}
    b["metadata"].update(git_commit="new", git_dirty=True)
    a["cluster"]["mode"] = "existing"
    for name, data in (("a.json", a), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(data))
    rep = repro.reproduction_table(load(tmp_path / "a.json"), load(tmp_path / "b.json"), tolerance=None)
    status = {row.label: (row.status, row.tolerance) for row in rep.rows}
    assert status["numpy"] == ("extra", 0.10) and status["ray-auto"] == ("missing", 0.15)
    assert status["calibration: time per no-op task with naive's arguments"] == ("missing", 0.10)
    assert status[repro.CALIBRATION_NOOP_LABEL] == ("reproduced", 0.10)
    assert rep.rows[-1].label == "numpy" and rep.rows[-1].verdict == "only in the new run (not compared)"
    missing = next(row for row in rep.rows if row.label == "ray-auto")
    assert missing.verdict == "missing from the new run" and missing.mode == "ray-auto"
    assert rep.code == ("9932c9e7e676296d641f2efb799ff6accbe3657e", "new-dirty")
    assert rep.items == "lookups" and rep.steal is None and rep.machine is None
    assert rep.rows[0].machine is None
    # the calibration only in the new file is extra, never missing
    rep = repro.reproduction_table(load(tmp_path / "b.json"), load(tmp_path / "a.json"))
    status = {row.label: row.status for row in rep.rows}
    assert status["calibration: time per no-op task with naive's arguments"] == "extra"
    assert len([r for r in rep.rows if r.label == repro.CALIBRATION_NOOP_LABEL]) == 1


def test_reproduction_table_judges_with_the_given_alpha(tmp_path):
    drift = repro.reproduction_table(load(BASE), load(DRIFT), alpha=1e-12)
    assert not drift.failed and {row.label for row in drift.undecided} == DRIFTED  # nothing is significant


def _claim(key, status):
    from bench.analysis import claims

    return claims.ClaimVerdict(key, "x", status, 0.1, 1.0, 1.2, ratio=1.2, ci=(1.1, 1.3), reason="noise")


def _row(label, status, ratio=None, **kw):
    return repro.ReproRow(label, "ray-batched", status, status, 0.1, ratio=ratio, **kw)


def test_summary_names_claims_and_rows_and_the_head_follows_them():
    rows = (_row("R", "reproduced", 1.0), _row("B", "differs", 1.3), _row("W", "wrong", 1.0),
            _row("C", "cant-tell", 1.2), _row("X", "extra"))
    claims = (_claim("k1", "holds"), _claim("k2", "differs"), _claim("k3", "can't tell"))
    rep = repro.Reproduction(rows, {}, claims=claims)
    assert [r.label for r in rep.counted] == ["R", "B", "W", "C"]
    assert [r.label for r in rep.failed] == ["B", "W"] and [r.label for r in rep.undecided] == ["C"]
    assert rep.claims_verdict == "differs" and not rep.reproduced
    assert rep.summary() == ("NOT reproduced: claims: 1 of 3 hold; differ: k2; can't tell: k3; rows: 1 of 4 "
                             "reproduced, 2 differ, 1 can't tell: B (1.30×), W (wrong)")
    ok_rows = (rows[0], rows[3], rows[4])
    unsure = repro.Reproduction(ok_rows, {}, claims=(claims[0], claims[2]))
    assert unsure.summary() == ("can't tell: claims: 1 of 2 hold; can't tell: k3; rows: 1 of 2 reproduced, "
                                "0 differ, 1 can't tell")
    differ = repro.Reproduction(ok_rows, {}, claims=(claims[1],))
    assert differ.summary().startswith("NOT reproduced: claims: 0 of 1 hold; differ: k2; rows: ")
    held = repro.Reproduction(ok_rows, {}, claims=(claims[0],))
    assert held.reproduced and held.summary() == ("reproduced: claims: 1 of 1 hold; rows: 1 of 2 reproduced, "
                                                  "0 differ, 1 can't tell")
    assert not repro.Reproduction(ok_rows, {}).reproduced  # no claims: can't tell
    assert repro.Reproduction(ok_rows, {}).summary().startswith("can't tell: claims: 0 of 0 hold; rows")
    failed_only = repro.Reproduction((rows[2],), {}, claims=(claims[0],))
    assert failed_only.summary().startswith("NOT reproduced: claims: 1 of 1 hold; rows: 0 of 1")
    nothing = repro.Reproduction((rows[4],), {}, claims=(claims[0],))
    assert not nothing.reproduced and nothing.summary() == "NOT reproduced: no rows to compare"


def test_raise_unless_reproduced_names_what_differs_first_three_then_a_count():
    claims = (_claim("k1", "differs"), _claim("k2", "holds"))
    rows = tuple(_row(f"r{i}", "differs", 1.5) for i in range(4)) + (_row("ok", "reproduced", 1.0),)
    with pytest.raises(repro.NotReproduced) as info:
        repro._raise_unless_reproduced(repro.Reproduction(rows, {}, claims=claims))
    assert str(info.value) == "not reproduced: 1 claim(s) and 4 of 5 row(s) differ (claim k1, r0, r1 and 2 more)"
    assert info.value.exit_code == 1
    with pytest.raises(repro.NotReproduced) as info:
        repro._raise_unless_reproduced(repro.Reproduction(rows[:3] + rows[4:], {}, claims=claims[1:]))
    assert str(info.value) == "not reproduced: 0 claim(s) and 3 of 4 row(s) differ (r0, r1, r2)"
    with pytest.raises(repro.NotReproduced) as info:
        repro._raise_unless_reproduced(repro.Reproduction(rows[4:], {}, claims=claims))
    assert str(info.value) == "not reproduced: 1 claim(s) and 0 of 1 row(s) differ (claim k1)"
    with pytest.raises(repro.NotReproduced) as info:
        repro._raise_unless_reproduced(repro.Reproduction((), {}, claims=claims[1:]))
    assert str(info.value) == "not reproduced: 0 claim(s) and 0 of 0 row(s) differ (no rows to compare)"
    with pytest.raises(repro.Undecided) as info:
        repro._raise_unless_reproduced(repro.Reproduction(rows[4:], {}, claims=(claims[1], _claim("k3", "can't tell"))))
    assert str(info.value) == "can't tell: no claim or row differs, but 1 claim(s) cannot be judged (k3)"
    assert info.value.exit_code == 3
    with pytest.raises(repro.Undecided) as info:
        repro._raise_unless_reproduced(repro.Reproduction(rows[4:], {}))
    assert str(info.value) == "can't tell: no claim or row differs, but 0 claim(s) cannot be judged (no claims)"
    assert repro._raise_unless_reproduced(repro.Reproduction(rows[4:], {}, claims=claims[1:])) is None


def test_machine_line_lists_only_rows_that_differ_or_cannot_tell_and_have_a_reading():
    from bench.analysis import machines

    rows = (_row("D", "differs", 1.3, machine=1.25), _row("C", "cant-tell", 1.2, machine=1.0),
            _row("R", "reproduced", 1.05, machine=1.05), _row("N", "differs", 1.3),
            _row("Z", "differs", 0.0, machine=1.1))
    line = repro.Reproduction(rows, {}, machine=1.1).machine_line()
    assert line == ("machine probe (a fixed CPU loop timed around every round, new/original): 1.10× over the run; "
                    "during the rows that differ or can't tell: D 1.30× with the machine at 1.25× (the machine "
                    "explains it); C 1.20× with the machine at 1.00× (not the machine: it held or moved the other way)")
    quiet = repro.Reproduction(rows[2:4], {}, machine=0.9).machine_line()
    assert quiet == "machine probe (a fixed CPU loop timed around every round, new/original): 0.90× over the run"
    assert repro.Reproduction(rows, {}).machine_line() is None
    same = machines.MachineFactors(True, (), 1.0, 1.0, 1.0)
    other = machines.MachineFactors(False, (("cpu_model", "a", "b"),), 1.2, None, None)
    assert repro.Reproduction(rows, {}, machine=1.1, machines=same).machine_line().startswith("machine probe")
    assert repro.Reproduction(rows, {}, machine=1.1, machines=other).machine_line() is None
    assert repro.Reproduction(rows, {}).same_machine and repro.Reproduction(rows, {}, machines=same).same_machine
    assert not repro.Reproduction(rows, {}, machines=other).same_machine


def test_to_dict_records_every_figure_and_outcome():
    from bench.analysis import claims as claims_mod
    from bench.analysis import machines

    rows = (repro.ReproRow("B", "ray-batched", "differs", "differs: 1.30×", 0.15, n_a=5, n_b=5, ratio=1.3,
                           p_value=0.01, ci=(1.2, 1.4), machine=1.02, factor=1.1),
            repro.ReproRow("C", "calibration", "cant-tell", "can't tell", 0.1, ratio=1.2, reason="noise",
                           more_trials=4),
            repro.ReproRow("M", "sequential", "missing", "missing from the new run", 0.1))
    claim = claims_mod.ClaimVerdict("k", "x", "holds", 0.1, 2.0, 2.1, factor=1.05, ratio=1.0, ci=(0.9, 1.1),
                                    reason="")
    unsure = claims_mod.ClaimVerdict("u", "x", "can't tell", 0.2, None, 2.1, reason="missing")
    factors = machines.MachineFactors(False, (("cpu_model", "a", "b"), ("logical_cores", 2, 4)), 1.1, 1.2, None)
    rep = repro.Reproduction(rows, {"ray-batched": 0.15, "sequential": 0.1}, environment=("ray_version: 1 vs 2",),
                             steal=(0.01, 0.2), machine=1.05, claims=(claim, unsure), machines=factors,
                             code=("abc", "def-dirty"))
    shift = rep.shift
    assert rep.to_dict() == {
        "tolerances": {"ray-batched": 0.15, "sequential": 0.1},
        "reproduced": False,
        "claims_verdict": "can't tell",
        "claims": [{"key": "k", "status": "holds", "original": 2.0, "new": 2.1, "factor": 1.05, "ratio": 1.0,
                    "ci": [0.9, 1.1], "tolerance": 0.1, "reason": ""},
                   {"key": "u", "status": "can't tell", "original": None, "new": 2.1, "factor": 1.0, "ratio": None,
                    "ci": None, "tolerance": 0.2, "reason": "missing"}],
        "environment_differences": ["ray_version: 1 vs 2"],
        "same_machine": False,
        "machine_factors": {"python": 1.1, "ray_task": 1.2, "numpy": None,
                            "differences": [["cpu_model", "a", "b"], ["logical_cores", "2", "4"]]},
        "shift": {"factor": shift.factor, "rows": shift.rows, "slower": shift.slower, "named": shift.named,
                  "witnesses": dict(shift.witnesses)},
        "machine_probe": {"ratio": 1.05, "rows": {"B": 1.02}},
        "code": ["abc", "def-dirty"],
        "rows": [{"label": "B", "mode": "ray-batched", "status": "differs", "tolerance": 0.15, "ratio": 1.3,
                  "factor": 1.1, "p_value": 0.01, "ci": [1.2, 1.4], "reason": "", "more_trials": None},
                 {"label": "C", "mode": "calibration", "status": "cant-tell", "tolerance": 0.1, "ratio": 1.2,
                  "factor": 1.0, "p_value": None, "ci": None, "reason": "noise", "more_trials": 4},
                 {"label": "M", "mode": "sequential", "status": "missing", "tolerance": 0.1, "ratio": None,
                  "factor": 1.0, "p_value": None, "ci": None, "reason": "", "more_trials": None}],
    }
    assert rep.shift.rows == 2 and rep.to_dict()["shift"]["witnesses"] == dict(repro.whole_run_shift(
        list(rows), (0.01, 0.2)).witnesses)
    plain = repro.Reproduction((), {}).to_dict()
    assert plain["machine_factors"] is None and plain["same_machine"] is True and plain["code"] == [None, None]
    assert plain["claims_verdict"] == "can't tell" and plain["reproduced"] is False


def test_tolerance_line_groups_modes_by_band_narrowest_first():
    assert repro.tolerance_line({"ray-auto": 0.15, "sequential": 0.1, "ray-batched": 0.15, "numpy": 0.1}) == \
        "tolerance: ±10% sequential, numpy; ±15% ray-auto, ray-batched"
    assert repro.tolerance_line({"a": 0.25}) == "tolerance: ±25% a"


class _FlushLog(io.StringIO):
    """A stream that keeps what had been written at each flush."""

    def __init__(self):
        super().__init__()
        self.flushed = []

    def flush(self):
        self.flushed.append(self.getvalue())
        super().flush()


def test_repro_run_flushes_its_warnings_and_first_line_before_the_long_run(tmp_path, monkeypatch):
    """`bench repro` runs for minutes: what it says first must be out before the run, even through pipes."""
    out, err = _FlushLog(), _FlushLog()
    monkeypatch.setattr(sys, "stderr", err)
    seen = []

    def run_benchmark(config, out_path=None, **kw):
        seen.append((list(out.flushed), list(err.flushed)))
        return _fake_run_benchmark([])(config, kw.pop("out", None) or out_path, **kw)

    monkeypatch.setattr(rerun, "run_benchmark", lambda config, out=None, **kw: run_benchmark(config, out, **kw))
    original, new = _heavy(tmp_path), tmp_path / "new.json"
    rerun.repro_run(str(original), out=str(new), stream=out)
    flushed_out, flushed_err = seen[0]
    assert flushed_out and flushed_out[-1].endswith(f"repro: re-running {original} (heavy suite, seed 42) into {new}\n")
    assert flushed_err and "bench: warning: the original predates --placement" in flushed_err[-1]
    warnings = err.getvalue().count("bench: warning: ")
    assert warnings >= 1 and len(flushed_err) >= warnings  # each warning flushed as it is printed


def test_judge_edges_of_the_band_the_rank_test_and_the_session_spread():
    # a deviation exactly at the band (its float slack included) reproduces
    a, b = _r("s", [1.0, 1.0, 1.0]), _r("s", [1.25, 1.25, 1.25])
    tolerance = 0.25 - 1e-12
    assert tolerance + 1e-12 == 0.25
    assert repro._judge(a, b, tolerance, 0.05).status == "reproduced"
    # 3 trials a side cannot reach p < 0.1 exactly (2 / C(6, 3) = 0.1): too few, not "not significant"
    row = repro._judge(_r("s", [1.0, 1.01, 0.99]), _r("s", [1.5, 1.52, 1.49]), 0.10, 0.1)
    assert "3 vs 3 trials: too few for the rank test" in row.verdict and row.status == "cant-tell"
    # tied samples get an asymptotic p under alpha, but the exact test could not decide with 3 a side
    tied = repro._judge(a, _r("s", [1.5, 1.5, 1.5]), 0.10, 0.05)
    assert tied.p_value < 0.05 and tied.status == "cant-tell" and "too few for the rank test" in tied.verdict
    # a batched row with a per-task count of tasks is a per-task row: within the spread it can't tell
    params = {"tasks": 1000, "batch_size": 2}
    spread = repro._judge(_r("b", [1.0 + i / 1000 for i in range(10)], mode="ray-batched", params=params),
                          _r("b", [1.15 * (1.0 + i / 1000) for i in range(10)], mode="ray-batched", params=params),
                          0.10, 0.05)
    assert spread.status == "cant-tell" and spread.reason == "session"



def test_rerun_options_go_through_every_recorded_key_whatever_its_place(tmp_path):
    from bench.results import Results

    # a record-only key and an unknown one first (load would put them last): the keys after them still count
    data = json.loads(HEAVY.read_text())
    data["config"] = {"order": ["x"], "mystery_knob": 1, **data["config"], "placement": "affinity",
                      "time_budget_s": 60.0}
    options, notes = rerun.rerun_options(Results.from_dict(data))
    assert options["suite"] == "heavy" and options["seed"] == 42 and options["num_cpus"] == 2
    assert notes == ["recorded parameter mystery_knob=1 is not an option of this bench; not re-applied"]
    # a key recorded under an option's own name (not an experiment key) is re-applied as that option
    options, notes = rerun.rerun_options(load(_heavy(tmp_path, "own.json", lambda d: d["config"].update(
        expect_timeout=30, placement="affinity", time_budget_s=60.0))))
    assert options["expect_timeout"] == 30 and notes == []


def test_rerun_options_of_a_config_without_the_newer_keys(tmp_path):
    """Results built from a dict (not through load, which fills the keys added since) lack them."""
    from bench.results import Results

    data = json.loads(HEAVY.read_text())
    for key in ("placement", "num_cpus"):
        data["config"].pop(key, None)
    data["config"]["modes"] = ["sequential"]
    res = Results.from_dict(data)
    assert "placement" not in res.config and "num_cpus" not in res.config
    options, notes = rerun.rerun_options(res, address="auto")
    assert "placement" not in options and "num_cpus" not in options and options["address"] == "auto"
    # no Ray mode: nothing said of the placement; the trials' plan changed since, and that is said
    assert notes == ["the original predates --time-budget: this re-run's measured rounds stop within the suite's "
                     "100 s"]  # heavy keeps its 5 trials a row: no fewer trials to announce


def test_default_out_is_stamped_in_utc_whatever_the_local_zone(tmp_path, monkeypatch):
    import calendar
    import re
    import time

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: a local stamp would be 14 hours ahead
    time.tzset()
    try:
        before = int(time.time())
        out = rerun.default_out(tmp_path / "a.json")
        after = time.time()
    finally:
        monkeypatch.undo()
        time.tzset()
    stamp = calendar.timegm(time.strptime(re.fullmatch(r"a-repro-(\S+)\.json", out.name).group(1), "%Y%m%dT%H%M%SZ"))
    assert before <= stamp <= after


def test_summary_and_the_errors_list_several_claims_comma_separated():
    rows = (_row("R", "reproduced", 1.0),)
    claims = (_claim("d1", "differs"), _claim("d2", "differs"), _claim("u1", "can't tell"), _claim("u2", "can't tell"))
    rep = repro.Reproduction(rows, {}, claims=claims)
    assert rep.summary() == ("NOT reproduced: claims: 0 of 4 hold; differ: d1, d2; can't tell: u1, u2; rows: 1 of 1 "
                             "reproduced, 0 differ, 0 can't tell")
    with pytest.raises(repro.Undecided) as info:
        repro._raise_unless_reproduced(repro.Reproduction(rows, {}, claims=claims[2:]))
    assert str(info.value) == "can't tell: no claim or row differs, but 2 claim(s) cannot be judged (u1, u2)"
    four = tuple(_row(f"r{i}", "differs", 1.5) for i in range(4))
    with pytest.raises(repro.NotReproduced) as info:
        repro._raise_unless_reproduced(repro.Reproduction(four, {}, claims=()))
    assert str(info.value) == "not reproduced: 0 claim(s) and 4 of 4 row(s) differ (r0, r1, r2 and 1 more)"


def test_an_interleaved_original_pairs_its_block_with_a_block_only_rerun(tmp_path):
    rates = [1000.0, 1010.0, 990.0]
    block = {"samples": {"tasks_per_s": rates}}
    interleaved = {"samples": {"tasks_per_s": [r / 1.5 for r in rates]}, "trial_rounds": [1, 2, 3],
                   "before_rounds": block}
    original = _with_calibration(tmp_path, "orig", interleaved)
    rerun_file = _with_calibration(tmp_path, "rerun", block)
    row = next(r for r in repro.reproduction_table(original, rerun_file).rows if r.label == repro.CALIBRATION_NOOP_LABEL)
    assert row.ratio == pytest.approx(1.0)  # the original's block, not its in-round figure (1/1.5)


def test_a_calibration_the_rerun_lacks_is_missing_whatever_its_rows_are_called(tmp_path):
    a = json.loads(BASE.read_text())
    a["cluster"]["calibration"]["with_naive_args"] = {"samples": {"tasks_per_s": [100.0, 110.0]}}
    b = json.loads(BASE.read_text())
    naive_label = "calibration: time per no-op task with naive's arguments"
    next(r for r in b["runs"] if r["label"] == "sequential")["label"] = naive_label  # same run, another label
    for name, data in (("a.json", a), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(data))
    rep = repro.reproduction_table(load(tmp_path / "a.json"), load(tmp_path / "b.json"))
    missing = [row for row in rep.rows if row.status == "missing"]
    assert [(row.label, row.mode) for row in missing] == [(naive_label, "calibration")]


def test_rows_of_a_mode_this_bench_does_not_know_get_the_default_band(tmp_path):
    """A file from a newer bench may hold a mode the table lacks: its rows are judged at ±10%."""
    def rename(path, name, drop=None):
        data = json.loads(path.read_text())
        for run in data["runs"]:
            if run["label"] == "sequential":
                run["mode"] = "future-mode"
        data["runs"] = [r for r in data["runs"] if r["label"] != drop]
        data["cluster"]["mode"] = "existing"
        (tmp_path / name).write_text(json.dumps(data))
        return load(tmp_path / name)

    rep = repro.reproduction_table(rename(BASE, "a.json", drop="numpy"), rename(WITHIN, "b.json", drop="ray-auto"))
    rows = {row.label: row for row in rep.rows}
    assert "future-mode" not in rep.tolerances
    assert (rows["sequential"].mode, rows["sequential"].status, rows["sequential"].tolerance) == (
        "future-mode", "reproduced", 0.10)
    assert (rows["numpy"].mode, rows["numpy"].status, rows["numpy"].tolerance) == ("numpy", "extra", 0.10)
    # on a cluster the batched modes' wider band holds for their rows, extra and missing ones too
    assert (rows["ray-auto"].mode, rows["ray-auto"].status, rows["ray-auto"].tolerance) == ("ray-auto", "missing", 0.15)
    rep = repro.reproduction_table(rename(BASE, "c.json", drop="ray-auto"), rename(WITHIN, "d.json"))
    extra = next(row for row in rep.rows if row.label == "ray-auto")
    assert (extra.mode, extra.status, extra.tolerance) == ("ray-auto", "extra", 0.15)
    # a row of the unknown mode that only one file has: the default band as well
    rep = repro.reproduction_table(rename(BASE, "e.json"), load(WITHIN))
    assert {row.tolerance for row in rep.rows if row.mode == "future-mode"} == {0.10}
    rep = repro.reproduction_table(load(BASE), rename(WITHIN, "f.json"))
    assert {row.tolerance for row in rep.rows if row.mode == "future-mode"} == {0.10}


def test_a_user_workloads_reproduction_counts_items(tmp_path):
    def as_function(name, path):
        data = json.loads(path.read_text())
        data["workload"].update(kind="function", function="mymod:work")
        (tmp_path / name).write_text(json.dumps(data))
        return load(tmp_path / name)

    rep = repro.reproduction_table(as_function("a.json", BASE), as_function("b.json", WITHIN))
    assert rep.items == "items"
