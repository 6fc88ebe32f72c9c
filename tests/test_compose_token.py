"""`make token`/`make down` as a non-root user whose uid is not the container user's.

The old `make up` ran the token step (a `docker run IMAGE` to chown the file) before the
image existed. Now the compose file's init service writes the token into the project's
volume, and `make token` builds the image first. Run as uid 4321 in the docker group
(setpriv, no user account needed) when the tests run as root; as the caller otherwise.
"""
from __future__ import annotations

import grp
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from docker_helpers import APP_UID, clean_env, compose_v2, docker_unavailable_reason, make, run, volumes

OTHER_UID = 4321


def _as_other_user(home: Path) -> tuple[list[str], dict[str, str]]:
    env = clean_env(HOME=str(home))
    env.pop("DOCKER_CONFIG", None)
    if os.geteuid() != 0:
        if os.geteuid() == APP_UID:
            pytest.skip(f"running as uid {APP_UID}, the container user: nothing to show")
        return [], env
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not installed: cannot switch to another uid")
    try:
        docker_gid = grp.getgrnam("docker").gr_gid
    except KeyError:
        pytest.skip("no docker group: a non-root user could not reach the engine")
    os.chown(home, OTHER_UID, OTHER_UID)
    return ["setpriv", f"--reuid={OTHER_UID}", f"--regid={OTHER_UID}", f"--groups={docker_gid}",
            "--inh-caps=-all"], env


def _token(volume: str) -> tuple[str, str]:
    image = os.environ.get("IMAGE", "ray-granularity-bench:local")
    proc = run(["docker", "run", "--rm", "-v", f"{volume}:/s:ro", "--entrypoint", "sh", image, "-c",
                "stat -c '%a %u' /s/ray_token && cat /s/ray_token"], timeout=120, check=True)
    perm, token = proc.stdout.split("\n", 1)
    return perm, token


@pytest.mark.docker
def test_make_token_and_down_work_for_a_non_root_user_with_another_uid():
    why = docker_unavailable_reason()
    if why:
        pytest.skip(why)
    make("ensure-image", timeout=2400, check=True)
    home = Path(tempfile.mkdtemp(prefix="rbtoken"))
    try:
        prefix, env = _as_other_user(home)
        project = f"rbtoken{secrets.token_hex(3)}"
        args = [f"COMPOSE_PROJECT_NAME={project}", f"COMPOSE={compose_v2()}",
                f"RESULTS_DIR={home / 'results'}", f"REPORTS_DIR={home / 'reports'}"]

        def as_user(*target: str):
            return run([*prefix, "make", "--no-print-directory", *target, *args], timeout=600, env=env)

        try:
            first = as_user("token")
            assert first.returncode == 0, first.stdout + first.stderr
            assert "init: generated a new token" in first.stdout
            [volume] = volumes(project)
            perm, token = _token(volume)
            assert perm == f"600 {APP_UID}" and re.fullmatch(r"[0-9a-f]{64}", token)
            again = as_user("token")
            assert again.returncode == 0 and "keeping" in again.stdout
            assert _token(volume)[1] == token
            down = as_user("down")
            assert down.returncode == 0, down.stderr
            assert volumes(project) == []
        finally:
            make("down", *args, timeout=300)
    finally:
        shutil.rmtree(home, ignore_errors=True)
