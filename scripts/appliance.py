#!/usr/bin/env python3
"""The Makefile's programs, host side, standard library only. `make` calls one subcommand per
target; the settings arrive in the environment the Makefile exports (COMPOSE_PROJECT_NAME,
RESULTS_DIR, REPORTS_DIR, IMAGE, BASE_IMAGE, DASHBOARD_PORT, APP_UID) plus COMPOSE.

  containers SERVICE [--all]        ids of the project's running (--all: any) SERVICE containers
  latest-results DIR                the newest results file `make repro` re-runs by default (no heavy,
                                    chaos, scaling, speed or re-run file)
  source-hash                       hash of what goes into the image (labels it, finds stale ones)
  ensure-image                      build the image when missing or built from other sources
  image                             build from BASE_IMAGE, or the offline path when it cannot be pulled
  image-build --base IMAGE          build the image FROM IMAGE (labelled with the sources' hash)
  image-offline                     debootstrap base + wheelhouse, then image-build from it
  dirs DIR...                       results/reports folders the container user can write
  wait-healthy SERVICE [TIMEOUT]    every SERVICE container healthy (its check asked directly, every second)
  up | bench | report | repro | chaos | scaling | speed | down    the make targets of those names (chaos:
                                    worker, head or sweep)

The direction is one way: make calls these, and they never call make. Errors are one line on
stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What goes into the image (as .dockerignore lets in, wheels aside): a changed file means a stale image.
IMAGE_SOURCES = ("Dockerfile", "requirements/runtime.lock", "pyproject.toml", "bench", "templates",
                 "docker/entrypoint.sh", "docker/healthcheck.sh", "docker/wait_nodes.py")
IMAGE_TITLE = "ray-granularity-bench"
LABELS_FMT = ('{{with .Config.Labels}}{{index . "org.opencontainers.image.title"}} '
              '{{index . "bench.source-hash"}}{{end}}')
AUTORUN_WAIT = ('f=/tmp/bench-autorun.running; [ -e $f ] || exit 0; '
                'echo "bench: waiting for the automatic run to finish (docker compose logs -f bench)"; '
                'while [ -e $f ]; do sleep 2; done')


class Fail(Exception):
    """One line for stderr, and the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def env(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


def project() -> str:
    """The compose project: COMPOSE_PROJECT_NAME (the Makefile always sets it), else the name plain
    Compose gives the checkout's folder."""
    folder = re.sub(r"[^-_a-z0-9]", "", ROOT.name.lower()).lstrip("-_")
    return env("COMPOSE_PROJECT_NAME", folder)


def compose() -> list[str]:
    return shlex.split(env("COMPOSE", "docker-compose"))


def capture(cmd: list[str], what: str | None = None) -> str:
    """stdout of cmd; Fail with its first stderr line when it fails and `what` names it."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise Fail(f"error: cannot run {cmd[0]}: {exc.strerror or exc}") from None
    if proc.returncode != 0 and what:
        first = next((l for l in proc.stderr.splitlines() if l.strip()), f"exit {proc.returncode}")
        raise Fail(f"error: {what} failed: {first.strip()}")
    return proc.stdout if proc.returncode == 0 else ""


def call(cmd: list[str], *, quiet: bool = False, extra_env: dict[str, str] | None = None) -> int:
    """Run cmd with the terminal (or nothing, quiet); its exit status, as a shell gives it (128 + N
    for a command killed by signal N: Python's -N would leave make as 256 - N)."""
    out = subprocess.DEVNULL if quiet else None
    try:
        rc = subprocess.run(cmd, stdout=out, stderr=out, env={**os.environ, **extra_env} if extra_env else None).returncode
        return 128 - rc if rc < 0 else rc
    except OSError as exc:
        raise Fail(f"error: cannot run {cmd[0]}: {exc.strerror or exc}") from None


def check(rc: int) -> None:
    """Stop with rc (the failing command has said why)."""
    if rc != 0:
        raise SystemExit(rc)


# --- the project's containers: the one place that knows Compose's labels ------------------

def compose_filters(project_name: str, service: str | None = None) -> list[str]:
    """`docker ps|network ls|volume ls` filters for a compose project's objects (and one service)."""
    labels = {"project": project_name, **({"service": service} if service else {})}
    return [arg for key, value in labels.items() for arg in ("--filter", f"label=com.docker.compose.{key}={value}")]


def containers(service: str, project_name: str | None = None, running: bool = True) -> list[str]:
    """Ids of the compose project's SERVICE containers (running ones unless running=False)."""
    cmd = ["docker", "ps", "-q" if running else "-aq", *compose_filters(project_name or project(), service)]
    if running:
        cmd += ["--filter", "status=running"]
    return capture(cmd, "docker ps").split()


def image_id(container: str) -> str:
    return capture(["docker", "inspect", "-f", "{{.Image}}", container]).strip()


def exec_t() -> list[str]:
    """No TTY for exec when stdin is not a terminal (CI, pipes)."""
    return [] if sys.stdin.isatty() else ["-T"]


# --- the image ------------------------------------------------------------------------

def source_hash() -> str:
    """sha256 of the sha256sum listing of the image's sources, sorted by path: the same value
    as `find SOURCES -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16`."""
    files = []
    for source in IMAGE_SOURCES:
        path = ROOT / source
        if path.is_dir() and not path.is_symlink():
            for folder, dirs, names in os.walk(path):
                rel = Path(folder).relative_to(ROOT).as_posix()
                files += [f"{rel}/{n}" for n in names if os.path.isfile(os.path.join(folder, n))
                          and not os.path.islink(os.path.join(folder, n))]
        elif path.is_file() and not path.is_symlink():
            files.append(source)
        else:
            raise Fail(f"error: cannot hash the image's sources ({source}: no such file or directory)", 2)
    files = [f for f in files if "/__pycache__/" not in f"/{f}" and not f.endswith(".pyc")]
    listing = "".join(f"{hashlib.sha256((ROOT / f).read_bytes()).hexdigest()}  {f}\n"
                      for f in sorted(files, key=os.fsencode))
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def is_stale(labels: str, current: str) -> bool:
    """An image (or a container of one) this Dockerfile built from other sources than this checkout's."""
    title, _, recorded = labels.strip().partition(" ")
    return title == IMAGE_TITLE and recorded.strip() != current


def ensure_image(_args) -> int:
    # Build when missing; rebuild (layer cache: about a minute) one this Makefile built from
    # other sources, so `make up`/`make report` never run yesterday's code. Images built
    # elsewhere from this Dockerfile are rebuilt too; any other image is used as it is.
    current = source_hash()
    image_name = env("IMAGE", "ray-granularity-bench:local")
    try:
        proc = subprocess.run(["docker", "image", "inspect", "-f", LABELS_FMT, image_name],
                              capture_output=True, text=True)
    except OSError as exc:
        raise Fail(f"error: cannot run docker: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        return image(None)
    if is_stale(proc.stdout, current):
        print(f"image: {image_name} was built from other sources than this checkout; rebuilding")
        return image(None)
    return 0


def image(_args) -> int:
    base = env("BASE_IMAGE", "python:3.11-slim-bookworm")
    if call(["docker", "image", "inspect", base], quiet=True) == 0 or \
            call(["timeout", "120", "docker", "pull", base], quiet=True) == 0:
        return image_build(base)
    print(f"image: {base} cannot be pulled (no registry?); using the offline path")
    return image_offline(None)


def image_offline(_args) -> int:
    """The offline path (no registry): a debootstrap base image and the wheelhouse, then the build."""
    base = env("OFFLINE_BASE", "ray-bench-base:bookworm")
    check(call([str(ROOT / "scripts" / "build-offline-base.sh"), base]))
    check(call([str(ROOT / "scripts" / "fetch-wheels.sh")]))
    return image_build(base)


def git_version() -> tuple[str, str]:
    """(commit, dirty) of this checkout for the image's labels: "unknown" outside git; dirty is
    1 when a tracked file differs from the commit (untracked files do not count)."""
    commit = capture(["git", "-C", str(ROOT), "rev-parse", "HEAD"]).strip()
    if not commit:
        return "unknown", "unknown"
    changed = capture(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]).strip()
    return commit, "1" if changed else "0"


def image_build(base) -> int:
    base = getattr(base, "base", base)
    if not base:
        raise Fail("error: the base image is empty (image-build needs BUILD_BASE)", 2)
    version = re.search(r'^version = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.M)
    commit, dirty = git_version()
    image_name = env("IMAGE", "ray-granularity-bench:local")
    cmd = ["docker", "build", "--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"APP_UID={env('APP_UID', '1000')}",
           "--build-arg", f"VERSION={version.group(1) if version else 'unknown'}",
           "--build-arg", f"VCS_REF={commit}", "--build-arg", f"VCS_DIRTY={dirty}",
           "--build-arg", f"BUILD_DATE={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
           "--label", f"bench.source-hash={source_hash()}", "-t", image_name, str(ROOT)]
    print(shlex.join(cmd))
    check(call(cmd))
    call(["docker", "image", "prune", "-f", "--filter", f"label=org.opencontainers.image.title={IMAGE_TITLE}"],
         quiet=True)
    size = capture(["docker", "image", "inspect", "-f", "{{.Size}}", image_name]).strip()
    print(f"image: {image_name} {int(size) / 1e6:.0f} MB" if size.isdigit() else f"image: {image_name}")
    return 0


# --- the cluster ----------------------------------------------------------------------

def dirs(args) -> int:
    """The bench container writes results as APP_UID."""
    uid = int(env("APP_UID", "1000"))
    for d in args.dirs:
        path = Path(d)
        try:
            path.mkdir(parents=True, exist_ok=True)
            if path.stat().st_uid == uid:
                continue
            if os.geteuid() == 0:
                os.chown(path, uid, -1)
            else:
                path.chmod(0o777)
        except OSError as exc:
            raise Fail(f"error: {d}: {exc.strerror or exc}") from None
    return 0


HEALTH_TIMEOUT_S = 5  # compose's timeout for the bench check


def health_test(cid: str) -> list[str] | None:
    """The container's own health check command (its image's or compose's), to run with docker exec."""
    try:
        test = (json.loads(capture(["docker", "inspect", "-f", "{{json .Config.Healthcheck}}", cid]) or "null")
                or {}).get("Test") or []
    except (ValueError, AttributeError):
        return None
    if test[:1] == ["CMD"] and len(test) > 1:
        return test[1:]
    if test[:1] == ["CMD-SHELL"] and len(test) > 1:
        return ["sh", "-c", test[1]]
    return None


def health_now(cid: str, test: list[str]) -> str | None:
    """Run the health check in the container now: None when it passes, else why not."""
    try:
        proc = subprocess.run(["docker", "exec", cid, *test], capture_output=True, text=True, timeout=HEALTH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"its health check took over {HEALTH_TIMEOUT_S} s"
    if proc.returncode == 0:
        return None
    said = next((line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()), "")
    return f"its health check exited {proc.returncode}" + (f": {said}" if said else "")


def wait_healthy(service: str, timeout_s: float) -> None:
    """Every container of SERVICE running and healthy (or running, where it has no health
    check). The engine runs a health check every 30 s (its interval is also its start-up delay:
    engine 20.10 has no start_interval), so a container not yet healthy is asked directly, its
    own check by `docker exec`, every second: the driver joined about 18 s after its start, and
    `up --wait` saw it only at the next interval (docs/measurements.md, 2026-12-06)."""
    deadline = time.monotonic() + timeout_s
    fmt = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"
    why = ""
    while True:
        ids = containers(service, running=False)
        if not ids:
            raise Fail(f"error: no '{service}' container in project '{project()}'")
        pending = False
        for cid in ids:
            state = capture(["docker", "inspect", "-f", fmt, cid]).strip()
            if state in ("running healthy", "running"):
                continue
            if not state.startswith("running"):
                raise Fail(f"error: {service} container {cid[:12]} is '{state}'; see 'make logs'")
            test = health_test(cid)
            failed = health_now(cid, test) if test else "the engine has not yet found it healthy"
            if failed:
                pending, why = True, failed
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise Fail(f"error: {service} not healthy after {timeout_s:g} s ({why}); see 'make logs'")
        time.sleep(1)


def check_workers(text) -> int:
    """A worker count as make's WORKERS takes it: a whole number from 1 to 999, or Fail (exit 2)."""
    if not re.fullmatch(r"[1-9][0-9]{0,2}", str(text)):
        raise Fail(f"error: WORKERS must be a whole number from 1 to 999, got '{text}'", 2)
    return int(text)


def expect_nodes_for(workers) -> int:
    """Nodes that can run tasks: the workers, plus the head when it has CPUs (the Makefile's EXPECT_NODES)."""
    return int(workers) + head_cpu_nodes()


FRESH_STOP_S = 2


def bring_up(workers, expect_nodes=None, timeout_s=None, fresh: bool = False, quiet: bool = False) -> str:
    """`make up`: the folders and the image first, then head + WORKERS workers + the bench driver,
    healthy, with every CPU node joined; the running bench container's id ("" if none). make's
    own runs must not race the bench container's automatic first run, so it is off (BENCH_AUTORUN=0)."""
    start = time.monotonic()
    expect = expect_nodes or expect_nodes_for(workers)
    timeout_s = timeout_s or int(env("UP_TIMEOUT", "300"))
    dirs(argparse.Namespace(dirs=[env("RESULTS_DIR", "./results"), env("REPORTS_DIR", "./reports")]))
    check(ensure_image(None))
    os.environ["BENCH_AUTORUN"] = "0"
    # fresh: new containers, so a new Ray cluster (GCS, raylets) with no earlier driver jobs. The
    # old ones are thrown away, so they get FRESH_STOP_S, not Compose's 10 s, to leave: a worker
    # whose head is already gone sat out the whole 10 s (18 s of every make report and repro).
    scale = ["--scale", f"ray-worker={workers}",
             *(["--force-recreate", "--timeout", str(FRESH_STOP_S)] if fresh else [])]
    # Not `up --wait` (Compose v2): it waits for the engine's next health check, up to 10 s late.
    check(call([*compose(), "up", "-d", *scale], quiet=quiet) and 1)
    wait_healthy("bench", timeout_s)
    if call([*compose(), "exec", "-T", "bench", "python", "/usr/local/lib/bench-docker/wait_nodes.py",
             str(expect), "--timeout", str(timeout_s)], quiet=quiet) != 0:
        raise Fail(f"error: cluster did not reach {expect} CPU nodes; see 'make logs'")
    print(f"up: {expect} CPU nodes alive after {time.monotonic() - start:.1f} s")
    if dashboard_on():
        print(f"dashboard: http://{dashboard_address()}")
    return next(iter(containers("bench")), "")


def bench_container_after(container: str) -> str:
    if not container:
        raise Fail(f"error: no running bench container in project '{project()}' after up; see 'make logs'")
    return container


def up(args) -> int:
    bring_up(check_workers(args.workers), args.expect_nodes, args.timeout, fresh=args.fresh)
    return 0


def down(_args=None, quiet: bool = False) -> int:
    """Remove the project's containers, networks and volumes (so the token too: a new deployment gets a new one)."""
    return call([*compose(), "down", "--volumes", "--remove-orphans"], quiet=quiet)


def dashboard_address() -> str:
    """Where the head's dashboard is published on this host: DASHBOARD_PORT, or the free port
    Docker chose when it is empty."""
    heads = containers("ray-head")
    published = capture(["docker", "port", heads[0], "8265/tcp"]).split() if heads else []
    return published[0] if published else f"127.0.0.1:{env('DASHBOARD_PORT', '') or '8265'}"


def dashboard_on() -> bool:
    """Whether the running head serves the dashboard (DASHBOARD=1 in its environment)."""
    heads = containers("ray-head")
    lines = capture(["docker", "inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", heads[0]]) if heads else ""
    return "DASHBOARD=1" in lines.splitlines()


def workers_to_use(args, running: int, recorded: int | None = None, action: str = "restarts") -> int:
    """The worker count a target uses: WORKERS when the user gave it, else the count the results
    file recorded (make repro), else the running cluster's, else the default. A given WORKERS that
    cannot be honoured is refused in one line (exit 2)."""
    asked = int(args.workers)
    if recorded and args.workers_given and asked != recorded:
        raise Fail(f"error: the results file was recorded on {recorded} worker(s), and WORKERS={asked} would re-run "
                   f"it on another cluster; leave WORKERS out (make {action} with {recorded})", 2)
    if recorded:
        return recorded
    if args.workers_given:
        return asked
    return running or asked


def bench(args) -> int:
    container = args.container or next(iter(containers("bench")), None)
    if not container:
        raise Fail(f"error: the cluster is not up (no running bench container in project '{project()}'); "
                   "run 'make up' first", 2)
    running = len(containers("ray-worker"))
    if args.workers_given and running and running != int(args.workers):
        raise Fail(f"error: the running cluster has {running} worker(s), not WORKERS={args.workers}; "
                   f"'make up WORKERS={args.workers}' first, or leave WORKERS out", 2)
    expect = args.expect_nodes or expect_nodes_for(args.workers)
    if not args.workers_given and running and running != int(args.workers):
        expect = running + head_cpu_nodes()  # the running cluster's size, not the default's
    labels = capture(["docker", "inspect", "-f", LABELS_FMT, container])
    if is_stale(labels, source_hash()):
        print("bench: note: the running cluster's image was built from other sources than this checkout; "
              "this run uses it as it is ('make up' rebuilds the image and recreates the cluster)", file=sys.stderr)
    return run_in_bench(container, ["run", "--suite", args.suite, "--address", "auto", "--expect-nodes", str(expect),
                                    "--out", f"results/{args.name}.json"])


def run_in_bench(container: str, bench_args: list[str], quiet: bool = False) -> int:
    """`python -m bench ARGS` in the bench container, recording its image id, once any automatic
    run a plain `compose up` started there has finished."""
    check(call(["docker", "exec", container, "sh", "-c", AUTORUN_WAIT]))
    cmd = [*compose(), "exec", *exec_t(), "-e", f"BENCH_IMAGE_ID={image_id(container)}",
           "bench", "python", "-m", "bench", *bench_args]
    print(shlex.join(cmd))
    return call(cmd, quiet=quiet)


# Why make report and make repro start each on a fresh cluster: the first driver session of a
# cluster that had just run 100,000 naive tasks measured them 5-8% slower than a fresh
# cluster's first session did (docs/measurements.md, 2026-12-01), and a re-run is always a
# later session. Starting both from the same state costs about 20 s (18.5 s on 2026-12-06).
FRESH_WHY = "each measured run starts on a fresh cluster, so a re-run starts where its original did"


def restart_fresh(workers, bench_container: str | None) -> str:
    """Recreate the cluster (a new Ray: no earlier driver jobs) and return the new bench
    container. A suite the bench container is still running by itself (plain `compose up`)
    finishes first: its results are the user's, and recreating the container would kill it."""
    if bench_container:
        check(call(["docker", "exec", bench_container, "sh", "-c", AUTORUN_WAIT]))
    return bench_container_after(bring_up(workers, fresh=True))


# bench repro's codes, most telling first: 1 a claim or row differs, 2 a bad file or option,
# 3 a claim can't tell, 0 all hold; any other (a failed exec, an interrupt) goes before them all.
REPRO_STATUS_ORDER = (1, 2, 3, 0)


def most_telling(status: int, rc: int) -> int:
    """The status make repro ends with over its files: a differs in one is never hidden by a
    can't-tell (3) in the other, which max() did."""
    rank = {code: i for i, code in enumerate(REPRO_STATUS_ORDER)}
    return min(status, rc, key=lambda code: rank.get(code, -1))


def head_cpu_nodes() -> int:
    """1 when the head has CPUs (HEAD_CPUS > 0), so counts as a node that runs tasks."""
    return 1 if env("HEAD_CPUS", "0").isdigit() and int(env("HEAD_CPUS", "0")) > 0 else 0


def report(args) -> int:
    # THE one command: restart a running cluster (with WORKERS when given, else its worker
    # count), else start one.
    workers_running = containers("ray-worker")
    bench_running = containers("bench")
    workers = workers_to_use(args, len(workers_running))
    if workers_running and bench_running:
        labels = capture(["docker", "inspect", "-f", LABELS_FMT, bench_running[0]]) or f"{IMAGE_TITLE} unknown"
        why = "its image was built from other sources" if is_stale(labels, source_hash()) else FRESH_WHY
        other = f", with {workers} (WORKERS)" if workers != len(workers_running) else ""
        print(f"report: restarting the running cluster ({len(workers_running)} workers){other}: {why}")
    container = restart_fresh(workers, bench_running[0] if bench_running else None)
    suites = [args.suite] + (["heavy"] if args.suite == "standard" and not args.no_heavy else [])
    # the suites, then the report over their files: `bench suites`, the same sequence as the
    # bench container's automatic run (docker/entrypoint.sh)
    check(run_in_bench(container, ["suites", *suites, "--name", args.name, "--address", "auto",
                                   "--expect-nodes", str(expect_nodes_for(workers)), "--report", "reports/index.html"]))
    print(f"report: {env('REPORTS_DIR')}/index.html (results: {env('RESULTS_DIR')}/{args.name}.json)")
    return 0


def latest_results(args) -> int:
    """The newest results file of a plain suite run (make report, make bench, bench run): not a
    heavy, chaos, scaling, speed or re-run file."""
    try:
        files = sorted(Path(args.dir).glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        files = []
    for path in files:
        name = path.name
        if "-heavy" in name or name.startswith(("heavy-", "chaos-", "scaling-", "speed-")) or "-repro-" in name \
                or name.endswith(".speed.json"):
            continue
        print(path)
        break
    return 0


def recorded_workers(path: Path) -> int | None:
    """The worker containers a results file ran on: its alive CPU nodes, less the head when it has CPUs."""
    try:
        data = json.loads(path.read_text())
        cluster = data.get("cluster") or {}
        nodes = cluster.get("nodes") or []
        on_cluster = cluster.get("mode") == "existing" or bool((data.get("config") or {}).get("address"))
    except (OSError, ValueError, AttributeError):
        return None
    if not on_cluster:
        return None  # an embedded run: no worker count to keep
    cpu_nodes = sum(1 for n in nodes if isinstance(n, dict) and n.get("alive", True) and (n.get("cpus") or 0) > 0)
    return (cpu_nodes - head_cpu_nodes()) or None


def bring_into_results(given: Path, results_dir: Path, heavy: str) -> None:
    """A results file from elsewhere (e.g. ../shared/results/) copied into the results directory,
    with its -heavy partner: the bench container sees only that directory. A different file of
    the same name already there is never overwritten (Fail, exit 2)."""
    if (results_dir / given.name).is_file() and (not given.is_file() or given.resolve() == (results_dir / given.name).resolve()):
        return
    if not given.is_file():
        raise Fail(f"error: {given}: no such file (nor {given.name} in {results_dir})", 2)
    sources = [given] + ([given.with_name(heavy)] if given.with_name(heavy).is_file() else [])
    for source in sources:  # every refusal before any copy: the pair comes in whole or not at all
        target = results_dir / source.name
        if target.is_file() and target.read_bytes() != source.read_bytes():
            raise Fail(f"error: {target} exists and differs from {source}; rename one of them", 2)
    for source in sources:
        target = results_dir / source.name
        if target.is_file():
            continue
        results_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copy2(source, partial)  # its time too: a shared file is not "the newest run" here
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        partial.replace(target)  # atomic: never a half-copied results file
        print(f"repro: copied {source} to {target} (the bench container sees only {results_dir}/)")


def repro(args) -> int:
    # Re-run what a results file records on the running cluster and judge each row against it
    # (bench repro: claims, then rows; exit 1 if one differs, 3 if a claim can't tell); its NAME-heavy.json partner
    # from `make report` after it when present. reports/repro/index.html sets each beside its original.
    results_dir = Path(env("RESULTS_DIR", "results"))
    name = Path(args.file).name
    heavy = name[:-len(".json")] + "-heavy.json" if name.endswith(".json") else name + "-heavy.json"
    bring_into_results(Path(args.file), results_dir, heavy)
    workers = workers_to_use(args, len(containers("ray-worker")), recorded_workers(results_dir / name), "repro")
    bench_running = containers("bench")
    print(f"repro: {'restarting' if bench_running else 'starting'} the cluster ({workers} workers): {FRESH_WHY}")
    container = restart_fresh(workers, bench_running[0] if bench_running else None)  # its image id is asked again
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    status, pairs = 0, []
    for f in [name] + ([heavy] if (results_dir / heavy).is_file() else []):
        new = f"{f[:-len('.json')] if f.endswith('.json') else f}-repro-{stamp}.json"
        print(f"repro: results/{f} -> results/{new}")
        tolerance = ["--tolerance", args.tolerance] if args.tolerance else []
        rc = call([*compose(), "exec", *exec_t(), "-e", f"BENCH_IMAGE_ID={image_id(container)}",
                   "bench", "python", "-m", "bench", "repro", f"results/{f}", "--out", f"results/{new}",
                   "--address", "auto", *tolerance])
        status = most_telling(status, rc)
        if (results_dir / new).is_file():
            pairs += [f"results/{f}", f"results/{new}"]
    if pairs:
        rendered = subprocess.run([*compose(), "exec", "-T", "bench", "python", "-m", "bench", "report", *pairs,
                                   "--out", "reports/repro/index.html"], stdout=subprocess.DEVNULL).returncode
        if rendered == 0:
            print(f"repro: {env('REPORTS_DIR')}/repro/index.html (the reproduction table per workload)")
    return status


def batch_sizes(text: str) -> list[int]:
    """A comma list of whole numbers >= 1 (the chaos sweep's batch sizes), sorted, or Fail (exit 2)."""
    items = [item.strip().replace("_", "") for item in str(text).split(",")]
    if not items or any(not item.isdigit() or int(item) < 1 for item in items):
        raise Fail(f"error: batch sizes must be a comma list of whole numbers >= 1 (e.g. 100,1000,10000), got '{text}'", 2)
    return sorted({int(item) for item in items})


def chaos(args) -> int:
    # Fault scenarios (scripts/chaos.py): kill a worker mid-run (answers must stay correct),
    # or kill the head (the bench must exit 1 within 60 s, results kept, marked incomplete),
    # or the sweep: one worker killed mid-trial at each batch size, the cost against B.
    sizes = batch_sizes(args.batch_sizes) if args.scenario == "sweep" else []
    if not containers("bench"):
        bring_up(check_workers(args.workers), args.expect_nodes)
    cmd = [sys.executable, str(ROOT / "scripts" / "chaos.py"), args.scenario, "--project", project(),
           "--results-dir", env("RESULTS_DIR", "./results"), "--expect-nodes", str(args.expect_nodes),
           "--name", args.name]
    if args.scenario == "sweep":
        return chaos_sweep(cmd + ["--workers", str(args.workers), "--batch-sizes", ",".join(map(str, sizes))],
                           args.name, sizes)
    print(shlex.join(cmd))
    check(call(cmd))
    if args.scenario == "worker":
        cmd = [*compose(), "exec", "-T", "bench", "python", "-m", "bench", "report", f"results/{args.name}.json",
               "--out", "reports/chaos/index.html"]
        print(shlex.join(cmd))
        check(call(cmd))
        print(f"chaos: {env('REPORTS_DIR')}/chaos/index.html (results: {env('RESULTS_DIR')}/{args.name}.json)")
    return 0


def chaos_sweep(cmd: list[str], name: str, sizes: list[int]) -> int:
    """The sweep, then one report over every file it left (also after a failed point: the page says what happened)."""
    print(shlex.join(cmd))
    rc = call(cmd)
    files = [f"results/{name}-B{size}.json" for size in sizes
             if (Path(env("RESULTS_DIR", "./results")) / f"{name}-B{size}.json").is_file()]
    if files:
        report = [*compose(), "exec", "-T", "bench", "python", "-m", "bench", "report", *files,
                  "--out", "reports/chaos-sweep/index.html"]
        print(shlex.join(report))
        rc = rc or call(report)
        print(f"chaos: {env('REPORTS_DIR')}/chaos-sweep/index.html (results: {len(files)} file(s) "
              f"{env('RESULTS_DIR')}/{name}-B*.json)")
    return rc


def scaling(args) -> int:
    # The quick (overhead-bound) and heavy (work-bound) suites at each worker count, one report.
    counts = [check_workers(n) for n in args.workers.split()]
    files = []
    for n in counts:
        container = bench_container_after(bring_up(n))
        for suite in ("quick", "heavy"):
            check(run_in_bench(container, ["run", "--suite", suite, "--address", "auto", "--expect-nodes",
                                           str(expect_nodes_for(n)), "--out", f"results/{args.name}-w{n}-{suite}.json"]))
            files.append(f"results/{args.name}-w{n}-{suite}.json")
    check(call([*compose(), "exec", "-T", "bench", "python", "-m", "bench", "report", *files,
                "--out", "reports/scaling/index.html"]))
    print(f"scaling: {env('REPORTS_DIR')}/scaling/index.html")
    return 0


RENDER_TIMER = """import subprocess, sys, time
t = time.perf_counter()
subprocess.run([sys.executable, '-m', 'bench', 'report', sys.argv[1], '--out', 'reports/speed/index.html'],
               check=True, capture_output=True)
print(f'{time.perf_counter() - t:.2f}')"""


def speed(args) -> int:
    # The appliance's own speed, a documented benchmark (not a timed test): up -> all nodes
    # alive, suite wall time, report render time, and the harness overhead (ray-naive tasks/s
    # over the calibration no-op rate; >= 0.9: the harness costs little). Starts from `make
    # down`, so it replaces a running cluster.
    name = f"speed-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    workers = check_workers(args.workers)
    down(quiet=True)
    t = time.monotonic()
    container = bench_container_after(bring_up(workers, quiet=True))
    up_s = round(time.monotonic() - t, 1)
    t = time.monotonic()
    check(run_in_bench(container, ["run", "--suite", args.suite, "--address", "auto", "--expect-nodes",
                                   str(expect_nodes_for(workers)), "--out", f"results/{name}.json"], quiet=True))
    suite_s = round(time.monotonic() - t, 1)
    render = subprocess.run([*compose(), "exec", "-T", "bench", "python", "-c", RENDER_TIMER, f"results/{name}.json"],
                            capture_output=True, text=True)
    if render.returncode != 0:
        raise Fail(f"error: the report did not render: {(render.stderr.strip().splitlines() or ['?'])[-1]}")
    path = Path(env("RESULTS_DIR", "./results")) / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Fail(f"error: {path}: {exc}") from None
    harness = (data.get("analysis") or {}).get("harness") or {}
    summary = {"workers": int(args.workers), "suite": args.suite, "up_to_all_alive_s": up_s,
               "suite_wall_s": suite_s, "report_render_s": float(render.stdout.strip()),
               "harness_ratio": harness.get("ratio"), "naive_tasks_per_s": harness.get("naive_tasks_per_s"),
               "calibration_tasks_per_s": harness.get("calibration_tasks_per_s"), "results": str(path)}
    path.with_suffix(".speed.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(prog="appliance.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("containers")
    p.add_argument("service")
    p.add_argument("--all", action="store_true", help="stopped ones too")
    p.add_argument("--project", help="compose project (default: $COMPOSE_PROJECT_NAME)")
    p.set_defaults(func=lambda a: print("\n".join(containers(a.service, a.project, running=not a.all))) or 0)
    p = sub.add_parser("latest-results")
    p.add_argument("dir")
    p.set_defaults(func=latest_results)
    sub.add_parser("source-hash").set_defaults(func=lambda a: print(source_hash()) or 0)
    sub.add_parser("ensure-image").set_defaults(func=ensure_image)
    sub.add_parser("image").set_defaults(func=image)
    p = sub.add_parser("image-build")
    p.add_argument("--base", required=True, help="the image to build FROM")
    p.set_defaults(func=image_build)
    sub.add_parser("image-offline").set_defaults(func=image_offline)
    sub.add_parser("down").set_defaults(func=down)
    p = sub.add_parser("dirs")
    p.add_argument("dirs", nargs="+")
    p.set_defaults(func=dirs)
    p = sub.add_parser("wait-healthy")
    p.add_argument("service")
    p.add_argument("timeout", type=int, nargs="?", default=180)
    p.set_defaults(func=lambda a: wait_healthy(a.service, a.timeout) or 0)
    p = sub.add_parser("up")
    p.add_argument("--workers", required=True)
    p.add_argument("--expect-nodes", required=True)
    p.add_argument("--timeout", type=int, required=True)
    p.add_argument("--fresh", action="store_true", help="recreate running containers: a new Ray cluster")
    p.set_defaults(func=up)
    given = "WORKERS was given by the user: honour it, or refuse in one line"
    p = sub.add_parser("bench")
    for opt in ("--suite", "--expect-nodes", "--name", "--workers"):
        p.add_argument(opt, required=True)
    p.add_argument("--container", help="the bench container (default: the project's running one)")
    p.add_argument("--workers-given", action="store_true", help=given)
    p.set_defaults(func=bench)
    p = sub.add_parser("report")
    for opt in ("--suite", "--workers", "--name"):
        p.add_argument(opt, required=True)
    p.add_argument("--workers-given", action="store_true", help=given)
    p.add_argument("--no-heavy", action="store_true")
    p.set_defaults(func=report)
    p = sub.add_parser("repro")
    p.add_argument("--file", required=True)
    p.add_argument("--tolerance")
    p.add_argument("--workers", required=True, help="when the file records no node count")
    p.add_argument("--workers-given", action="store_true", help=given)
    p.set_defaults(func=repro)
    p = sub.add_parser("chaos")
    p.add_argument("scenario", choices=["worker", "head", "sweep"])
    for opt in ("--workers", "--expect-nodes", "--name"):
        p.add_argument(opt, required=True)
    p.add_argument("--batch-sizes", default="100,1000,10000", help="sweep only")
    p.set_defaults(func=chaos)
    p = sub.add_parser("scaling")
    p.add_argument("--workers", required=True, help="worker counts, space-separated")
    p.add_argument("--name", required=True)
    p.set_defaults(func=scaling)
    p = sub.add_parser("speed")
    p.add_argument("--workers", required=True)
    p.add_argument("--suite", default="quick")
    p.set_defaults(func=speed)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Fail as exc:
        print(exc, file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
