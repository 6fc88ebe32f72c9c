#!/usr/bin/env python3
"""Mutation score of `make mutation` (issue 12), per module and overall.

    mutmut results --all true | scripts/mutation_score.py PATTERN...
    .venv/bin/python scripts/mutation_score.py run PATTERN...     # what `make mutation` runs

The first reads `mutmut results --all true` on stdin; counts only the mutants whose names match
one of the glob patterns given as arguments (the scope the Makefile runs). Killed and timed-out
mutants count as caught; survivors, "no tests" and any other status count against the
score. Mutants listed in tests/MUTANTS.md (by full name, in backticks) are reported as
documented equivalents: the score is given with and without them.

`run` first runs `mutmut run PATTERN...` (niced, LC_ALL=C.UTF-8, with the mutmut next to this
Python, output to mutants/run.log; on failure the log's last 30 lines and exit 1), then the
score of `mutmut results --all true`, then the elapsed seconds.
"""

import fnmatch
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

CAUGHT = {"killed", "timeout"}
LOG = Path("mutants/run.log")


def run(patterns: list[str]) -> int:
    """`make mutation`: mutmut over the scope, then the score and the time it took."""
    mutmut = str(Path(sys.executable).parent / "mutmut")
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    LOG.parent.mkdir(exist_ok=True)
    start = int(time.time())
    with LOG.open("wb") as log:
        code = subprocess.call(["nice", "-n", "19", mutmut, "run", *patterns], stdout=log,
                               stderr=subprocess.STDOUT, env=env)
    if code != 0:
        sys.stdout.flush()
        sys.stderr.buffer.write(b"".join(LOG.read_bytes().splitlines(keepends=True)[-30:]))
        return 1
    results = subprocess.run([mutmut, "results", "--all", "true"], stdout=subprocess.PIPE, env=env,
                             encoding="utf-8", errors="replace").stdout
    main(patterns, results.splitlines())  # as the Makefile's pipeline did: its status is not the target's
    print(f"mutation: {int(time.time()) - start} s (log: {LOG}; mutants/ keeps the results)")
    return 0


def main(patterns: list[str], lines: Iterable[str] = sys.stdin) -> int:
    equivalents = set(re.findall(r"`(bench\.[^`\s]+__mutmut_\d+)`", Path("tests/MUTANTS.md").read_text())) \
        if Path("tests/MUTANTS.md").exists() else set()
    by_module: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for line in lines:
        name, sep, status = line.strip().rpartition(": ")
        if not sep or not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        module = name.split(".x", 1)[0]
        c = by_module[module]
        c["total"] += 1
        if status in CAUGHT:
            c["caught"] += 1
        elif name in equivalents:
            c["equivalent"] += 1
        else:
            c[status] += 1
            survivors.append(f"{name}: {status}")
    if not by_module:
        print("mutation: no mutants in scope (run mutmut first)", file=sys.stderr)
        return 2
    total = Counter()
    print(f"{'module':<16} {'mutants':>7} {'caught':>6} {'equiv':>5} {'other':>5} {'score':>7} {'excl.eq':>7}")
    for module in sorted(by_module) + ["overall"]:
        c = total if module == "overall" else by_module[module]
        if module != "overall":
            total.update(c)
        other = c["total"] - c["caught"] - c["equivalent"]
        raw = 100 * c["caught"] / c["total"]
        adj = 100 * c["caught"] / max(1, c["total"] - c["equivalent"])
        print(f"{module:<16} {c['total']:>7} {c['caught']:>6} {c['equivalent']:>5} {other:>5} {raw:>6.1f}% {adj:>6.1f}%")
    for s in survivors:
        print("  not caught, not in tests/MUTANTS.md:", s)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        sys.exit(run(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
