"""The rendered report, held byte-for-byte against committed golden files.

Each case renders the HTML page (bench.report.render, what `bench report` writes) and the
terminal summary (reports/summary.txt's text, bench.report.summary_text) from committed
fixtures in tests/fixtures/, and compares them with tests/golden/<case>.html and
tests/golden/<case>.summary.txt. The page's timestamp and version are passed in, fixture
paths are relative to the repository root, and the charts' SVG ids are salted per chart
(bench.report.charts), so a render is the same on every machine with the pinned matplotlib.

A refactor must leave these files unchanged. An intended change of the output is made
deliberately: regenerate, read the diff, and say why in the commit message:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_report_golden.py -p no:cacheprovider
    git diff tests/golden/
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from bench import report

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
GENERATED_UTC = "2026-01-01T00:00:00+00:00"
VERSION = "golden"
REPORT_TARGET = Path("reports/index.html")

CASES = {
    "single": ["small.json"],
    "incorrect": ["incorrect.json"],
    "node-lost": ["node-lost.json"],
    "compare": ["compare-base.json", "compare-slower.json"],
    "scaling": ["heavy-1cpu.json", "heavy-2cpu.json"],
    "repro": ["compare-base.json", "repro-within.json", "repro-drift.json"],
}


def _check(actual: str, golden: Path) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
        return
    assert golden.is_file(), f"{golden} is missing: generate it with UPDATE_GOLDEN=1"
    expected = golden.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(list(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                                 str(golden), "rendered", n=1))[:60])
        pytest.fail(f"the rendered output differs from {golden.name} (UPDATE_GOLDEN=1 if intended):\n{diff}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_report_matches_golden(case, monkeypatch):
    monkeypatch.chdir(REPO)  # fixture paths appear on the page (reproduce commands): keep them relative
    paths = [f"tests/fixtures/{name}" for name in CASES[case]]
    sources = report.load_sources(paths)
    page = report.render(sources, generated_utc=GENERATED_UTC, bench_version=VERSION)
    _check(page, GOLDEN / f"{case}.html")
    _check(report.summary_text(sources, REPORT_TARGET), GOLDEN / f"{case}.summary.txt")
