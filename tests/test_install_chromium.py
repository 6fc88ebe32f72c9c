"""scripts/install-chromium.sh accepts any Chromium the browser tests accept, and a
non-root user without one gets one line saying what to install (never an install attempt)."""

import os
import shutil
import subprocess

import pytest

from conftest import REPO
from test_browser import CANDIDATES

SCRIPT = REPO / "scripts" / "install-chromium.sh"


def _bin(tmp_path, uid: int, browsers=()):
    """A PATH with bash, a fake `id -u`, a trap for apt-get, and the given browser names."""
    folder = tmp_path / "bin"
    folder.mkdir()
    os.symlink(shutil.which("bash"), folder / "bash")
    for name, body in {"id": f"echo {uid}", "apt-get": "echo apt-get ran >&2; exit 99",
                       **{b: "echo fake browser" for b in browsers}}.items():
        (folder / name).write_text(f"#!{shutil.which('bash')}\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


def _run(folder, **env):
    return subprocess.run([str(SCRIPT)], env={"PATH": str(folder), **env}, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("name", CANDIDATES)
def test_every_name_the_browser_tests_accept_is_enough(tmp_path, name):
    proc = _run(_bin(tmp_path, uid=1234, browsers=[name]))
    assert proc.returncode == 0, proc.stderr
    assert "apt-get ran" not in proc.stderr


def test_chromium_env_var_is_honoured_like_the_browser_tests(tmp_path):
    folder = _bin(tmp_path, uid=1234, browsers=["headless_shell"])
    assert _run(folder, CHROMIUM="headless_shell").returncode == 0
    missing = _run(folder, CHROMIUM="no-such-chrome")
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
    assert "CHROMIUM=no-such-chrome" in missing.stderr


def test_non_root_without_a_browser_is_told_what_to_install(tmp_path):
    proc = _run(_bin(tmp_path, uid=1234))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1
    assert len(lines) == 1 and "apt-get install chromium" in lines[0] and "CHROMIUM=" in lines[0], lines
    assert "apt-get ran" not in proc.stderr
