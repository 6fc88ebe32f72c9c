"""The results model and its versioned JSON file.

Format changelog (bump SCHEMA_VERSION on any incompatible change):
  1  first version: metadata, cluster (nodes, calibration), runs with raw samples.

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

from bench.errors import RuntimeFailure, UsageError

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)

REQUIRED_TOP_LEVEL = ("schema_version", "metadata", "cluster", "runs", "workload")
REQUIRED_RUN_KEYS = ("mode", "params", "samples", "stats", "correct")


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
    # The validated run parameters (bench.suites.RunConfig.describe).
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Figures derived from the raw samples (bench.model); recomputable, never edited by hand.
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
        if not isinstance(data, dict):
            raise UsageError(f"{source}: not a results file (top level is not a JSON object)")
        if "schema_version" not in data:
            raise UsageError(f"{source}: not a results file (no schema_version)")
        version = data["schema_version"]
        if version not in SUPPORTED_VERSIONS:
            raise UsageError(
                f"{source}: unsupported schema_version {version!r} "
                f"(this bench reads {', '.join(map(str, SUPPORTED_VERSIONS))})"
            )
        missing = [key for key in REQUIRED_TOP_LEVEL if key not in data]
        if missing:
            raise UsageError(f"{source}: not a results file (missing {', '.join(missing)})")
        for key in ("metadata", "cluster", "workload"):
            if not isinstance(data[key], dict):
                raise UsageError(f"{source}: not a results file ({key} is not an object)")
        if not isinstance(data["runs"], list):
            raise UsageError(f"{source}: not a results file (runs is not a list)")
        runs = []
        for index, run in enumerate(data["runs"]):
            absent = [key for key in REQUIRED_RUN_KEYS if not isinstance(run, dict) or key not in run]
            if absent:
                raise UsageError(f"{source}: run {index} is missing {', '.join(absent)}")
            wrong = [key for key in ("params", "samples", "stats") if not isinstance(run[key], dict)]
            if wrong:
                raise UsageError(f"{source}: run {index} has a malformed {', '.join(wrong)} (not an object)")
            runs.append(Run.from_dict(run))
        return cls(
            metadata=_freeze(data["metadata"]),
            workload=_freeze(data["workload"]),
            cluster=_freeze(data["cluster"]),
            runs=tuple(runs),
            status=data.get("status", "complete"),
            incomplete_reason=data.get("incomplete_reason"),
            suite=data.get("suite"),
            analysis=_freeze(data.get("analysis") or {}),
            config=_freeze(data.get("config") or {}),
            schema_version=version,
        )


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
    """Write results; with overwrite=False, a name taken meanwhile by another run moves this
    one to the next free name. Returns the path written."""
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
    return Results.from_dict(data, source=source)
