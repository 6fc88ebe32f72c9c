"""Makefile input checks and token generation; no Docker engine needed."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess

import pytest

from docker_helpers import clean_env, make

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


@pytest.mark.parametrize("workers", ["0", "abc", "", "-1", "2.5", "1000"])
def test_up_refuses_bad_worker_counts_with_one_line(workers, tmp_path):
    proc = make("up", f"WORKERS={workers}", f"RAY_TOKEN_FILE={tmp_path / 'tok'}", timeout=60,
                env=clean_env(COMPOSE_PROJECT_NAME="raybenchnever"))
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "WORKERS" in lines[0] and f"'{workers}'" in lines[0]
    assert not (tmp_path / "tok").exists(), "refused before any side effect"


def test_up_refuses_an_empty_token(tmp_path):
    token = tmp_path / "tok"
    token.write_text("")
    proc = make("up", "WORKERS=2", f"RAY_TOKEN_FILE={token}", timeout=60,
                env=clean_env(COMPOSE_PROJECT_NAME="raybenchnever"))
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "empty" in lines[0]


def test_bench_refuses_an_unknown_suite():
    proc = make("bench", "SUITE=huge", timeout=60)
    assert proc.returncode != 0
    assert [l for l in proc.stderr.splitlines() if l.strip()] == [
        l for l in proc.stderr.splitlines() if "SUITE must be quick, standard, full, heavy or stress" in l]


def test_token_is_random_private_and_owned_by_the_container_user(tmp_path):
    uid = 1000 if os.geteuid() == 0 else os.geteuid()
    first = tmp_path / "a" / "tok"
    second = tmp_path / "b" / "tok"
    for f in (first, second):
        make("token", f"RAY_TOKEN_FILE={f}", f"APP_UID={uid}", timeout=60, check=True)
    a, b = first.read_text(), second.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", a) and a != b
    st = first.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == uid
    # Re-running keeps the deployment's token.
    make("token", f"RAY_TOKEN_FILE={first}", f"APP_UID={uid}", timeout=60, check=True)
    assert first.read_text() == a


def test_bare_relative_paths_reach_compose_as_absolute_paths():
    # Compose would read `build/tok` (no ./) as a named volume and refuse to start.
    proc = make("-n", "token", "dirs", "RAY_TOKEN_FILE=build/tok", "RESULTS_DIR=out/res",
                timeout=60, env=clean_env(COMPOSE_PROJECT_NAME="raybenchnever"))
    assert proc.returncode == 0, proc.stderr
    from docker_helpers import REPO
    assert f'gen-token.sh "{REPO}/build/tok"' in proc.stdout
    assert f'mkdir -p "{REPO}/out/res"' in proc.stdout


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


def _image_sources_copy(tmp_path):
    """The files the image is built from, in a scratch checkout we may edit."""
    from docker_helpers import REPO

    work = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("bench", "templates"):
        shutil.copytree(REPO / name, work / name, ignore=ignore)
    (work / "docker").mkdir(parents=True)
    (work / "requirements").mkdir()
    for name in ("Makefile", "Dockerfile", "pyproject.toml", "requirements/runtime.lock", "docker/entrypoint.sh",
                 "docker/healthcheck.sh", "docker/wait_nodes.py", "docker/summary_page.py"):
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
    module = work / "bench" / "workload.py"
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
