"""Makefile input checks and token generation; no Docker engine needed."""
from __future__ import annotations

import os
import re
import shutil
import stat

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
