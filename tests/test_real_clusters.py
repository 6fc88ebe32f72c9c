"""Real clusters beyond one embedded Ray (issue 11, section 7).

A run under `ray job submit` (or a KubeRay RayJob, which submits the same way) gets
RAY_ADDRESS from Ray's JobSupervisor: it joins that cluster and must be recorded as
such, never as "embedded", and --num-cpus does not apply there.

The slow test starts a real token-authenticated multi-node cluster on this machine
(head with --num-cpus=0 and the dashboard, two `ray start --address` workers), each
node a `ray start --block` subprocess in its own temp dir and session, on free ports,
and submits the benchmark to it with `ray job submit --working-dir`. It never runs
`ray stop` (that would end every Ray of this user, other sessions' included): teardown
ends exactly the processes it started.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bench.engine.cluster import effective_address
from bench.engine.suites import build_config
from bench.errors import UsageError
from conftest import REPO, run_cli

VENV_BIN = Path(sys.executable).parent
RAY = str(VENV_BIN / "ray")
RUNTIME_ENV = REPO / "deploy" / "ray-job-runtime-env.yaml"


# -- the label: RAY_ADDRESS means "join that cluster" (no Ray needed) ---------------------


@pytest.mark.parametrize("given, env, expected", [
    (None, None, None),                           # embedded
    (None, "10.0.0.5:6379", "10.0.0.5:6379"),     # ray job submit / RayJob
    ("auto", "10.0.0.5:6379", "10.0.0.5:6379"),   # ray.init("auto") takes RAY_ADDRESS too
    ("auto", None, "auto"),
    ("head:6379", "10.0.0.5:6379", "head:6379"),  # an explicit --address wins
    (None, "auto", "auto"),
    (None, "  ", None),                           # blank is unset
])
def test_effective_address(monkeypatch, given, env, expected):
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    assert effective_address(given) == expected


@pytest.mark.parametrize("env", ["http://127.0.0.1:8265", "ray://head:10001", "nowhere"])
def test_unusable_ray_address_is_a_usage_error(monkeypatch, env):
    monkeypatch.setenv("RAY_ADDRESS", env)
    with pytest.raises(UsageError, match="RAY_ADDRESS"):
        effective_address(None)
    assert effective_address("head:6379") == "head:6379"  # not consulted when --address is given


def test_num_cpus_with_ray_address_is_refused(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    with pytest.raises(UsageError, match="--num-cpus applies only to the embedded Ray, and RAY_ADDRESS is set"):
        build_config(suite="quick", num_cpus=2)
    # without Ray modes there is nothing to join: RAY_ADDRESS is not consulted
    build_config(suite="quick", modes="sequential,numpy", num_cpus=2)
    config = build_config(suite="quick")
    assert config.num_cpus is None


def test_num_cpus_with_ray_address_cli_one_line(tmp_path):
    proc = run_cli("run", "--suite", "quick", "--num-cpus", "2", "--out", tmp_path / "r.json",
                   env={"RAY_ADDRESS": "127.0.0.1:9"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--num-cpus applies only to the embedded Ray, and RAY_ADDRESS is set" in lines[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "r.json").exists()


def test_address_auto_that_finds_an_unreachable_head_says_so_at_once(tmp_path):
    # The compose appliance on the host: ray.init("auto") finds its containers' GCS
    # (ray-head:6379), which the host cannot resolve, and used to retry for minutes.
    ray_dir = tmp_path / "ray"
    ray_dir.mkdir()
    (ray_dir / "ray_current_cluster").write_text("ray-head.invalid:6379")
    started = time.monotonic()
    proc = run_cli("run", "--address", "auto", "--suite", "quick", "--out", tmp_path / "r.json",
                   env={"RAY_TMPDIR": str(tmp_path)}, timeout=120)
    assert time.monotonic() - started < 60, "it waited instead of saying so"
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "cannot reach a Ray head at ray-head.invalid:6379" in errors[0], proc.stderr
    assert "which --address auto found on this host" in errors[0] and "make bench" in errors[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "r.json").exists()


def test_address_auto_with_no_cluster_says_so(tmp_path, monkeypatch):
    from bench.engine import cluster
    from bench.errors import RuntimeFailure
    from ray._private import services

    def nothing_found(addr, temp_dir=None):
        raise ConnectionError("Could not find any running Ray instance. Please specify ...")

    monkeypatch.setattr(services, "canonicalize_bootstrap_address_or_die", nothing_found)
    with pytest.raises(RuntimeFailure, match="--address auto found no Ray cluster to join on this host"):
        cluster.resolve_auto()


def test_working_dir_upload_leaves_large_directories_out(tmp_path):
    """What `ray job submit --working-dir . --runtime-env deploy/ray-job-runtime-env.yaml`
    ships, packed by Ray's own packager with .gitignore switched off
    (RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1): the excludes alone keep it small."""
    import zipfile

    import yaml
    from ray._private.runtime_env.packaging import create_package  # private: Ray 2.60's packer

    excludes = yaml.safe_load(RUNTIME_ENV.read_text())["excludes"]
    package = tmp_path / "pkg.zip"
    create_package(str(REPO), package, include_gitignore=False, excludes=excludes)
    names = zipfile.ZipFile(package).namelist()
    assert "bench/__main__.py" in names and "pyproject.toml" in names
    for big in (".venv/", ".git/", "build/", "results/", "reports/", "docker/wheels/", "mutants/"):
        assert not [n for n in names if n.startswith(big)], big
    assert package.stat().st_size < 20 * 2**20, package.stat().st_size


# -- a real multi-node cluster and `ray job submit` ---------------------------------------


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class LocalCluster:
    """Head (--num-cpus=0, dashboard) plus workers, each a `ray start --block` child."""

    def __init__(self, workers: int = 2, worker_cpus: int = 1):
        # Short base path: Ray's unix sockets live under it (108-byte limit).
        self.base = Path(tempfile.mkdtemp(prefix="rgb-rc-", dir="/tmp"))
        self.token_path = self.base / "auth_token"
        self.token_path.write_text(secrets.token_hex(32))
        self.token_path.chmod(0o600)
        self.env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        self.env.update({
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token_path),
            "RAY_USAGE_STATS_ENABLED": "0",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        })
        self.env.pop("PYTHONPATH", None)  # the job must find bench through its working_dir
        self.workers, self.worker_cpus = workers, worker_cpus
        self.procs: list[subprocess.Popen] = []
        self.gcs_port = self.dashboard_port = None  # chosen free at each head start

    def _node_ports(self, head: bool) -> list[str]:
        names = ["node-manager-port", "object-manager-port", "metrics-export-port",
                 "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port"]
        if head:
            names.append("ray-client-server-port")
        return [f"--{name}={port}" for name, port in zip(names, _free_ports(len(names)))]

    def _launch(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.base / f"{name}.log", "wb")
        return subprocess.Popen(
            [RAY, "start", "--block", "--disable-usage-stats",
             "--object-store-memory=100000000", f"--temp-dir={self.base / name}", *args],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _start_node(self, name: str, args, timeout_s: float, attempts: int = 3) -> None:
        """Start a node and wait until it is up. `ray start` gives a raylet a fixed 30 s to
        register (ray/_private/node.py): on a loaded machine that can run out, so a node
        that gave up is cleaned away and started afresh (args() gives it new ports)."""
        for attempt in range(attempts):
            label = f"{name}-{attempt}"
            proc = self._launch(label, args())
            self.procs.append(proc)
            deadline = time.monotonic() + timeout_s
            while proc.poll() is None and not self._started(label) and time.monotonic() < deadline:
                time.sleep(1)
            if self._started(label) and proc.poll() is None:
                return
            self._end([proc], path=self.base / label)
            self.procs.remove(proc)
        raise RuntimeError(f"{name} did not start in {attempts} attempts\n{self.logs()}")

    def start(self, timeout_s: float = 180) -> "LocalCluster":
        def head_args():
            self.gcs_port, self.dashboard_port = _free_ports(2)
            return ["--head", f"--port={self.gcs_port}", "--num-cpus=0", "--include-dashboard=true",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard_port}",
                    *self._node_ports(head=True)]

        self._start_node("head", head_args, timeout_s)
        for i in range(self.workers):
            self._start_node(f"worker{i}", lambda: [f"--address={self.gcs_address}", f"--num-cpus={self.worker_cpus}",
                                                    *self._node_ports(head=False)], timeout_s)
        self._wait(self._jobs_api_ready, timeout_s, "the dashboard's job API")
        return self

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _started(self, label: str) -> bool:
        """`ray start` prints this once the node's processes are up and registered."""
        log = self.base / f"{label}.log"
        return log.exists() and "Ray runtime started" in log.read_text(errors="replace")

    @staticmethod
    def _reachable(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def _jobs_api_ready(self) -> bool:
        if not self._reachable(self.dashboard_port):
            return False
        proc = self.ray("job", "list", "--address", self.dashboard_url, timeout=60)
        return proc.returncode == 0

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            dead = [p.args for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ready ({what}); exited: {dead}\n{self.logs()}")
            time.sleep(1)

    def ray(self, *args, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([RAY, *map(str, args)], env={**self.env, **(env or {})}, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.base.glob("*.log")))

    def _own_processes(self, path: Path) -> list:
        """Processes of this cluster under `path`: every Ray daemon is started with the
        node's temp dir (or its session dir under it) on its command line."""
        import psutil

        mine = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if proc.pid != os.getpid() and any(str(path) in arg for arg in proc.info["cmdline"] or ()):
                    mine.append(proc)
            except (psutil.Error, TypeError):
                continue
        return mine

    def _end(self, procs: list, path: Path) -> None:
        """End exactly what this cluster started: the `ray start --block` processes (each
        stops its node's daemons on SIGTERM), then any daemon still naming `path`."""
        import psutil

        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the node's process group
        leftovers = self._own_processes(path)
        for proc in leftovers:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(leftovers, timeout=10)

    def stop(self) -> None:
        self._end(self.procs, self.base)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def token_cluster():
    cluster = LocalCluster(workers=2, worker_cpus=1)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def _worker_nodes(res: dict) -> list[dict]:
    return [n for n in res["cluster"]["nodes"] if n["alive"] and n["cpus"] > 0]


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ray_job_submit_to_a_token_cluster(token_cluster, tmp_path):
    out = tmp_path / "job-results.json"  # the driver runs on the head: this machine, so an absolute path works
    for attempt in range(10):
        submission_id = f"bench-{secrets.token_hex(4)}"
        proc = token_cluster.ray(
            "job", "submit", "--address", token_cluster.dashboard_url, "--submission-id", submission_id,
            "--working-dir", REPO, "--runtime-env", RUNTIME_ENV, "--",
            "python", "-m", "bench", "run", "--suite", "quick", "--queries", "2000", "--naive-tasks", "200",
            "--trials", "2", "--budget", "0", "--expect-nodes", "2", "--out", out, timeout=800)
        # refused before the job existed: the head's job agent is still registering (a loaded machine)
        if "No available agent to submit job" not in proc.stdout + proc.stderr:
            break
        time.sleep(3)
    detail = f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}\n{token_cluster.logs()}"
    assert proc.returncode == 0, detail
    status = token_cluster.ray("job", "status", "--address", token_cluster.dashboard_url, submission_id, timeout=60)
    assert "succeeded" in (status.stdout + status.stderr).lower(), detail

    res = json.loads(out.read_text())
    assert res["status"] == "complete"
    assert res["runs"] and all(run["correct"] is True and run["error"] is None for run in res["runs"]), \
        [(r["label"], r["correct"], r.get("error")) for r in res["runs"]]
    assert {r["mode"] for r in res["runs"]} >= {"ray-naive", "ray-batched", "ray-auto"}
    cluster = res["cluster"]
    assert cluster["mode"] == "existing", cluster["mode"]  # not "embedded"
    head = [n for n in cluster["nodes"] if n["is_head"]]
    assert len(head) == 1 and head[0]["cpus"] == 0
    # the job's RAY_ADDRESS: this cluster's GCS, named by the head node's IP
    assert cluster["address"] == f"{head[0]['ip']}:{token_cluster.gcs_port}", cluster["address"]
    assert cluster["address_from"] == "RAY_ADDRESS"
    assert cluster["job_submission_id"] == submission_id
    assert cluster["auth_mode"] == "token"
    workers = _worker_nodes(res)
    assert len(workers) == 2 and all(n["cpus"] == 1 for n in workers)
    assert cluster["nodes_start"]["alive_with_cpus"] == 2
    for run in res["runs"]:
        if run["mode"] in ("ray-naive", "ray-batched", "ray-auto"):
            assert run["nodes_start"]["alive_with_cpus"] == 2, run["label"]
    assert res["config"]["num_cpus"] is None


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_job_without_the_token_is_refused(token_cluster):
    """Token auth covers the job API too: a submitter without the token gets nothing in."""
    env = {k: v for k, v in token_cluster.env.items() if not k.startswith("RAY_AUTH")}
    proc = subprocess.run([RAY, "job", "list", "--address", token_cluster.dashboard_url], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, proc.stdout
    assert "auth" in (proc.stdout + proc.stderr).lower() or "401" in proc.stdout + proc.stderr or \
        "403" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


# -- building on rayproject/ray: a base that already has a uid-1000 user ------------------

# Bases to stub from, first found locally: the offline base (`make base`), or the default one.
STUB_BASES = ("ray-bench-base:bookworm", "python:3.11-slim-bookworm")


def _dockerfile_user_step() -> str:
    """The Dockerfile's user-creation RUN, as the shell text Docker would run."""
    lines = (REPO / "Dockerfile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("RUN ") and "useradd" in "".join(lines[i:i + 20])
                 and "getent passwd" in "".join(lines[i:i + 20]))
    step = []
    for line in lines[start:]:
        step.append(line.rstrip().removesuffix("\\"))
        if not line.rstrip().endswith("\\"):
            break
    return "\n".join(step).removeprefix("RUN ")


def _stub_base() -> tuple[str | None, str | None]:
    """(base image, None) or (None, why there is none)."""
    from docker_helpers import docker_unavailable_reason

    reason = docker_unavailable_reason()
    if reason:
        return None, reason
    for image in STUB_BASES:
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=60).returncode == 0:
            return image, None
    return None, f"none of {', '.join(STUB_BASES)} is here (make base builds the first offline)"


@pytest.fixture(scope="module")
def stub_bases():
    """Tiny images FROM the offline base: one shaped like rayproject/ray (user ray, uid
    1000, primary group users), one whose uid 1000 has another name, one with a user ray
    at another uid."""
    base, reason = _stub_base()
    if reason:
        pytest.skip(reason)
    tag = f"rgb-user-stub-{secrets.token_hex(3)}"
    stubs = {
        "rayproject": "useradd -ms /bin/bash -d /home/ray ray --uid 1000 --gid 100",
        "other-name": "useradd -m --uid 1000 ubuntu",
        "ray-elsewhere": "useradd -m --uid 1001 ray",
    }
    built = []
    try:
        for name, command in stubs.items():
            image = f"{tag}:{name}"
            proc = subprocess.run(["docker", "build", "-q", "-t", image, "-"], input=f"FROM {base}\nRUN {command}\n",
                                  capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr
            built.append(image)
        yield {name: f"{tag}:{name}" for name in stubs} | {"plain": base}
    finally:
        if built:
            subprocess.run(["docker", "rmi", "-f", *built], capture_output=True, timeout=120)


def _run_user_step(image: str) -> subprocess.CompletedProcess:
    check = 'echo "ID=$(id 1000)"; echo "OWNER=$(stat -c %u:%g /app/results /app/reports | sort -u)"'
    return subprocess.run(["docker", "run", "--rm", "--user", "0", "-e", "APP_UID=1000", "--entrypoint", "/bin/sh",
                           image, "-c", f"{_dockerfile_user_step()}\n{check}"],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.docker
@pytest.mark.timeout(900)
@pytest.mark.parametrize("base, user, owner", [
    ("rayproject", "uid=1000(ray) gid=100(users)", "1000:100"),
    ("other-name", "uid=1000(ubuntu) gid=1000(ubuntu)", "1000:1000"),
    ("plain", "uid=1000(ray) gid=1000(ray)", "1000:1000"),
])
def test_dockerfile_user_step_reuses_an_existing_uid_1000_user(stub_bases, base, user, owner):
    proc = _run_user_step(stub_bases[base])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ID={user}" in proc.stdout, proc.stdout
    assert f"OWNER={owner}" in proc.stdout, proc.stdout
    if base != "plain":
        assert "reusing the base image's uid-1000 user" in proc.stdout


@pytest.mark.docker
@pytest.mark.timeout(900)
def test_dockerfile_user_step_refuses_a_ray_user_at_another_uid(stub_bases):
    proc = _run_user_step(stub_bases["ray-elsewhere"])
    assert proc.returncode != 0
    assert "build with --build-arg APP_UID=1001" in proc.stderr


def test_dockerfile_runs_as_a_numeric_user():
    """USER is the uid (Kubernetes runAsNonRoot can verify it), whatever the base named it."""
    users = [line.split()[1] for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("USER ")]
    assert users == ["${APP_UID}"]
