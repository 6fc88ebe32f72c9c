"""REQUIRE_DOCKER=1 must turn a skipped `docker` test into a failure (CI relies on it)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

SAMPLE = '''
import pytest

@pytest.mark.docker
def test_needs_docker():
    pytest.skip("no engine here")

def test_plain_skip():
    pytest.skip("unrelated")
'''


def _run(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(TESTS)}
    if require is not None:
        env["REQUIRE_DOCKER"] = require
    # Load the project's conftest as a plugin so the sample runs under its hook.
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
         "-rfs", str(tmp_path / "test_sample.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_skipped_docker_test_fails_when_docker_is_required(tmp_path):
    proc = _run(tmp_path, "1")
    assert proc.returncode == 1, proc.stdout
    assert "1 failed, 1 skipped" in proc.stdout
    assert "REQUIRE_DOCKER=1 but this docker test was skipped: no engine here" in proc.stdout


def test_skipped_docker_test_stays_skipped_otherwise(tmp_path):
    proc = _run(tmp_path, None)
    assert proc.returncode == 0, proc.stdout
    assert "2 skipped" in proc.stdout
