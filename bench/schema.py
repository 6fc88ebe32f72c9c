"""The JSON Schema of a results file (schema/results-v<N>.json), generated from the model in
bench.results and the option table in bench.options, so the published schema cannot drift
from what save() writes.

    python -m bench.schema > schema/results-v2.json
"""

from __future__ import annotations

import json

from bench import mode_table, options
from bench.results import REQUIRED_RUN_KEYS, SCHEMA_VERSION, STATUSES, Run

_NULLABLE_STRING = {"type": ["string", "null"]}
_NUMBERS = {"type": "array", "items": {"type": ["number", "null"]}}


def _option_schema(opt: options.Option) -> dict:
    """An experiment option's value in the recorded config, from its parser (null: not given)."""
    by_parser = {
        options.positive_int: {"type": ["integer", "null"]},
        options.non_negative_int: {"type": ["integer", "null"]},
        options.fraction: {"type": ["number", "null"]},
        options.seconds: {"type": ["number", "null"]},
        options.int_list: {"type": ["array", "null"], "items": {"type": "integer"}},
        options.mode_list: {"type": ["array", "null"], "items": {"type": "string", "enum": list(mode_table.names())}},
    }
    return dict(by_parser.get(opt.parse, _NULLABLE_STRING), description=opt.help)


def _run_schema() -> dict:
    return {
        "type": "object",
        "description": Run.__doc__,
        "required": [*REQUIRED_RUN_KEYS[:1], "label", *REQUIRED_RUN_KEYS[1:]],
        "properties": {
            "mode": {"type": "string"},
            "label": {"type": "string"},
            "params": {"type": "object"},
            "samples": {"type": "object", "additionalProperties": _NUMBERS},
            "stats": {"type": "object", "additionalProperties": {"type": "object"}},
            "correct": {"type": "boolean"},
            "fault_cost": {"type": "array", "items": {"type": "object"}, "description": "optional: what each injected "
                           "fault cost its trial (bench.engine.faultcost), on runs a chaos harness's fault hit"},
        },
        "additionalProperties": True,  # Run.extra: what the runner records beside the samples
    }


# Options added after version 2 was first published: a version-2 file written before lacks them.
ADDED_WITHIN_V2 = frozenset({"placement", "time_budget_s"})


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a results file as save() writes it (Results.to_dict):
    the required keys and types above, the config's options from bench.options. Fields not
    named here are allowed: later versions add them, and readers show what they do not model."""
    config = {opt.key: _option_schema(opt) for opt in options.EXPERIMENT_OPTIONS}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"ray-bench results file, schema_version {SCHEMA_VERSION}",
        "type": "object",
        "required": ["schema_version", "status", "incomplete_reason", "suite", "config", "workload",
                     "metadata", "cluster", "runs", "analysis"],
        "properties": {
            "schema_version": {"type": "integer", "enum": [SCHEMA_VERSION]},
            "status": {"type": "string", "enum": list(STATUSES)},
            "incomplete_reason": _NULLABLE_STRING,
            "suite": _NULLABLE_STRING,
            "config": {"type": "object", "required": [key for key in config if key not in ADDED_WITHIN_V2],
                       "properties": config,
                       "description": "the run's options (bench.options) and what the runner adds: order, gc, "
                                      "quiet_before_trial, median_ci_target, measuring_since_unix; reconstructed_from on a config rebuilt from a v1 file"},
            "workload": {"type": "object"},
            "metadata": {"type": "object"},
            "cluster": {"type": "object"},
            "runs": {"type": "array", "items": _run_schema()},
            "analysis": {"type": "object"},
        },
        "additionalProperties": True,
    }


def schema_text() -> str:
    """json_schema() as committed in schema/results-v<N>.json."""
    return json.dumps(json_schema(), indent=2) + "\n"


if __name__ == "__main__":  # python -m bench.schema > schema/results-v2.json
    import sys

    if sys.argv[1:]:
        sys.exit("usage: python -m bench.schema  (prints the results file's JSON Schema)")
    sys.stdout.write(schema_text())
