"""The HTML report, rendered from small committed fixtures (real tiny runs, thinned).

Expected values are computed here from the fixture JSON with the standard library
(statistics), independently of bench.stats and bench.report, and compared with what
the page shows: both the full-precision data-value and the displayed text.
"""

from __future__ import annotations

import copy
import json
import re
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench import report
from bench.cli import main
from bench.errors import UsageError
from bench.report.export import to_csv
from bench.results import Run, load

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "small.json"
INCORRECT = FIXTURES / "incorrect.json"


class Page(HTMLParser):
    """Collects, per summary-table row (tr[data-label]), every [data-metric] element's value and text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, dict] = {}
        self.row_attrs: dict[str, dict] = {}
        self._row = None
        self._open: list[tuple[str, dict]] = []  # (metric, attrs) being read
        self._text: dict[int, list[str]] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-label" in attrs and "summary" in self._table_classes():
            self._row = attrs["data-label"]
            self.rows[self._row] = {}
            self.row_attrs[self._row] = attrs
        if tag == "table":
            self._tables.append(attrs.get("class", ""))
        if self._row is not None and "data-metric" in attrs:
            self._open.append((tag, attrs))
            self._text[len(self._open)] = []

    _tables: list = []

    def _table_classes(self):
        return self._tables[-1] if self._tables else ""

    def handle_endtag(self, tag):
        if tag == "table" and self._tables:
            self._tables.pop()
        if self._open and tag == self._open[-1][0]:
            depth = len(self._open)
            _, attrs = self._open.pop()
            text = "".join(self._text.pop(depth)).strip()
            self.rows[self._row][attrs["data-metric"]] = {"text": text, **attrs}
            if self._open:
                self._text[len(self._open)].append(text)
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._open:
            self._text[len(self._open)].append(data)


def _page(html: str) -> Page:
    Page._tables = []
    return Page(html)


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    """Rendered once, through the command line as a user would."""
    out = tmp_path_factory.mktemp("report") / "index.html"
    main(["report", str(SMALL), "--out", str(out)])
    return out, out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def incorrect_html():
    return report.render(report.load_sources([str(INCORRECT)]), with_charts=False)


# --- formatting, checked against hand-written strings ---------------------------------------


def test_formatters_by_hand():
    assert report.fmt_time(0.0706) == "70.6 ms"
    assert report.fmt_time(6.78) == "6.78 s"
    assert report.fmt_time(0.000243) == "243 µs"
    assert report.fmt_time(1234.5) == "1,234 s"
    assert report.fmt_time(None) == "–"
    assert report.fmt_rate(283331.6) == "283,332"
    assert report.fmt_rate(14.17) == "14.2"
    assert report.fmt_ratio(369.4) == "369×"
    assert report.fmt_ratio(6540.2) == "6,540×"
    assert report.fmt_speedup(17.0) == "17× faster"
    assert report.fmt_speedup(1 / 507) == "507× slower"
    assert report.fmt_speedup(1.001) == "1.00×"
    assert report.fmt_pct(0.1423) == "14.2%"
    assert report.fmt_bytes(7 * 2**30) == "7.0 GiB"


# --- every number shown for a mode equals the fixture's -----------------------------------


def _median(values):
    return statistics.median(values)


def _quartiles(values):
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def _per_lookup(run):
    return _median(run["samples"]["response_s"]) / run["params"]["queries"]


METRIC_FORMAT = {
    "response_s": report.fmt_time,
    "lookups_per_s": report.fmt_rate,
    "tasks_per_s": report.fmt_rate,
    "submit_s": report.fmt_time,
    "submit_per_task_s": report.fmt_time,
    "task_latency_p50_s": report.fmt_time,
    "task_latency_p95_s": report.fmt_time,
    "task_latency_p99_s": report.fmt_time,
}


def test_every_number_in_the_summary_table_matches_the_fixture(small_report):
    _, html = small_report
    data = json.loads(SMALL.read_text())
    page = _page(html)
    assert set(page.rows) == {run["label"] for run in data["runs"]}
    seq = next(r for r in data["runs"] if r["mode"] == "sequential")
    naive = [r for r in data["runs"] if r["mode"] == "ray-naive"]
    # naive was not run at the full query count, so the reference is its largest task count
    assert all(r["params"]["queries"] != data["workload"]["queries"] for r in naive)
    naive_ref = max(naive, key=lambda r: r["params"]["tasks"])
    checked = 0
    for run in data["runs"]:
        row = page.rows[run["label"]]
        for metric, fmt in METRIC_FORMAT.items():
            if metric not in run["samples"]:
                assert metric not in row or "data-value" not in row[metric]
                continue
            expected = _median(run["samples"][metric])
            assert float(row[metric]["data-value"]) == pytest.approx(expected, rel=1e-12), (run["label"], metric)
            assert row[metric]["text"] == fmt(expected), (run["label"], metric)
            checked += 1
        q1, q3 = _quartiles(run["samples"]["response_s"])
        iqr = row["response_s_iqr"]
        assert float(iqr["data-q1"]) == pytest.approx(q1, rel=1e-12)
        assert float(iqr["data-q3"]) == pytest.approx(q3, rel=1e-12)
        assert iqr["text"] == f"[{report.fmt_time(q1)} – {report.fmt_time(q3)}]"
        values = run["samples"]["response_s"]
        cv = statistics.stdev(values) / statistics.mean(values)
        assert float(row["cv"]["data-value"]) == pytest.approx(cv, rel=1e-9)
        assert row["cv"]["text"] == f"{cv * 100:.1f}%"
        assert int(row["trials"]["data-value"]) == len(values)
        assert row["tasks"]["text"] == f"{run['params']['tasks']:,}"
        speed_seq = _per_lookup(seq) / _per_lookup(run)
        speed_naive = _per_lookup(naive_ref) / _per_lookup(run)
        assert float(row["speedup_seq"]["data-value"]) == pytest.approx(speed_seq, rel=1e-12)
        assert float(row["speedup_naive"]["data-value"]) == pytest.approx(speed_naive, rel=1e-12)
        assert row["speedup_seq"]["text"] == report.fmt_speedup(speed_seq)
        assert row["correct"]["text"] == "✓"
        checked += 1
    assert checked > 40


def test_headline_verdict_names_the_best_batched_run_with_its_numbers(small_report):
    _, html = small_report
    data = json.loads(SMALL.read_text())
    batched = [r for r in data["runs"] if r["mode"] == "ray-batched" and r["correct"]]
    best = min(batched, key=_per_lookup)
    seq = next(r for r in data["runs"] if r["mode"] == "sequential")
    naive_ref = max((r for r in data["runs"] if r["mode"] == "ray-naive"), key=lambda r: r["params"]["tasks"])
    headline = re.search(r'<p class="headline">(.*?)</p>', html, re.S).group(1)
    assert f"B = {best['params']['batch_size']:,}" in headline
    vs_naive = _per_lookup(naive_ref) / _per_lookup(best)
    vs_seq = _per_lookup(seq) / _per_lookup(best)
    assert f"{report.fmt_ratio(vs_naive)} faster than naive Ray" in headline
    word = "faster" if vs_seq >= 1 else "slower"
    shown = vs_seq if vs_seq >= 1 else 1 / vs_seq
    assert f"{report.fmt_ratio(shown)} {word} than sequential Python" in headline
    # what ran, and which naive point the comparison uses
    assert "2,000 lookups" in html and "1 node with 2 CPUs" in html
    assert f"Naive Ray (one task per lookup) at {naive_ref['params']['tasks']:,} tasks" in html


def test_all_seven_charts_are_inline_svg_with_titles(small_report):
    _, html = small_report
    charts = re.findall(r'<figure id="r0-chart-(\w+)"', html)
    assert charts == ["response", "batch", "naive", "submit", "resources", "latency", "calibration"]
    assert html.count("<svg ") == 7
    assert "<img" not in html and "<script" not in html


def test_nothing_is_loaded_from_the_network(small_report):
    _, html = small_report
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', html, re.I)
    refs += re.findall(r'url\(\s*["\']?([^"\')]*)', html, re.I)
    assert all(not re.match(r"(https?:)?//", ref, re.I) for ref in refs), refs
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html and "<link" not in html


def test_raw_json_and_csv_are_written_beside_and_linked(small_report):
    out, html = small_report
    assert (out.parent / "small.json").read_text() == SMALL.read_text()
    assert (out.parent / "small.csv").read_text() == to_csv(load(SMALL))
    assert 'href="small.json"' in html and 'href="small.csv"' in html
    assert not list(out.parent.glob(".*.tmp"))


def test_environment_reproduce_and_preflight(small_report):
    _, html = small_report
    data = json.loads(SMALL.read_text())
    assert "Reproduce this" in html
    assert f"--seed {data['workload']['seed']}" in html and "--queries 2000" in html
    assert "--batch-sizes 10,100,1000" in html and "--naive-tasks 200,500" in html
    assert "make report" in html and "docker compose exec bench" in html
    assert data["metadata"]["ray_version"] in html
    assert "Ray token authentication: unknown" in html  # the field is not recorded yet


def test_incorrect_run_is_flagged_and_excluded_from_the_verdict(incorrect_html):
    data = json.loads(INCORRECT.read_text())
    bad = next(r for r in data["runs"] if not r["correct"])
    page = _page(incorrect_html)
    assert page.row_attrs[bad["label"]]["data-correct"] == "false"
    assert "incorrect" in page.row_attrs[bad["label"]]["class"]
    assert page.rows[bad["label"]]["correct"]["text"] == "✗"
    assert page.rows[bad["label"]]["speedup_seq"]["text"] == "excluded"
    assert f'data-excluded-for="{bad["label"]}"' in incorrect_html
    assert "17 mismatches" in incorrect_html
    assert 'class="banner bad"' in incorrect_html
    headline = re.search(r'<p class="headline">(.*?)</p>', incorrect_html, re.S).group(1)
    assert f"B = {bad['params']['batch_size']:,}" not in headline  # the fastest, but wrong: not the verdict
    good = [r for r in data["runs"] if r["mode"] == "ray-batched" and r["correct"]]
    assert f"B = {min(good, key=_per_lookup)['params']['batch_size']:,}" in headline


def test_incomplete_results_are_marked(tmp_path):
    data = json.loads(SMALL.read_text())
    data["status"], data["incomplete_reason"] = "incomplete", "interrupted"
    data["runs"] = data["runs"][:4]
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(data))
    html = report.render(report.load_sources([str(path)]), with_charts=False)
    assert 'data-status="incomplete"' in html and "INCOMPLETE results: interrupted" in html


def test_unknown_and_future_fields_are_tolerated(tmp_path):
    data = json.loads(SMALL.read_text())
    data["model"] = {"name": "future", "per_task_overhead_s": 0.001}
    data["metadata"]["ray_auth_mode"] = "token"
    future = copy.deepcopy(data["runs"][0])
    future.update(mode="ray-streaming", label="ray-streaming", extra_field={"x": 1})
    data["runs"].append(future)
    data["runs"][1]["samples"] = {}  # an old file with summaries only
    data["analysis"] = {"model": None, "auto": None, "harness": None, "new": {"a": 1}}
    del data["cluster"]["calibration"]
    path = tmp_path / "future.json"
    path.write_text(json.dumps(data))
    html = report.render(report.load_sources([str(path)]), with_charts=True)
    assert "ray-streaming" in html and "Ray authentication mode: token" in html
    assert "<h3>model</h3>" in html


def test_a_run_without_ray_renders(tmp_path):
    data = json.loads(SMALL.read_text())
    data["runs"] = [r for r in data["runs"] if r["mode"] in ("sequential", "numpy")]
    data["cluster"] = {"mode": "none", "address": None, "expected_nodes": None, "driver_cpus": 2, "cluster_cpus": 2}
    data["analysis"] = {}
    path = tmp_path / "noray.json"
    path.write_text(json.dumps(data))
    html = report.render(report.load_sources([str(path)]), with_charts=True)
    assert "Fastest correct mode: numpy" in html


def test_several_files_are_compared_side_by_side(tmp_path):
    out = tmp_path / "index.html"
    report.write_report([str(SMALL), str(FIXTURES / "small-1cpu.json")], out=str(out), charts=False)
    html = out.read_text()
    assert 'id="compare"' in html and html.count('<section class="results"') == 2
    assert '<table class="scaling">' in html  # 2 CPUs vs 1 CPU: speed-up and efficiency
    assert (tmp_path / "small-1cpu.json").exists() and (tmp_path / "small-1cpu.csv").exists()
    seq_row = re.search(r'<table class="compare">.*?<tr data-label="sequential">(.*?)</tr>', html, re.S).group(1)
    a = next(r for r in json.loads(SMALL.read_text())["runs"] if r["mode"] == "sequential")
    b = next(r for r in json.loads((FIXTURES / "small-1cpu.json").read_text())["runs"] if r["mode"] == "sequential")
    ma, mb = _median(a["samples"]["response_s"]), _median(b["samples"]["response_s"])
    assert report.fmt_time(ma) in seq_row and report.fmt_time(mb) in seq_row
    assert report.fmt_ratio(mb / ma) in seq_row


def test_same_file_twice_gets_distinct_data_files(tmp_path):
    out = tmp_path / "index.html"
    report.write_report([str(SMALL), str(SMALL)], out=str(out), charts=False)
    assert (tmp_path / "small.json").exists() and (tmp_path / "small-2.json").exists()


def test_bad_input_writes_nothing(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    out = tmp_path / "out" / "index.html"
    with pytest.raises(UsageError, match="empty"):
        report.write_report([str(SMALL), str(empty)], out=str(out))
    assert not (tmp_path / "out").exists()
    with pytest.raises(UsageError, match="at least one"):
        report.write_report([], out=str(out))
    with pytest.raises(UsageError, match=r"\.html"):
        report.write_report([str(SMALL)], out=str(tmp_path / "index.txt"))


def test_cli_report_errors_are_one_line(tmp_path, capsys):
    out = tmp_path / "r" / "index.html"
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "missing.json"), "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error:") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


# --- scaling across cluster sizes, two workloads mixed ---------------------------------------

HEAVY_1, HEAVY_2 = FIXTURES / "heavy-1cpu.json", FIXTURES / "heavy-2cpu.json"
NODE_LOST, HEAD_LOST = FIXTURES / "node-lost.json", FIXTURES / "head-lost.json"


def _best_median(data, mode):
    runs = [r for r in data["runs"] if r["mode"] == mode and r["correct"]]
    if mode == "ray-naive":
        return _median(max(runs, key=lambda r: r["params"]["tasks"])["samples"]["response_s"])
    return min(_median(r["samples"]["response_s"]) for r in runs)


@pytest.fixture(scope="module")
def scaling_html():
    files = [SMALL, HEAVY_2, FIXTURES / "small-1cpu.json", HEAVY_1]  # interleaved on purpose
    return report.render(report.load_sources([str(f) for f in files]), with_charts=False)


def test_scaling_is_grouped_by_workload_with_a_chart_per_group(scaling_html):
    html = scaling_html
    titles = re.findall(r'<h3 class="scaling-title" data-workload="([^"]*)"', html)
    heavy = json.loads(HEAVY_2.read_text())["workload"]
    assert len(titles) == 2
    assert any(t.startswith(f"work-bound: {heavy['queries']:,} lookups in an array of {heavy['array_size']:,} values")
               for t in titles)
    assert any(t.startswith("overhead-bound: 2,000 lookups in an array of 100 values") for t in titles)
    charts = re.findall(r'<figure data-chart="scaling".*?</figure>', html, re.S)
    assert len(charts) == 2
    for chart in charts:
        assert "<svg " in chart and "ideal: P / 1" in chart and "Parallel efficiency" in chart
        assert "ray-batched" in chart and "target (90%)" in chart
    assert html.count('<table class="scaling">') == 2
    assert html.count('<table class="compare">') == 2  # one side-by-side table per workload, not one across both


def test_scaling_numbers_match_the_fixtures(scaling_html):
    groups = re.findall(r'<h3 class="scaling-title" data-workload="([^"]*)".*?<table class="scaling">(.*?)</table>',
                        scaling_html, re.S)
    by_title = {t.split(":")[0]: body for t, body in groups}
    for regime, (one, two) in {"work-bound": (HEAVY_1, HEAVY_2),
                               "overhead-bound": (FIXTURES / "small-1cpu.json", SMALL)}.items():
        a, b = json.loads(one.read_text()), json.loads(two.read_text())
        assert (a["cluster"]["cluster_cpus"], b["cluster"]["cluster_cpus"]) == (1, 2)
        body = by_title[regime]
        for mode in ("ray-batched", "ray-auto"):
            speedup = _best_median(a, mode) / _best_median(b, mode)
            row = re.search(rf'<tr data-mode="{mode}" data-cpus="2">(.*?)</tr>', body, re.S).group(1)
            shown = float(re.search(r'data-metric="speedup" data-value="([^"]+)"', row).group(1))
            eff = float(re.search(r'data-metric="efficiency" data-value="([^"]+)"', row).group(1))
            assert shown == pytest.approx(speedup, rel=1e-9)
            assert eff == pytest.approx(speedup / 2, rel=1e-9)
            assert report.fmt_pct(speedup / 2) in row
        # multiprocessing ran with the same pool size at both CPU counts: listed but not read as scaling
        assert "not a scaling measurement" in scaling_html
        first = _best_median(a, "sequential") / _best_median(a, "ray-batched")
        noted = "At 1 CPU ray-batched is already" in scaling_html.split(regime + ":", 2)[-1]
        if first > 1.1:  # the 1-CPU point beat sequential by more than one CPU can: the limit was logical
            assert noted


# --- node loss and faults ------------------------------------------------------------------------


def test_node_lost_run_is_marked_with_when_where_and_detection_delay():
    data = json.loads(NODE_LOST.read_text())
    html = report.render(report.load_sources([str(NODE_LOST)]), with_charts=False)
    faulted = [r for r in data["runs"] if r.get("node_events")]
    assert len(faulted) == 1
    run = faulted[0]
    event, fault = run["node_events"][0], run["faults"][0]
    page = _page(html)
    assert page.row_attrs[run["label"]]["data-fault"] == "node lost"
    assert all("data-fault" not in page.row_attrs[r["label"]] for r in data["runs"] if r is not run)
    block = re.search(rf'<div class="fault error" data-fault-run="{re.escape(run["label"])}">(.*?)</div>', html, re.S).group(1)
    assert event["hostname"] in block
    assert f"detected {report.fmt_time(event['detected_unix'] - run['started_unix'])} into the run" in block
    assert f"{report.fmt_time(fault['unix'] - run['started_unix'])} into the run" in block
    assert report.fmt_time(run["loss_detection_s"][0]) in block
    start, end = run["nodes_start"], run["nodes_end"]
    assert f'data-nodes="start">{start["alive"]} nodes, {start["cpus"]:g} CPUs' in block
    assert f'data-nodes="end">{end["alive"]} node, {end["cpus"]:g} CPUs' in block
    assert 'data-answers-ok="true"' in block and run["correct"]
    # a faulted run that answered wrongly says so
    run["correct"], run["mismatches"] = False, 3
    view = report.run_view(Run.from_dict(run), data["workload"])
    assert view.faults.answers.startswith("no: 3 answers differed")


def test_resource_chart_ends_the_lost_nodes_series():
    results = load(NODE_LOST)
    svg = report._chart_resources(results)
    assert "ray-worker-2 (lost at" in svg and "✗ ray-worker-2 lost" in svg and "kill ray-worker-2" in svg
    clean = report._chart_resources(load(SMALL))
    assert "lost" not in clean


def test_a_run_without_events_is_not_marked(small_report):
    _, html = small_report
    assert "data-fault=" not in html and "Node losses and injected faults" not in html


# --- incomplete results and the work-bound headline ------------------------------------------------


def test_head_lost_banner_gives_the_reason_and_the_finished_runs():
    data = json.loads(HEAD_LOST.read_text())
    html = report.render(report.load_sources([str(HEAD_LOST)]), with_charts=False)
    banner = re.search(r'<div class="banner incomplete" data-status="incomplete">(.*?)</div>', html, re.S).group(1)
    assert "lost the Ray head at 172.18.0.2:6379 (unreachable for 5 s)" in banner
    assert f'data-finished="{len(data["runs"])}"' in banner
    assert ", ".join(r["label"] for r in data["runs"]) in banner


def _headline(html):
    return re.sub(r"\s+", " ", re.search(r'<p class="headline">(.*?)</p>', html, re.S).group(1))


def test_work_bound_headline_gives_speedup_efficiency_and_multiprocessing():
    data = json.loads(HEAVY_2.read_text())
    html = report.render(report.load_sources([str(HEAVY_2)]), with_charts=False)
    seq = next(r for r in data["runs"] if r["mode"] == "sequential")
    mp = next(r for r in data["runs"] if r["mode"] == "multiprocessing")
    best = min((r for r in data["runs"] if r["mode"] == "ray-batched" and r["correct"]), key=_per_lookup)
    speedup = _per_lookup(seq) / _per_lookup(best)
    efficiency = speedup / data["cluster"]["cluster_cpus"]
    headline = _headline(html)
    assert headline.startswith(f"Work-bound: batched Ray (B = {best['params']['batch_size']:,})")
    assert report.fmt_ratio(speedup if speedup >= 1 else 1 / speedup) in headline
    assert f"parallel efficiency of {report.fmt_pct(efficiency)}" in headline
    assert ("meets the 90% target" if efficiency >= 0.9 else "below the 90% target") in headline
    ratio = _per_lookup(best) / _per_lookup(mp)
    if ratio <= 1.0:
        assert f"matches or beats multiprocessing ({report.fmt_pct(1 - ratio)} faster" in headline
    elif ratio <= 1.05:
        assert "matches multiprocessing (within 5%" in headline
    else:
        assert f"{report.fmt_pct(ratio - 1)} slower than multiprocessing" in headline
    auto = next(r for r in data["runs"] if r["mode"] == "ray-auto")
    assert f"parallel efficiency {report.fmt_pct(_per_lookup(seq) / _per_lookup(auto) / 2)}" in html


def test_work_bound_efficiency_below_target_says_why(tmp_path):
    data = json.loads(HEAVY_2.read_text())
    data["cluster"]["cluster_cpus"] = 8  # as if 8 CPUs had given the same times: efficiency well below 90%
    data["metadata"]["physical_cores"] = 8  # on an 8-core host (the cores cap the usable CPUs)
    path = tmp_path / "heavy-8.json"
    path.write_text(json.dumps(data))
    html = report.render(report.load_sources([str(path)]), with_charts=False)
    assert "below the 90% target" in _headline(html)
    reasons = re.search(r'<div class="reasons" data-efficiency-below-target="true">(.*?)</div>', html, re.S).group(1)
    best = min((r for r in data["runs"] if r["mode"] == "ray-batched" and r["correct"]), key=_per_lookup)
    assert f"ran only {best['params']['tasks']:,} tasks for 8 CPUs" in reasons
    assert "overhead model (analysis.model)" in reasons


def test_overhead_bound_file_keeps_the_granularity_headline(small_report):
    _, html = small_report
    assert not _headline(html).startswith("Work-bound")


def test_suites_of_one_invocation_are_sections_not_an_ab_comparison(tmp_path, capsys):
    """make report renders the standard and heavy files together: different workloads are
    sections of one story, with no 'workloads differ' banner and no p-values between them;
    the terminal verdict of each goes to stdout and summary.txt."""
    out = tmp_path / "index.html"
    report.write_report([str(SMALL), str(FIXTURES / "heavy-1cpu.json")], out=str(out), charts=False)
    page = out.read_text()
    assert "workloads differ" not in page
    assert 'id="compare"' not in page and "Mann-Whitney" not in page
    assert page.count('class="verdict"') >= 2  # one headline per suite
    summary = (tmp_path / "summary.txt").read_text()
    assert summary.count("== ") == 2 and "verdict (quick suite): best batched Ray is B = " in summary
    assert summary.rstrip().endswith(f"report: {out}")
    assert summary in capsys.readouterr().out
    # files of the same workload are still compared, with the rank test
    report.write_report([str(SMALL), str(FIXTURES / "small-1cpu.json")], out=str(out), charts=False)
    assert 'id="compare"' in out.read_text()


def test_a_user_function_is_named_as_such_and_never_compared_with_the_lookups(tmp_path):
    import json as _json

    from bench.analysis.compare import workload_difference
    from bench.report import write_report as _write
    from bench.results import load as _load

    base = Path(__file__).parent / "fixtures" / "small.json"
    data = _json.loads(base.read_text())
    data["workload"] = {"kind": "function", "function": "bench.examples.workloads:cpu_bound", "items": 2000,
                        "queries": 2000, "items_source": "range(2000)", "reference_checksum": "x"}
    path = tmp_path / "fn.json"
    path.write_text(_json.dumps(data))
    page = _write([str(path)], out=str(tmp_path / "r" / "index.html")).read_text()
    assert "2,000 items of bench.examples.workloads:cpu_bound (range(2000))" in page
    assert "lookups in an array of" not in page
    assert workload_difference(_load(path), _load(base)) == \
        "kind function vs lookups, function bench.examples.workloads:cpu_bound vs None, items_source range(2000) vs None, " \
        "array_size None vs 100, value_range None vs 1000, seed None vs 42"


def test_the_suite_line_gives_the_range_of_trials_when_runs_differ():
    """Trials are planned by cost and noise (issue 23): a page that named only the largest
    count would say 100 trials of a row that had 2."""
    import dataclasses

    from bench.report.page import _what_ran

    res = load(SMALL)
    counts = [2, 5, 100] + [5] * (len(res.runs) - 3)
    runs = tuple(dataclasses.replace(run, params={**run.params, "trials": n}) for run, n in zip(res.runs, counts))
    assert "2-100 measured trials per run" in _what_ran(dataclasses.replace(res, runs=runs))
    same = tuple(dataclasses.replace(run, params={**run.params, "trials": 5}) for run in res.runs)
    assert "5 measured trials per run" in _what_ran(dataclasses.replace(res, runs=same))


def test_a_run_of_one_trial_shows_no_cv_rather_than_a_steady_zero(tmp_path):
    """The standard suite's 100k-task naive row plays one trial: one sample has no spread, and
    its CV cell says so ("–") instead of 0.0%, which would read as a perfectly steady row."""
    data = json.loads(SMALL.read_text())
    run = next(r for r in data["runs"] if r["mode"] == "ray-naive")
    run["samples"] = {key: values[:1] for key, values in run["samples"].items()}
    view = report.run_view(Run.from_dict(run), data["workload"])
    assert view.cv is None and not view.high_cv
    path = tmp_path / "one.json"
    path.write_text(json.dumps(data))
    row = _page(report.render(report.load_sources([str(path)]), with_charts=False)).rows[run["label"]]
    assert row["cv"]["text"] == "–" and "data-value" not in row["cv"] and row["trials"]["data-value"] == "1"
