"""The appliance's container scripts, exercised on the host (no Docker engine needed)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


def _entrypoint(tmp_path, *args, **env):
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(["bash", str(REPO / "docker" / "entrypoint.sh"), *args],
                          env={**base, **env}, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("role", ["head", "worker", "driver"])
def test_entrypoint_refuses_a_missing_token_file(tmp_path, role):
    proc = _entrypoint(tmp_path, role, RAY_AUTH_MODE="token",
                       RAY_AUTH_TOKEN_PATH=str(tmp_path / "nope"), OBJECT_STORE_MEMORY="100000000")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"entrypoint: token file {tmp_path / 'nope'} is missing or not a file (run 'make token' on the host)"]


def test_entrypoint_refuses_a_directory_where_the_token_should_be(tmp_path):
    # What Docker leaves behind when the bind-mounted token file did not exist.
    (tmp_path / "ray_token").mkdir()
    proc = _entrypoint(tmp_path, "worker", RAY_AUTH_MODE="token",
                       RAY_AUTH_TOKEN_PATH=str(tmp_path / "ray_token"), OBJECT_STORE_MEMORY="1")
    assert proc.returncode == 1 and "missing or not a file" in proc.stderr


def test_entrypoint_refuses_an_empty_token(tmp_path):
    token = tmp_path / "tok"
    token.write_text("")
    proc = _entrypoint(tmp_path, "head", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token),
                       OBJECT_STORE_MEMORY="100000000")
    assert proc.returncode == 1 and "is empty" in proc.stderr


@pytest.mark.parametrize("value, message", [
    ("", "OBJECT_STORE_MEMORY (bytes) must be set"),
    ("1g", "OBJECT_STORE_MEMORY must be a whole number, got '1g'"),
])
def test_entrypoint_requires_an_explicit_object_store_size(tmp_path, value, message):
    proc = _entrypoint(tmp_path, "worker", OBJECT_STORE_MEMORY=value)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr


def test_entrypoint_runs_any_other_command(tmp_path):
    proc = _entrypoint(tmp_path, "echo", "hello")
    assert proc.returncode == 0 and proc.stdout == "hello\n"


def test_wait_nodes_rejects_bad_arguments_before_touching_ray():
    proc = subprocess.run([sys.executable, str(REPO / "docker" / "wait_nodes.py"), "0"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "nodes must be >= 1" in proc.stderr


def test_summary_page_lists_every_run_and_flags_wrong_answers(tmp_path):
    source = FIXTURES / "incorrect.json"
    results = json.loads(source.read_text())
    out = tmp_path / "index.html"
    proc = subprocess.run([sys.executable, str(REPO / "docker" / "summary_page.py"), str(source),
                           "--out", str(out)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    rows = page.split("<h2>Runs</h2>")[1].split("</table>")[0].count("<tr><td>")
    assert rows == len(results["runs"])
    wrong = sum(1 for r in results["runs"] if not r["correct"])
    assert wrong >= 1 and page.count("<b>NO</b>") == wrong
    median = results["runs"][0]["stats"]["response_s"]["median"]
    assert f"{median:.6g} s" in page


def test_summary_page_refuses_unreadable_input(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "docker" / "summary_page.py"),
                           str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.html")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot read" in proc.stderr
