"""The published JSON Schema of a results file: generated from bench.results, and every
fixture, upgraded on load and written again, conforms to it."""

import json
from pathlib import Path

import jsonschema
import pytest

from bench import results, schema

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schema" / f"results-v{results.SCHEMA_VERSION}.json"
FIXTURES = sorted((REPO / "tests" / "fixtures").glob("*.json"))


def test_committed_schema_is_the_generated_one():
    assert SCHEMA.read_text(encoding="utf-8") == schema.schema_text(), \
        "regenerate it: python -m bench.schema > schema/results-v2.json"


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA.read_text(encoding="utf-8")))


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_every_fixture_upgraded_and_written_conforms(fixture, tmp_path):
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    out = results.save(results.load(fixture), tmp_path / fixture.name)
    jsonschema.validate(json.loads(out.read_text(encoding="utf-8")), schema, cls=jsonschema.Draft202012Validator)


def test_the_schema_rejects_what_it_should():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    good = results.load(FIXTURES[0]).to_dict()
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid(good)
    for bad in ({**good, "schema_version": 1}, {**good, "status": "done"},
                {k: v for k, v in good.items() if k != "config"},
                {**good, "config": {**good["config"], "modes": ["warp-drive"]}},
                {**good, "runs": [{**good["runs"][0], "correct": "yes"}]}):
        assert not validator.is_valid(bad)


def test_a_version_2_file_from_before_placement_still_matches_the_schema():
    """Options added within version 2 (placement, time_budget_s) are not required of files written before."""
    import jsonschema

    from bench.schema import json_schema

    old = json.loads((Path(__file__).resolve().parent.parent / "docs" / "examples" / "amd-epyc-485"
                      / "standard-20261202T175806Z.json").read_text())
    assert "placement" not in old["config"] and "time_budget_s" not in old["config"]
    jsonschema.validate(old, json_schema())
