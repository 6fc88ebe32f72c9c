"""bench.record in-process (issue 25: mutation of the record): the faults a chaos harness logged
during a run, and the detection delays that go with them."""

from __future__ import annotations

import json

from bench import record


def test_the_fault_log_holds_the_faults_in_the_window(tmp_path, monkeypatch):
    log = tmp_path / "faults.jsonl"
    lines = [json.dumps({"unix": 4.9, "kind": "kill"}), json.dumps({"unix": 5, "kind": "kill", "node": "wörker-1"}),
             "not json", json.dumps([1, 2]), json.dumps({"unix": 10.0, "kind": "kill"}),
             json.dumps({"kind": "no time"}), json.dumps({"unix": 10.1})]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("BENCH_FAULT_LOG", str(log))
    assert record.fault_log(5, 10) == [{"unix": 5, "kind": "kill", "node": "wörker-1"}, {"unix": 10.0, "kind": "kill"}]
    assert record.fault_log(0, 4.95) == [{"unix": 4.9, "kind": "kill"}, {"kind": "no time"}]  # no time: 0
    assert record.fault_log(0, 0.5) == [{"kind": "no time"}]


def test_no_fault_log_no_faults(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_FAULT_LOG", raising=False)
    assert record.fault_log(0, 1e12) == []
    monkeypatch.setenv("BENCH_FAULT_LOG", str(tmp_path / "missing.jsonl"))
    assert record.fault_log(0, 1e12) == []
    monkeypatch.setenv("BENCH_FAULT_LOG", "")
    assert record.fault_log(0, 1e12) == []
