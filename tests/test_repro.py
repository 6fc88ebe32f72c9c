"""`bench repro`: verdicts per row on constructed fixture pairs, exit codes, the re-run path, the report.

repro-within / repro-drift are scaled copies of compare-same (tests/fixtures/make_repro_fixtures.py):
every row 1.04x, and B=10 1.31x, B=100 1.12x, calibration rate 0.8x respectively.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
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
