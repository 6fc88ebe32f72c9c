"""Makefile input checks, ordering and stale-image handling, against fake docker/compose;
no Docker engine needed."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from docker_helpers import REPO, clean_env, make

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


FAKE_COMPOSE = """#!/bin/sh
# Logs every call with the autorun switch it was given; answers `version` as Compose v2.
echo "BENCH_AUTORUN=${BENCH_AUTORUN:-unset} $*" >> "$FAKE_LOG"
[ "$1" = version ] && echo 2.40.3
# bench's own exit status where a test gives one: the suites, and bench repro per file
case "$*" in
  *"-m bench suites"*) exit "${FAKE_SUITES_RC:-0}" ;;
  *"-m bench repro"*-heavy.json*) exit "${FAKE_HEAVY_REPRO_RC:-0}" ;;
  *"-m bench repro"*) exit "${FAKE_REPRO_RC:-0}" ;;
esac
exit 0
"""


@pytest.mark.parametrize("workers", ["0", "abc", "", "-1", "2.5", "1000"])
def test_up_refuses_bad_worker_counts_with_one_line(workers, tmp_path):
    fake, log = _fake(tmp_path, "compose", FAKE_COMPOSE)
    proc = make("up", f"WORKERS={workers}", f"COMPOSE={fake}", f"RESULTS_DIR={tmp_path / 'res'}", timeout=60,
                env=clean_env(COMPOSE_PROJECT_NAME="raybenchnever", FAKE_LOG=str(log)))
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "WORKERS" in lines[0] and f"'{workers}'" in lines[0]
    assert log.read_text() == "" and not (tmp_path / "res").exists(), "refused before any side effect"


def test_bench_refuses_an_unknown_suite():
    proc = make("bench", "SUITE=huge", timeout=60)
    assert proc.returncode != 0
    assert [l for l in proc.stderr.splitlines() if l.strip()] == [
        l for l in proc.stderr.splitlines() if "SUITE must be quick, standard, full, heavy or stress" in l]


FAKE_UP_DOCKER = """#!/bin/sh
# No image yet (`image inspect` of $FAKE_IMAGE fails); one bench container, healthy.
echo "docker $*" >> "$FAKE_LOG"
case "$1 $2" in
  "image inspect") for last; do :; done; [ "$last" = "$FAKE_IMAGE" ] && exit 1 ;;
  "ps -aq") echo bench0 ;;
  "inspect -f") echo "running healthy" ;;
esac
exit 0
"""


@pytest.mark.parametrize("version", ["2.40.3", "1.29.2"])
def test_up_builds_the_image_before_compose_needs_it_and_turns_the_autorun_off(version, tmp_path):
    # `make up` once ran the token step (a `docker run IMAGE`) before the image existed.
    docker, log = _fake(tmp_path, "docker", FAKE_UP_DOCKER)
    compose, _ = _fake(tmp_path, "compose", FAKE_COMPOSE.replace("2.40.3", version))
    # Both fakes log to one file, in call order.
    env = clean_env(PATH=f"{docker.parent}:{os.environ['PATH']}", COMPOSE_PROJECT_NAME="raybenchnever",
                    FAKE_LOG=str(log), FAKE_IMAGE="bench-test:x")
    proc = make("up", "WORKERS=2", "IMAGE=bench-test:x", f"COMPOSE={compose}", f"RESULTS_DIR={tmp_path / 'res'}",
                f"REPORTS_DIR={tmp_path / 'rep'}", timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    build = next(i for i, c in enumerate(calls) if c.startswith("docker build "))
    ups = [i for i, c in enumerate(calls) if " up -d " in c]
    assert len(ups) == 1 and build < ups[0] and "--scale ray-worker=2" in calls[ups[0]]
    assert calls[ups[0]].startswith("BENCH_AUTORUN=0 ")
    # not `up --wait` (it sees the health only at the engine's next check, 30 s apart): polled, v1 and v2 alike
    assert "--wait" not in calls[ups[0]]
    assert any(c.startswith("docker ps -aq") for c in calls[ups[0]:])
    assert not [c for c in calls if c.startswith("docker run") or " run " in c]
    assert "up: 2 CPU nodes alive after" in proc.stdout


FAKE_STARTING_DOCKER = """#!/bin/sh
# The bench container in state $FAKE_STATE (default running), its engine health check not yet
# run; its own check (the compose file's), asked by `docker exec`, fails $FAKE_FAILS times (the
# driver has not joined) and then passes.
echo "docker $*" >> "$FAKE_LOG"
case "$1 $2" in
  "ps -aq") echo bench0 ;;
  "inspect -f") case "$3" in
      *Healthcheck*) echo '{"Test":["CMD","/usr/local/bin/healthcheck.sh","driver"],"Interval":30000000000}' ;;
      *) echo "${FAKE_STATE:-running} starting" ;; esac ;;
  "exec bench0") n=$(cat "$FAKE_LOG.fails" 2>/dev/null || echo 0); echo $((n + 1)) > "$FAKE_LOG.fails"
    [ "$n" -ge "${FAKE_FAILS:-1}" ] && exit 0; echo "no raylet yet" >&2; exit 1 ;;
esac
exit 0
"""


def _up_while_starting(tmp_path, timeout_s=60, **fake):
    docker, log = _fake(tmp_path, "docker", FAKE_STARTING_DOCKER)
    compose, _ = _fake(tmp_path, "compose", FAKE_COMPOSE)
    env = clean_env(PATH=f"{docker.parent}:{os.environ['PATH']}", COMPOSE_PROJECT_NAME="raybenchnever",
                    FAKE_LOG=str(log), FAKE_IMAGE="bench-test:x", **fake)
    proc = make("up", "WORKERS=2", "IMAGE=bench-test:x", f"COMPOSE={compose}", f"RESULTS_DIR={tmp_path / 'res'}",
                f"REPORTS_DIR={tmp_path / 'rep'}", f"UP_TIMEOUT={timeout_s}", timeout=60, env=env)
    return proc, log.read_text().splitlines()


def test_up_asks_the_health_check_itself_rather_than_wait_for_the_engines_next_one(tmp_path):
    """The engine checks every 10 s; `make up` runs the container's own check every second and
    goes on once it passes, though the engine still says 'starting'."""
    proc, calls = _up_while_starting(tmp_path)
    assert proc.returncode == 0, proc.stderr
    checks = [i for i, c in enumerate(calls) if c == "docker exec bench0 /usr/local/bin/healthcheck.sh driver"]
    waits = [i for i, c in enumerate(calls) if "wait_nodes.py" in c]
    assert len(checks) == 2 and waits and checks[-1] < waits[0]  # failed once, passed, then the node count
    assert "up: 2 CPU nodes alive after" in proc.stdout


def test_up_gives_up_at_its_timeout_saying_what_the_health_check_said(tmp_path):
    proc, calls = _up_while_starting(tmp_path, timeout_s=1, FAKE_FAILS="1000")
    assert proc.returncode != 0 and not [c for c in calls if "wait_nodes.py" in c]
    assert "error: bench not healthy after 1 s (its health check exited 1: no raylet yet); see 'make logs'" \
        in proc.stderr


def test_up_stops_at_once_when_the_bench_container_exited(tmp_path):
    proc, calls = _up_while_starting(tmp_path, FAKE_STATE="exited")
    assert proc.returncode != 0 and "error: bench container bench0 is 'exited starting'; see 'make logs'" in proc.stderr
    assert not [c for c in calls if c.startswith("docker exec")]


def test_make_calls_the_appliance_script_which_never_calls_make():
    """One direction (issue 26): a target calls scripts/appliance.py; the script runs docker,
    compose and bench, never a sub-make, and no target calls make again."""
    script = (REPO / "scripts" / "appliance.py").read_text()
    assert not re.search(r"[\[(\s]\"make\"|\bmake\(|subprocess\.\w+\(\s*\[?\s*\"make", script)
    makefile = (REPO / "Makefile").read_text()
    recipes = [line for line in makefile.splitlines()
               if line.startswith("\t") and "@echo" not in line and "$(error" not in line]
    assert "$(MAKE)" not in makefile and not [line for line in recipes if re.search(r"\bmake ", line)]


def test_bare_relative_paths_reach_compose_as_absolute_paths():
    # Compose would read `out/res` (no ./) as a named volume and refuse to start.
    proc = make("-n", "dirs", "RESULTS_DIR=out/res", timeout=60,
                env=clean_env(COMPOSE_PROJECT_NAME="raybenchnever"))
    assert proc.returncode == 0, proc.stderr
    assert f'dirs "{REPO}/out/res" ' in proc.stdout


FAKE_DOCKER = """#!/bin/sh
# Logs every call; `image inspect` of $FAKE_IMAGE answers $FAKE_LABELS (or fails if unset).
echo "$*" >> "$FAKE_LOG"
if [ "$1 $2" = "image inspect" ]; then
  for last; do :; done
  if [ "$last" = "$FAKE_IMAGE" ]; then
    [ -n "${FAKE_LABELS+set}" ] || exit 1
    printf '%s\\n' "$FAKE_LABELS"
  fi
fi
exit 0
"""


def _fake(tmp_path, name, text):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / name
    fake.write_text(text)
    fake.chmod(0o755)
    log = tmp_path / f"{name}.log"
    log.write_text("")
    return fake, log


def _image_sources_copy(tmp_path):
    """The files the image is built from, in a scratch checkout we may edit."""
    work = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("bench", "templates"):
        shutil.copytree(REPO / name, work / name, ignore=ignore)
    for folder in ("docker", "requirements", "scripts"):
        (work / folder).mkdir(parents=True)
    for name in ("Makefile", "scripts/appliance.py", "Dockerfile", "pyproject.toml", "requirements/runtime.lock",
                 "docker/entrypoint.sh", "docker/healthcheck.sh", "docker/wait_nodes.py"):
        shutil.copy2(REPO / name, work / name)
    return work


def _ensure_image(work, tmp_path, labels):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "docker"
    fake.write_text(FAKE_DOCKER)
    fake.chmod(0o755)
    log = tmp_path / "docker.log"
    log.write_text("")
    env = clean_env(PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_LOG=str(log), FAKE_IMAGE="bench-test:x")
    if labels is not None:
        env["FAKE_LABELS"] = labels
    proc = subprocess.run(["make", "--no-print-directory", "ensure-image", "IMAGE=bench-test:x"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    builds = [line for line in log.read_text().splitlines() if line.startswith("build ")]
    return builds, proc.stdout


def test_stale_image_is_rebuilt_and_a_current_one_is_kept(tmp_path):
    work = _image_sources_copy(tmp_path)
    # Missing: built, labelled with the sources' hash.
    builds, _ = _ensure_image(work, tmp_path, labels=None)
    assert len(builds) == 1
    current = re.search(r"--label bench.source-hash=(\w+)", builds[0]).group(1)
    # Built by this Makefile from these sources: kept.
    assert _ensure_image(work, tmp_path, f"ray-granularity-bench {current}")[0] == []
    # Built before source hashes were recorded, or from other sources: rebuilt, and said so.
    for labels in ("ray-granularity-bench ", "ray-granularity-bench 0123456789abcdef"):
        builds, out = _ensure_image(work, tmp_path, labels)
        assert len(builds) == 1 and "built from other sources" in out
    # An image from elsewhere (not our Dockerfile): used as it is.
    assert _ensure_image(work, tmp_path, "")[0] == []
    # Editing a module the image copies makes the image stale.
    module = work / "bench" / "engine" / "workload.py"
    module.write_text(module.read_text() + "\n# edited\n")
    builds, _ = _ensure_image(work, tmp_path, f"ray-granularity-bench {current}")
    assert len(builds) == 1
    assert re.search(r"--label bench.source-hash=(\w+)", builds[0]).group(1) != current


def test_unhashable_sources_refuse_to_guess_whether_the_image_is_stale(tmp_path):
    work = _image_sources_copy(tmp_path)
    (work / "templates").rename(work / "templates-moved")
    proc = subprocess.run(["make", "--no-print-directory", "ensure-image", "IMAGE=bench-test:x"], cwd=work,
                          env=clean_env(PATH=f"/nonexistent:{os.environ['PATH']}"), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    assert "cannot hash the image's sources" in proc.stderr


FAKE_CLUSTER_DOCKER = """#!/bin/sh
# A running cluster of $FAKE_WORKERS workers whose containers carry $FAKE_RUNNING_LABELS;
# the image on disk carries $FAKE_IMAGE_LABELS.
echo "$*" >> "$FAKE_LOG"
case "$1 $2" in
  "image inspect") printf '%s\\n' "$FAKE_IMAGE_LABELS" ;;
  "ps -q") if [ -n "$FAKE_DOWN" ] && ! grep -q "up -d" "$FAKE_LOG"; then exit 0; fi  # nothing runs before an up
    case "$*" in
      *service=ray-worker*) n=$(grep -o 'ray-worker=[0-9]*' "$FAKE_LOG" | tail -n 1 | cut -d= -f2)  # as scaled
        i=0; while [ $i -lt "${n:-$FAKE_WORKERS}" ]; do echo "w$i"; i=$((i+1)); done ;;
      *service=bench*) if grep -q "up -d" "$FAKE_LOG"; then echo bench1; else echo bench0; fi ;;
    esac ;;
  "ps -aq") echo bench1 ;;  # the health poll after the up
  "inspect -f") case "$3" in *bench.source-hash*) printf '%s\\n' "$FAKE_RUNNING_LABELS" ;;
      *State.Status*) echo "running healthy" ;;
      *) case "$4" in bench1) echo sha256:new ;; *) echo sha256:fake ;; esac ;; esac ;;
esac
exit 0
"""


def _report(tmp_path, running_labels):
    work = _image_sources_copy(tmp_path)
    current = subprocess.run(["make", "-s", "--no-print-directory", "--eval", "h: ; @echo $(SOURCE_HASH)", "h"],
                             cwd=work, capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    docker, _ = _fake(tmp_path, "docker", FAKE_CLUSTER_DOCKER)
    compose, log = _fake(tmp_path, "compose", FAKE_COMPOSE)
    # Both fakes log to one file, in call order.
    env = clean_env(PATH=f"{docker.parent}:{os.environ['PATH']}", FAKE_LOG=str(log), FAKE_WORKERS="2",
                    FAKE_IMAGE_LABELS=f"ray-granularity-bench {current}",
                    FAKE_RUNNING_LABELS=running_labels.format(current=current), COMPOSE_PROJECT_NAME="rbfake")
    proc = subprocess.run(["make", "--no-print-directory", "report", "NO_HEAVY=1", "NAME=r", f"COMPOSE={compose}",
                           f"RESULTS_DIR={tmp_path / 'res'}", f"REPORTS_DIR={tmp_path / 'rep'}"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    return proc, log.read_text().splitlines()


def test_report_recreates_a_running_cluster_whose_image_is_stale(tmp_path):
    proc, calls = _report(tmp_path, "ray-granularity-bench 0123456789abcdef")
    assert proc.returncode == 0, proc.stderr
    assert "restarting the running cluster (2 workers): its image was built from other sources" in proc.stdout
    ups = [c for c in calls if " up -d" in c]
    assert len(ups) == 1 and "--scale ray-worker=2" in ups[0] and "--force-recreate" in ups[0]
    assert ups[0].startswith("BENCH_AUTORUN=0 "), "make's own up must not start a competing automatic run"
    assert any("bench suites standard --name r" in c for c in calls)


def test_report_restarts_a_current_running_cluster_so_every_run_starts_fresh(tmp_path):
    """A cluster's later driver sessions measured naive Ray 5-8% slower than its first: the
    report's suite starts on a new cluster (new containers) with the running worker count."""
    proc, calls = _report(tmp_path, "ray-granularity-bench {current}")
    assert proc.returncode == 0, proc.stderr
    assert "restarting the running cluster (2 workers): each measured run starts on a fresh cluster" in proc.stdout
    ups = [i for i, c in enumerate(calls) if " up -d" in c]
    runs = [i for i, c in enumerate(calls) if "bench suites standard --name r" in c and "--expect-nodes 2" in c]
    assert len(ups) == 1 and "--force-recreate" in calls[ups[0]] and "--scale ray-worker=2" in calls[ups[0]]
    # the containers thrown away get 2 s to stop, not Compose's 10 (a worker whose head had gone sat it out)
    assert "--force-recreate --timeout 2" in calls[ups[0]]
    assert runs and ups[0] < runs[0]


def test_repro_restarts_the_cluster_before_the_re_run(tmp_path):
    work = _image_sources_copy(tmp_path)
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "r.json").write_text("{}")
    docker, _ = _fake(tmp_path, "docker", FAKE_CLUSTER_DOCKER)
    compose, log = _fake(tmp_path, "compose", FAKE_COMPOSE)
    env = clean_env(PATH=f"{docker.parent}:{os.environ['PATH']}", FAKE_LOG=str(log), FAKE_WORKERS="3",
                    FAKE_IMAGE_LABELS="x", FAKE_RUNNING_LABELS="x", COMPOSE_PROJECT_NAME="rbfake")
    proc = subprocess.run(["make", "--no-print-directory", "repro", "FILE=results/r.json", f"COMPOSE={compose}",
                           f"RESULTS_DIR={tmp_path / 'res'}", f"REPORTS_DIR={tmp_path / 'rep'}"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "repro: restarting the cluster (3 workers)" in proc.stdout
    calls = log.read_text().splitlines()
    ups = [i for i, c in enumerate(calls) if " up -d" in c]
    reruns = [i for i, c in enumerate(calls) if "bench repro results/r.json" in c]
    assert len(ups) == 1 and "--force-recreate" in calls[ups[0]] and "--scale ray-worker=3" in calls[ups[0]]
    # the recreated container (a new id) is the one whose image the re-run records
    assert reruns and ups[0] < reruns[0] and "BENCH_IMAGE_ID=sha256:new" in calls[reruns[0]]
    # an automatic run in the old container is waited for before the restart
    waits = [i for i, c in enumerate(calls) if c.startswith("exec bench0 sh -c") and "autorun" in c]
    assert waits and waits[0] < ups[0]


def _cluster_make(tmp_path, *args, results=None, **fake_env):
    """make ARGS in a scratch checkout against the fake cluster (FAKE_WORKERS running workers unless FAKE_DOWN)."""
    work = tmp_path / "checkout" if (tmp_path / "checkout").exists() else _image_sources_copy(tmp_path)
    (tmp_path / "res").mkdir(exist_ok=True)
    for name, data in (results or {}).items():
        (tmp_path / "res" / name).write_text(json.dumps(data))
    docker, _ = _fake(tmp_path, "docker", FAKE_CLUSTER_DOCKER)
    compose, log = _fake(tmp_path, "compose", FAKE_COMPOSE)
    env = clean_env(PATH=f"{docker.parent}:{os.environ['PATH']}", FAKE_LOG=str(log), COMPOSE_PROJECT_NAME="rbfake",
                    **{"FAKE_WORKERS": "2", "FAKE_IMAGE_LABELS": "x", "FAKE_RUNNING_LABELS": "x", **fake_env})
    proc = subprocess.run(["make", "--no-print-directory", *args, f"COMPOSE={compose}", f"RESULTS_DIR={tmp_path / 'res'}",
                           f"REPORTS_DIR={tmp_path / 'rep'}"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120)
    return proc, log.read_text().splitlines()


def _cluster_results(workers):
    nodes = [{"is_head": True, "cpus": 0, "alive": True}] + [{"cpus": 1, "alive": True}] * workers
    return {"cluster": {"mode": "existing", "nodes": nodes + [{"cpus": 0, "alive": True}]}, "config": {"address": "auto"}}


def test_repro_starts_the_cluster_it_needs_when_none_is_running(tmp_path):
    proc, calls = _cluster_make(tmp_path, "repro", "FILE=results/r.json", results={"r.json": _cluster_results(2)},
                                FAKE_DOWN="1")
    assert proc.returncode == 0, proc.stderr
    assert "repro: starting the cluster (2 workers)" in proc.stdout
    ups = [i for i, c in enumerate(calls) if " up -d" in c]
    reruns = [i for i, c in enumerate(calls) if "bench repro results/r.json" in c]
    assert len(ups) == 1 and "--scale ray-worker=2" in calls[ups[0]] and reruns and ups[0] < reruns[0]


def test_repro_uses_the_files_worker_count_and_refuses_another_in_one_line(tmp_path):
    results = {"r.json": _cluster_results(2)}
    proc, calls = _cluster_make(tmp_path, "repro", "FILE=results/r.json", results=results, FAKE_WORKERS="3")
    assert proc.returncode == 0, proc.stderr
    assert [c for c in calls if " up -d" in c and "--scale ray-worker=2" in c], "the file's 2 workers, not the running 3"
    proc, calls = _cluster_make(tmp_path, "repro", "FILE=results/r.json", "WORKERS=3", results=results)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("make: ***")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "recorded on 2 worker(s), and WORKERS=3" in lines[0]
    assert not [c for c in calls if " up -d" in c], "refused before touching the cluster"


@pytest.mark.parametrize("standard, heavy, ends", [(1, 3, 1), (3, 1, 1), (0, 3, 3), (2, 3, 2), (3, 0, 3),
                                                   (0, 0, 0)])
def test_repro_over_two_files_ends_with_the_most_telling_status_not_the_largest(tmp_path, standard, heavy, ends):
    """The standard file differs (1), its heavy partner can't tell (3): max() ended make repro on
    'Error 3', which the README reads as 'nothing differs'."""
    results = {"r.json": _cluster_results(2), "r-heavy.json": _cluster_results(2)}
    proc, calls = _cluster_make(tmp_path, "repro", "FILE=results/r.json", results=results,
                                FAKE_REPRO_RC=str(standard), FAKE_HEAVY_REPRO_RC=str(heavy))
    assert len([c for c in calls if "-m bench repro" in c]) == 2
    assert proc.returncode == (2 if ends else 0), proc.stderr
    assert (f"Error {ends}" in proc.stderr) if ends else "Error" not in proc.stderr


def test_an_unexpected_status_goes_before_bench_repros_own_and_a_signal_reads_as_a_shell_gives_it(tmp_path):
    import sys
    sys.path.insert(0, str(REPO / "scripts"))
    from appliance import call, most_telling

    assert most_telling(3, 130) == 130 and most_telling(1, 137) == 137  # interrupted, killed: never hidden
    assert most_telling(0, 0) == 0 and most_telling(2, 1) == 1
    killed = tmp_path / "killed.sh"
    killed.write_text("#!/bin/sh\nkill -TERM $$\n")
    killed.chmod(0o755)
    assert call([str(killed)]) == 128 + 15  # not -15, which make would show as 241


def test_report_ends_with_the_suites_own_status(tmp_path):
    """make report's last line carries bench's status: 2 for bad input (a results name that
    exists), 1 for a failure; it used to turn every failure into 1."""
    for rc in ("2", "1"):
        proc, _ = _cluster_make(tmp_path, "report", "NO_HEAVY=1", "NAME=r", FAKE_SUITES_RC=rc)
        assert proc.returncode == 2 and f"Error {rc}" in proc.stderr, proc.stderr


def test_report_names_its_files_after_its_own_suite_not_the_suite_set_for_make_bench(tmp_path):
    """.env's SUITE is make bench's; make report runs standard (and heavy), and its files were
    named after .env's SUITE (quick-<utc>.json holding the standard suite)."""
    proc, calls = _cluster_make(tmp_path, "report", "NO_HEAVY=1", SUITE="quick")
    assert proc.returncode == 0, proc.stderr
    runs = [c for c in calls if "-m bench suites" in c]
    assert len(runs) == 1 and re.search(r"bench suites standard --name standard-\d{8}T\d{6}Z ", runs[0]), runs


def test_repro_of_a_file_outside_results_copies_it_and_its_heavy_partner_in(tmp_path):
    """`make repro FILE=../shared/results/X.json`: the bench container sees only the results
    directory, so the file (and X-heavy.json) is copied there, atomically, and both are re-run."""
    shared = tmp_path / "shared"
    shared.mkdir()
    for name in ("s.json", "s-heavy.json"):
        (shared / name).write_text(json.dumps(_cluster_results(2)))
    proc, calls = _cluster_make(tmp_path, "repro", f"FILE={shared / 's.json'}", FAKE_DOWN="1")
    assert proc.returncode == 0, proc.stderr
    for name in ("s.json", "s-heavy.json"):
        assert (tmp_path / "res" / name).read_bytes() == (shared / name).read_bytes()
        assert [c for c in calls if f"bench repro results/{name}" in c], name
        # its time kept: a shared file never becomes "the newest run" of a later plain make repro
        assert (tmp_path / "res" / name).stat().st_mtime == (shared / name).stat().st_mtime
    assert f"repro: copied {shared / 's.json'} to" in proc.stdout
    assert not list((tmp_path / "res").glob(".*partial"))
    # a different file of that name already there is never overwritten
    (shared / "s.json").write_text(json.dumps({**_cluster_results(2), "other": 1}))
    proc, calls = _cluster_make(tmp_path, "repro", f"FILE={shared / 's.json'}", FAKE_DOWN="1")
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("make: ***")]
    assert proc.returncode == 2 and len(lines) == 1 and "exists and differs" in lines[0], proc.stderr
    assert json.loads((tmp_path / "res" / "s.json").read_text()) == _cluster_results(2)
    assert not [c for c in calls if " up -d" in c]
    # a pair comes in whole or not at all: a differing partner stops it before the first copy
    (shared / "t.json").write_text(json.dumps(_cluster_results(2)))
    (shared / "t-heavy.json").write_text(json.dumps(_cluster_results(2)))
    (tmp_path / "res" / "t-heavy.json").write_text("{}")
    proc, _ = _cluster_make(tmp_path, "repro", f"FILE={shared / 't.json'}", FAKE_DOWN="1")
    assert proc.returncode == 2 and "t-heavy.json exists and differs" in proc.stderr
    assert not (tmp_path / "res" / "t.json").exists()
    # neither here nor in the results directory: one line, exit 2
    proc, _ = _cluster_make(tmp_path, "repro", f"FILE={shared / 'none.json'}", FAKE_DOWN="1")
    assert proc.returncode == 2 and "none.json: no such file" in proc.stderr


def test_report_honours_workers_given_on_a_running_cluster_of_another_size(tmp_path):
    proc, calls = _cluster_make(tmp_path, "report", "NO_HEAVY=1", "NAME=r", "WORKERS=3")
    assert proc.returncode == 0, proc.stderr
    assert "restarting the running cluster (2 workers), with 3 (WORKERS)" in proc.stdout
    assert [c for c in calls if " up -d" in c and "--scale ray-worker=3" in c]
    assert [c for c in calls if "bench suites standard --name r" in c and "--expect-nodes 3" in c]


def test_bench_refuses_workers_that_differ_from_the_running_cluster_and_keeps_its_size_otherwise(tmp_path):
    proc, calls = _cluster_make(tmp_path, "bench", "SUITE=quick", "NAME=t", "WORKERS=3")
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("make: ***")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "the running cluster has 2 worker(s), not WORKERS=3" in lines[0]
    assert not [c for c in calls if " bench run " in c]
    proc, calls = _cluster_make(tmp_path, "bench", "SUITE=quick", "NAME=t")  # WORKERS defaults to 3: 2 are running
    assert proc.returncode == 0, proc.stderr
    assert [c for c in calls if " bench run " in c and "--expect-nodes 2" in c]


def test_latest_results_skips_heavy_chaos_scaling_speed_and_repro_files(tmp_path):
    import time as _time

    names = ["standard-1.json", "standard-1-heavy.json", "chaos-2.json", "scaling-3-w1-quick.json",
             "speed-4.json", "speed-4.speed.json", "standard-1-repro-5.json"]
    for i, name in enumerate(names):
        (tmp_path / name).write_text("{}")
        os.utime(tmp_path / name, (_time.time() + i, _time.time() + i))
    out = subprocess.run(["python3", str(REPO / "scripts" / "appliance.py"), "latest-results", str(tmp_path)],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.strip() == str(tmp_path / "standard-1.json")


FAKE_PROJECT_DOCKER = """#!/bin/sh
# A running bench container, in project $FAKE_PROJECT only.
echo "docker $*" >> "$FAKE_LOG"
case "$1 $2" in
  "ps -q") case "$*" in *"label=com.docker.compose.project=$FAKE_PROJECT "*service=bench*) echo bench0 ;; esac ;;
  "inspect -f") echo sha256:fake ;;
esac
exit 0
"""


def test_a_project_named_on_the_command_line_finds_its_bench_container(tmp_path):
    # $(shell) does not see make's exports (GNU make < 4.4): the project must reach it as text.
    docker, log = _fake(tmp_path, "docker", FAKE_PROJECT_DOCKER)
    compose, _ = _fake(tmp_path, "compose", FAKE_COMPOSE)
    env = clean_env(PATH=f"{docker.parent}:{os.environ['PATH']}", COMPOSE_PROJECT_NAME="raybenchnever",
                    FAKE_LOG=str(log), FAKE_PROJECT="rbcmdline")
    proc = make("bench", "SUITE=quick", "NAME=t", "WORKERS=2", "COMPOSE_PROJECT_NAME=rbcmdline", f"COMPOSE={compose}",
                timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    runs = [c for c in log.read_text().splitlines() if " bench run " in c]
    assert len(runs) == 1 and "BENCH_IMAGE_ID=sha256:fake" in runs[0] and "--suite quick" in runs[0]
    assert "--expect-nodes 2" in runs[0] and "--out results/t.json" in runs[0]
    proc = make("bench", "SUITE=quick", "COMPOSE_PROJECT_NAME=rbother", f"COMPOSE={compose}", timeout=60, env=env)
    assert proc.returncode != 0 and "no running bench container in project 'rbother'" in proc.stderr


def test_make_and_plain_compose_name_the_project_alike(tmp_path):
    """No hidden `cp .env.example .env`: make's default project is the one plain Compose gives the folder."""
    work = tmp_path / "My.Bench-Checkout_2"
    work.mkdir()
    for name in ("Makefile", "docker-compose.yml", "pyproject.toml"):
        shutil.copy2(REPO / name, work / name)
    env = clean_env()
    env.pop("COMPOSE_PROJECT_NAME", None)
    made = subprocess.run(["make", "-s", "--no-print-directory", "--eval", "p: ; @echo $(COMPOSE_PROJECT_NAME)", "p"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    # Compose v1's rule (compose/cli/command.py: re.sub(r'[^-_a-z0-9]', '', name.lower())), v2's with
    # leading - and _ trimmed: the same here
    assert made == re.sub(r"[^-_a-z0-9]", "", work.name.lower()).lstrip("-_") == "mybench-checkout_2"
    v2 = REPO / "build" / "compose" / "docker-compose"
    if v2.exists():
        config = subprocess.run([str(v2), "config"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
        assert config.returncode == 0, config.stderr
        assert config.stdout.splitlines()[0] == f"name: {made}"


def test_bench_says_when_the_running_cluster_runs_an_image_of_other_sources(tmp_path):
    proc, calls = _cluster_make(tmp_path, "bench", "SUITE=quick", "NAME=t",
                                FAKE_RUNNING_LABELS="ray-granularity-bench 0123456789abcdef")
    assert proc.returncode == 0, proc.stderr
    assert "the running cluster's image was built from other sources than this checkout" in proc.stderr
    assert [c for c in calls if " bench run " in c], "the run goes ahead, on the image the cluster has"
