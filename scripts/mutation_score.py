#!/usr/bin/env python3
"""Mutation score of `make mutation` (issue 12), per module and overall.

Reads `mutmut results --all true` on stdin; counts only the mutants whose names match one
of the glob patterns given as arguments (the scope the Makefile runs). Killed and timed-out
mutants count as caught; survivors, "no tests" and any other status count against the
score. Mutants listed in tests/MUTANTS.md (by full name, in backticks) are reported as
documented equivalents: the score is given with and without them.
"""

import fnmatch
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

CAUGHT = {"killed", "timeout"}


def main(patterns: list[str]) -> int:
    equivalents = set(re.findall(r"`(bench\.[^`\s]+__mutmut_\d+)`", Path("tests/MUTANTS.md").read_text())) \
        if Path("tests/MUTANTS.md").exists() else set()
    by_module: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for line in sys.stdin:
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
    sys.exit(main(sys.argv[1:]))
