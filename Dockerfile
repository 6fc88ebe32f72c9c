# One image for the Ray head, the workers and the bench driver: Ray requires the same
# Python (to the patch level) and the same Ray on every node.
# Only classic Dockerfile syntax, so the legacy builder (no BuildKit) builds it.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1
COPY requirements/runtime.lock /tmp/build/runtime.lock
# The wheelhouse may hold only .gitkeep; then the install falls back to PyPI.
# The lock's own --find-links names a host-only folder, so it is dropped below.
COPY docker/wheels/ /tmp/build/wheels/
RUN set -eu; \
    python3 -m venv /opt/venv; \
    if ls /tmp/build/wheels/*.whl >/dev/null 2>&1; then \
        echo "deps: installing from the wheelhouse (no index)"; \
        set -- --no-index --find-links /tmp/build/wheels; \
    else \
        echo "deps: no wheelhouse, installing from PyPI"; \
        set --; \
    fi; \
    grep -v '^--find-links' /tmp/build/runtime.lock >/tmp/build/requirements.txt; \
    /opt/venv/bin/pip install --require-hashes "$@" -r /tmp/build/requirements.txt; \
    /opt/venv/bin/python -c "import ray, numpy, scipy, matplotlib; print('deps: ray', ray.__version__)"; \
    /opt/venv/bin/python -m compileall -q -j 0 /opt/venv >/dev/null || true

# Bytecode stays in the image: the venv is read-only for the non-root user, and without
# .pyc every Ray process recompiles its modules (the head then times out on 2 cores).

# The final stage copies only the venv, so the wheelhouse never becomes a layer.
FROM ${BASE_IMAGE}
ARG APP_UID=1000
# The non-root user, uid APP_UID. A base that already has that uid (rayproject/ray: `ray`,
# uid 1000, group users) keeps its user; otherwise user and group `ray` are created.
# (tests/test_real_clusters.py runs this step against stub bases.)
RUN set -eu; \
    if getent passwd "${APP_UID}" >/dev/null; then \
        echo "user: reusing the base image's uid-${APP_UID} user $(getent passwd "${APP_UID}" | cut -d: -f1)"; \
    elif getent passwd ray >/dev/null; then \
        echo "user: the base has a user ray with uid $(id -u ray), not ${APP_UID}: build with --build-arg APP_UID=$(id -u ray)" >&2; \
        exit 1; \
    else \
        getent group "${APP_UID}" >/dev/null || groupadd --gid "${APP_UID}" ray; \
        useradd --uid "${APP_UID}" --gid "${APP_UID}" --create-home --shell /bin/bash ray; \
    fi; \
    mkdir -p /app/results /app/reports; \
    chown "${APP_UID}:$(id -g "${APP_UID}")" /app/results /app/reports

COPY --from=deps /opt/venv /opt/venv
COPY docker/entrypoint.sh docker/healthcheck.sh /usr/local/bin/
COPY docker/wait_nodes.py /usr/local/lib/bench-docker/
COPY pyproject.toml /app/
COPY templates/ /app/templates/
COPY bench/ /app/bench/

# Per-build values come last: they change every build and would void the layer cache
# of the (slow) venv copy above.
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG VCS_REF=unknown
ARG VCS_DIRTY=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="ray-granularity-bench" \
      org.opencontainers.image.description="Ray task-granularity benchmark appliance: head, workers and bench driver in one image" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# PYTHONPATH rather than `pip install`: no build backend is needed at image build time,
# and Ray workers import the same /app/bench the driver runs.
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    RAY_USAGE_STATS_ENABLED=0 \
    BENCH_IMAGE_VERSION=${VERSION} \
    BENCH_IMAGE_REVISION=${VCS_REF} \
    BENCH_GIT_COMMIT=${VCS_REF} \
    BENCH_GIT_DIRTY=${VCS_DIRTY}

# Numeric, so Kubernetes' runAsNonRoot can verify it, and whatever the base named the user.
USER ${APP_UID}
WORKDIR /app
# No HEALTHCHECK here: docker-compose.yml sets one only on the bench service. An image
# check would run on every node while idle, and Compose v2's `up --wait` refuses a
# container whose image check is disabled ("has no healthcheck configured").
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["head"]
