"""The results model and its versioned JSON file.

Format changelog (bump SCHEMA_VERSION on any incompatible change, and add an upgrade):
  1  first version: metadata, cluster (nodes, calibration), runs with raw samples.
  2  every file has every top-level key, and a config holding every option of the same
     experiment (bench.options); analysis.model, where present, carries its relative fit
     quality (rms_relative_error, ...). v1 files are upgraded once, on load
     (upgrade_v1_to_v2), so readers see one shape; files are always written as v2.

The JSON Schema of the current version is generated from this model by bench.schema and
committed as schema/results-v2.json; regenerate it with

    python -m bench.schema > schema/results-v2.json

(tests/test_schema.py fails while the committed file differs from the generated one).

A results file is written atomically (temp file + fsync + rename), so a reader
never sees a truncated file, and it is never overwritten without `force`.
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from bench import options
from bench.errors import RuntimeFailure, UsageError
from bench.stats import MISFIT

SETTLE_BUSY_CORES = 0.25  # quiet enough to start measuring (an idle compose cluster: ~0.07)

SCHEMA_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)

REQUIRED_TOP_LEVEL = ("schema_version", "metadata", "cluster", "runs", "workload")
REQUIRED_RUN_KEYS = ("mode", "params", "samples", "stats", "correct")
STATUSES = ("complete", "incomplete")


def _freeze(value):
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value):
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf; absent is honest
    return value


@dataclass(frozen=True)
class Run:
    """One mode at one configuration: raw samples per trial plus their summary."""

    mode: str
    label: str
    params: Mapping[str, Any]
    samples: Mapping[str, tuple]
    stats: Mapping[str, Mapping[str, float]]
    correct: bool
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_dict(cls, data: dict) -> "Run":
        known = {"mode", "label", "params", "samples", "stats", "correct"}
        return cls(
            mode=data["mode"],
            label=data.get("label") or data["mode"],
            params=_freeze(data["params"]),
            samples=_freeze(data["samples"]),
            stats=_freeze(data["stats"]),
            correct=bool(data["correct"]),
            extra=_freeze({k: v for k, v in data.items() if k not in known}),
        )

    def to_dict(self) -> dict:
        out = {
            "mode": self.mode,
            "label": self.label,
            "params": _thaw(self.params),
            "samples": _thaw(self.samples),
            "stats": _thaw(self.stats),
            "correct": self.correct,
        }
        out.update(_thaw(self.extra))
        return out


@dataclass(frozen=True)
class Results:
    metadata: Mapping[str, Any]
    workload: Mapping[str, Any]
    cluster: Mapping[str, Any]
    runs: tuple[Run, ...]
    status: str = "complete"  # or "incomplete"
    incomplete_reason: str | None = None
    suite: str | None = None
    # The validated run parameters (bench.engine.suites.RunConfig.describe).
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Figures derived from the raw samples (bench.analysis.model); recomputable, never edited by hand.
    analysis: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    schema_version: int = SCHEMA_VERSION

    def with_run(self, run: Run) -> "Results":
        return replace(self, runs=self.runs + (run,))

    def with_runs(self, runs: tuple[Run, ...]) -> "Results":
        return replace(self, runs=tuple(runs))

    def with_config_extra(self, **updates) -> "Results":
        merged = dict(_thaw(self.config))
        merged.update(updates)
        return replace(self, config=_freeze(merged))

    def with_status(self, status: str, reason: str | None = None) -> "Results":
        return replace(self, status=status, incomplete_reason=reason)

    def with_analysis(self, analysis: dict) -> "Results":
        return replace(self, analysis=_freeze(analysis))

    def with_cluster(self, **updates) -> "Results":
        merged = dict(_thaw(self.cluster))
        merged.update(updates)
        return replace(self, cluster=_freeze(merged))

    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "status": self.status,
            "incomplete_reason": self.incomplete_reason,
            "suite": self.suite,
            "config": _thaw(self.config),
            "workload": _thaw(self.workload),
            "metadata": _thaw(self.metadata),
            "cluster": _thaw(self.cluster),
            "runs": [run.to_dict() for run in self.runs],
            "analysis": _thaw(self.analysis),
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "results") -> "Results":
        """The results in data, checked (check_shape) but not upgraded: load() upgrades first."""
        check_shape(data, source)
        return cls(
            metadata=_freeze(data["metadata"]),
            workload=_freeze(data["workload"]),
            cluster=_freeze(data["cluster"]),
            runs=tuple(Run.from_dict(run) for run in data["runs"]),
            status=data.get("status", "complete"),
            incomplete_reason=data.get("incomplete_reason"),
            suite=data.get("suite"),
            analysis=_freeze(data.get("analysis") or {}),
            config=_freeze(data.get("config") or {}),
            schema_version=data["schema_version"],
        )


def _check_version(data: dict, source: str) -> None:
    if "schema_version" not in data:
        raise UsageError(f"{source}: not a results file (no schema_version)")
    version = data["schema_version"]
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise UsageError(f"{source}: unsupported schema_version {version} (written by a newer bench; this one reads "
                         f"{', '.join(map(str, SUPPORTED_VERSIONS))}): upgrade bench to read it")
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise UsageError(
            f"{source}: unsupported schema_version {version!r} "
            f"(this bench reads {', '.join(map(str, SUPPORTED_VERSIONS))})"
        )


def check_shape(data, source: str = "results") -> None:
    """Reject, in one line naming what is wrong, anything that is not a results file of a known version."""
    if not isinstance(data, dict):
        raise UsageError(f"{source}: not a results file (top level is not a JSON object)")
    _check_version(data, source)
    missing = [key for key in REQUIRED_TOP_LEVEL if key not in data]
    if missing:
        raise UsageError(f"{source}: not a results file (missing {', '.join(missing)})")
    for key in ("metadata", "cluster", "workload"):
        if not isinstance(data[key], dict):
            raise UsageError(f"{source}: not a results file ({key} is not an object)")
    if not isinstance(data["runs"], list):
        raise UsageError(f"{source}: not a results file (runs is not a list)")
    for index, run in enumerate(data["runs"]):
        absent = [key for key in REQUIRED_RUN_KEYS if not isinstance(run, dict) or key not in run]
        if absent:
            raise UsageError(f"{source}: run {index} is missing {', '.join(absent)}")
        wrong = [key for key in ("params", "samples", "stats") if not isinstance(run[key], dict)]
        if wrong:
            raise UsageError(f"{source}: run {index} has a malformed {', '.join(wrong)} (not an object)")


def check_output_path(path: str | os.PathLike, force: bool) -> Path:
    """Fail fast, before any work, if the results could not be written."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{target} is a directory, not a file path")
    if target.exists() and not force:
        raise UsageError(f"{target} already exists (use --force to overwrite)")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {target}: directory {parent} does not exist")
    # Probe by creating a file: os.access() says yes to root even where writes fail.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: directory {parent} is not writable ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)
    return target


def write_atomic(path: str | os.PathLike, text: str, overwrite: bool = True) -> None:
    """Write via a temporary file, so readers see the old file or the new one, never half.
    With overwrite=False an existing file is never clobbered (FileExistsError), even by a
    run that created it a moment ago: the new name is hard-linked, which fails if taken."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        if overwrite:
            os.replace(tmp, target)
        else:
            _link_new(tmp, target)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _link_new(tmp: str, target: Path) -> None:
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV, errno.ENOSYS):
            raise
        # A filesystem without hard links: check, then rename (a narrow race, not atomic).
        if target.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
        os.replace(tmp, target)


def next_free_name(path: Path) -> Path:
    """results/x.json -> results/x-2.json, x-3.json, ... the first that does not exist."""
    for n in itertools.count(2):
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise AssertionError("unreachable")


def save(results: Results, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write results, always as the current schema version; with overwrite=False, a name taken
    meanwhile by another run moves this one to the next free name. Returns the path written."""
    if results.schema_version != SCHEMA_VERSION:
        results = Results.from_dict(upgrade(results.to_dict()))
    wanted = target = Path(path)
    text = json.dumps(results.to_dict(), indent=1, allow_nan=False) + "\n"
    while True:
        try:
            write_atomic(target, text, overwrite=overwrite)
            return target
        except FileExistsError:
            target = next_free_name(wanted)
        except OSError as exc:
            raise RuntimeFailure(f"cannot write {target}: {exc.strerror or exc}") from None


def load(path: str | os.PathLike) -> Results:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{source}: no such results file") from None
    except IsADirectoryError:
        raise UsageError(f"{source}: is a directory, not a results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{source}: cannot read ({exc})") from None
    if not text.strip():
        raise UsageError(f"{source}: empty file, not a results file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not valid JSON (truncated or corrupt?): {exc.msg} at line {exc.lineno}") from None
    check_shape(data, source)
    return Results.from_dict(upgrade(data), source=source)


# --- upgrades: each turns a checked file of version N into version N + 1 (asv's update_to_N style) ---


def _config_from_runs(data: dict) -> dict:
    """A v1 file without a recorded config: the options its runs and workload show, as the
    report's reproduce command used to rebuild them. Marked reconstructed_from: not exact
    (e.g. whether --trials was given), so `bench repro` still refuses to re-run it."""
    workload, cluster, meta, runs = data["workload"], data["cluster"], data["metadata"], data["runs"]

    def swept(mode: str, key: str) -> list[int]:
        return sorted({int(r["params"][key]) for r in runs if r["mode"] == mode and r["params"].get(key)})

    address = cluster.get("address") or None
    cpus, host_cpus = cluster.get("cluster_cpus"), meta.get("cpu_count")
    embedded_subset = cluster.get("mode") == "embedded" and cpus and host_cpus and cpus < host_cpus
    found = {
        "suite": data.get("suite"), "modes": list(dict.fromkeys(r["mode"] for r in runs)),
        **{key: workload.get(key) for key in ("queries", "array_size", "value_range", "seed")},
        "trials": max((r["params"].get("trials") or 0 for r in runs), default=0) or None,
        "batch_sizes": swept("ray-batched", "batch_size"), "naive_tasks": swept("ray-naive", "tasks"),
        "window": next((r["params"]["window"] for r in runs if r["params"].get("window")), None),
        "address": address, "expect_nodes": cluster.get("expected_nodes") or None,
        "num_cpus": int(cpus) if embedded_subset and not address else None,
    }
    config = {opt.key: found.get(opt.key) for opt in options.EXPERIMENT_OPTIONS}
    config["reconstructed_from"] = "runs (a schema v1 file that recorded no config)"
    return config


def _model_fit_quality(model: dict) -> dict:
    """A v1 model recorded only R²: add its relative fit quality, from its own points."""
    points = [dict(p) for p in model.get("points") or ()]
    if model.get("rms_relative_error") is not None or not points \
            or not all(p.get("measured_s") and p.get("predicted_s") is not None for p in points):
        return model
    residuals = [p["predicted_s"] / p["measured_s"] - 1.0 for p in points]
    worst = max(range(len(residuals)), key=lambda i: abs(residuals[i]))
    for point, residual in zip(points, residuals):
        point.setdefault("relative_residual", residual)
    return {
        **model,
        "fitted_on": model.get("fitted_on") or "not recorded (schema v1); relative errors computed from its points",
        "rms_relative_error": math.sqrt(sum(r * r for r in residuals) / len(residuals)),
        "max_relative_residual": residuals[worst],
        "max_relative_residual_index": worst,
        "misfit": abs(residuals[worst]) > MISFIT,
        "worst_point_batch_size": points[worst].get("batch_size"),
        "points": points,
    }


def upgrade_v1_to_v2(data: dict) -> dict:
    """A checked v1 file's data as v2 (a new dict; data is not changed): every top-level key
    present, a config (reconstructed from the runs where the file recorded none), and the
    model's relative fit quality. What the report used to rebuild for older files, done once."""
    out = json.loads(json.dumps(data))  # a deep copy of JSON data
    out.setdefault("status", "complete")
    out.setdefault("incomplete_reason", None)
    out.setdefault("suite", None)
    recorded = out.get("config") or {}
    # a recorded config lacks the options added since it was written: null, as for "not given"
    out["config"] = {**{opt.key: None for opt in options.EXPERIMENT_OPTIONS}, **recorded} if recorded \
        else _config_from_runs(out)
    out["analysis"] = out.get("analysis") or {}
    if isinstance(out["analysis"].get("model"), dict):
        out["analysis"]["model"] = _model_fit_quality(out["analysis"]["model"])
    out["schema_version"] = 2
    return out


UPGRADES = {1: upgrade_v1_to_v2}


def upgrade(data: dict) -> dict:
    """A checked file's data in the current schema version, applying each upgrade in turn."""
    while data["schema_version"] < SCHEMA_VERSION:
        data = UPGRADES[data["schema_version"]](data)
    return data


def item_words(described) -> tuple[str, str]:
    """(plural, singular) for one unit of work in a results file's workload record: the seeded
    lookups, or "items" of a user's function (--workload)."""
    return ("items", "item") if (described or {}).get("kind") == "function" else ("lookups", "lookup")
