"""Commands that rerun the same suite with the same parameters and seed, for the page's "Reproduce this".

The flags come from the recorded config through bench.options (one table of run options);
a v1 file gets a config rebuilt from its runs when bench.results upgrades it on load.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from bench import options
from bench.report.view import nodes_of
from bench.results import Results


@dataclass(frozen=True)
class CommandBlock:
    title: str
    lines: tuple[str, ...]  # lines starting with '#' are comments


@dataclass(frozen=True)
class Reproduce:
    blocks: tuple[CommandBlock, ...]
    explicit: str  # the run command with every parameter spelled out


def reproduce(results: Results, path: str | None = None) -> Reproduce:
    """Commands that rerun the same suite with the same parameters and seed; with the file's path, `bench repro`."""
    argv = options.argv_from_config(results.config)
    blocks = _blocks(results, argv)
    if path:
        blocks.append(_repro_block(results, path))
    return Reproduce(tuple(blocks), shlex.join(argv))


def _repro_block(results: Results, path: str) -> CommandBlock:
    """`bench repro`: the same re-run, then a verdict per row against this file."""
    name = Path(path).name
    # bench repro refuses a config that bench.results rebuilt from a v1 file's runs: not exact
    if results.config and not results.config.get("reconstructed_from"):
        lines = [shlex.join(["python", "-m", "bench", "repro", path]),
                 "# in the Docker appliance (the file in results/):",
                 shlex.join(["make", "repro", f"FILE=results/{name}"])]
    else:  # written before the run configuration was recorded: re-run by hand, then compare the two
        lines = ["# this file predates the recorded run configuration: re-run with the command above, then",
                 shlex.join(["python", "-m", "bench", "repro", path, "NEW.json"])]
    return CommandBlock("Re-run and check each row against this file (exit 1 if a row differs beyond tolerance)",
                        tuple(lines))


def _compose_lines(results: Results, argv: list[str]) -> list[str]:
    """The same run inside the Docker appliance: against its cluster, with as many workers."""
    meta = results.metadata
    # Nodes that ran tasks: in the appliance these are the workers (the head has 0 CPUs).
    workers = len([n for n in nodes_of(results) if n.get("alive", True) and (n.get("cpus") or 0) > 0])
    docker_run = list(argv)
    if "--address" not in docker_run:
        docker_run += ["--address", "auto"]
    if "--num-cpus" in docker_run:  # embedded-only flag
        index = docker_run.index("--num-cpus")
        del docker_run[index:index + 2]
    if "--expect-nodes" not in docker_run and workers:
        docker_run += ["--expect-nodes", str(workers)]
    lines = []
    if meta.get("image"):
        lines.append(f"# image used: {meta.get('image')}" + (f" ({meta.get('image_id')})" if meta.get("image_id") else ""))
    return lines + [
        f"docker compose up -d --scale ray-worker={workers or 1}",
        "docker compose exec bench " + shlex.join(docker_run),
        "# or, for the whole appliance flow (cluster, suite, this report):",
        "make report",
    ]


def _blocks(results: Results, argv: list[str]) -> list[CommandBlock]:
    meta = results.metadata
    commit = meta.get("git_commit")
    return [
        CommandBlock("Same code", (f"git checkout {commit}",) if commit
                     else ("# the git commit was not recorded; use bench " + str(meta.get("bench_version", "?")),)),
        CommandBlock("As it was run", (str(meta.get("command_line") or "# not recorded"),)),
        CommandBlock("Same suite, every parameter spelled out (defaults can change between versions)",
                     (shlex.join(argv),)),
        CommandBlock("In the Docker appliance", tuple(_compose_lines(results, argv))),
    ]
