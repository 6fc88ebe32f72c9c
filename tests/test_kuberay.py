"""deploy/kuberay/rayjob.yaml against the RayJob CRD's OpenAPI v3 schema (KubeRay v1.7.0).

Nothing here talks to Kubernetes: the manifest is validated, not run. The schema is
KubeRay's own (tests/data, source and version in its header), turned into JSON Schema
the way the API server reads it:

- `nullable: true` admits null;
- an object that lists `properties` admits no others: `kubectl apply` validates fields
  strictly (the CRD has no x-kubernetes-preserve-unknown-fields), so a misspelled field
  is an error rather than silently pruned;
- `x-kubernetes-*` markers are dropped (int-or-string fields already carry an anyOf of
  integer and string); the CEL rules (x-kubernetes-validations) are not evaluated, so
  the manifest is also checked to use none of the fields they guard.
"""

import copy
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from bench.engine.suites import build_config
from conftest import REPO

SCHEMA_FILE = REPO / "tests" / "data" / "kuberay-v1.7.0-rayjob-v1.openapiv3.yaml"
MANIFEST = REPO / "deploy" / "kuberay" / "rayjob.yaml"


def load_crd_schema(path: Path = SCHEMA_FILE) -> dict:
    body = "".join(line for line in path.read_text().splitlines(keepends=True) if not line.startswith("#"))
    return json.loads(body)  # JSON is YAML: json is ~50x faster on this one long line


def to_json_schema(node):
    """OpenAPI v3 (Kubernetes structural schema) -> Draft 7 JSON Schema."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        else:
            out[key] = to_json_schema(value)
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def crd_schema() -> dict:
    return load_crd_schema()


@pytest.fixture(scope="module")
def validator(crd_schema) -> Draft7Validator:
    schema = to_json_schema(crd_schema)
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]


@pytest.fixture
def rayjob(documents) -> dict:
    jobs = [doc for doc in documents if doc.get("kind") == "RayJob"]
    assert len(jobs) == 1
    return copy.deepcopy(jobs[0])


def errors(validator, doc) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc))


def test_schema_file_names_its_source_and_version():
    header = "".join(line for line in SCHEMA_FILE.read_text().splitlines(keepends=True)[:20] if line.startswith("#"))
    assert "https://github.com/ray-project/kuberay/blob/v1.7.0/ray-operator/config/crd/bases/ray.io_rayjobs.yaml" in header
    assert re.search(r"commit [0-9a-f]{40}", header) and "KubeRay v1.7.0" in header


def test_schema_is_the_rayjob_crd(crd_schema):
    spec = crd_schema["properties"]["spec"]["properties"]
    assert {"entrypoint", "rayClusterSpec", "submitterPodTemplate", "shutdownAfterJobFinishes"} <= set(spec)
    # the marker handling above relies on these: nothing in the CRD keeps unknown fields
    assert "x-kubernetes-preserve-unknown-fields" not in json.dumps(crd_schema)


def test_manifest_validates(validator, rayjob):
    assert rayjob["apiVersion"] == "ray.io/v1" and rayjob["kind"] == "RayJob"
    assert errors(validator, rayjob) == []


@pytest.mark.parametrize("break_it, where", [
    # a misspelled field, top level and deep in a pod template
    (lambda j: j["spec"].update(shutdownAfterJobFinish=True), "spec: Additional properties"),
    (lambda j: j["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
     .update(imagePullPolcy="Always"), "spec/rayClusterSpec/headGroupSpec/template/spec/containers/0"),
    # wrong types
    (lambda j: j["spec"].update(ttlSecondsAfterFinished="1800"), "spec/ttlSecondsAfterFinished: '1800' is not of type"),
    (lambda j: j["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].update(replicas="2"),
     "spec/rayClusterSpec/workerGroupSpecs/0/replicas"),
    (lambda j: j["spec"]["rayClusterSpec"]["headGroupSpec"].update(rayStartParams={"num-cpus": 0}),
     "spec/rayClusterSpec/headGroupSpec/rayStartParams/num-cpus: 0 is not of type 'string'"),
    # a value outside an enum, a missing required field, a bad quantity
    (lambda j: j["spec"]["rayClusterSpec"]["authOptions"].update(mode="tokens"), "spec/rayClusterSpec/authOptions/mode"),
    (lambda j: j["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].pop("groupName"), "'groupName' is a required property"),
    (lambda j: j["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]
     ["limits"].update(cpu="two"), "resources/limits/cpu"),
])
def test_broken_manifests_fail(validator, rayjob, break_it, where):
    break_it(rayjob)
    found = errors(validator, rayjob)
    assert any(where in e for e in found), found


def test_manifest_avoids_fields_with_unchecked_cel_rules(crd_schema, rayjob):
    """x-kubernetes-validations (CEL) are not evaluated here: the manifest must not use
    the fields that carry them, so the schema check is the whole check."""
    guarded = []

    def walk(node, path):
        if isinstance(node, dict):
            if "x-kubernetes-validations" in node:
                guarded.append(path)
            for key, sub in (node.get("properties") or {}).items():
                walk(sub, path + (key,))
            if isinstance(node.get("items"), dict):
                walk(node["items"], path + ("[]",))

    walk(crd_schema, ())
    assert guarded, "the CRD has CEL rules; this test should know where"

    def present(doc, path):
        if not path:
            return True
        if path[0] == "[]":
            return isinstance(doc, list) and any(present(item, path[1:]) for item in doc)
        return isinstance(doc, dict) and path[0] in doc and present(doc[path[0]], path[1:])

    assert [p for p in guarded if present(rayjob, p)] == []


# -- what the manifest says, beyond its shape ---------------------------------------------


def _containers(spec: dict) -> list[dict]:
    return spec["template"]["spec"]["containers"]


def test_entrypoint_is_a_valid_bench_run_on_the_cluster(rayjob):
    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert argv[:4] == ["python", "-m", "bench", "run"]
    options = {argv[i].removeprefix("--"): argv[i + 1] for i in range(4, len(argv) - 1, 2)}
    assert options["suite"] == "standard" and options["address"] == "auto"
    assert options["out"].startswith("/results/")
    workers = rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert int(options["expect-nodes"]) == sum(g["replicas"] for g in workers)
    assert all(g["minReplicas"] == g["replicas"] == g["maxReplicas"] for g in workers), "a fixed cluster to measure"
    config = build_config(suite=options["suite"], address=options["address"], expect_nodes=int(options["expect-nodes"]))
    assert config.num_cpus is None


def test_results_land_on_a_claim_the_head_mounts(documents, rayjob):
    claims = [d["metadata"]["name"] for d in documents if d["kind"] == "PersistentVolumeClaim"]
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]
    volumes = {v["name"]: v for v in head["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in _containers(head)[0]["volumeMounts"]}
    assert volumes[mounts["/results"]]["persistentVolumeClaim"]["claimName"] in claims
    assert head["template"]["spec"]["securityContext"]["fsGroup"] == 1000  # writable by the image's user


def test_one_image_token_auth_everywhere_and_no_token_in_the_file(rayjob):
    spec = rayjob["spec"]
    cluster = spec["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token", "secretName": "ray-bench-token"}
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    images = {c["image"] for g in groups for c in _containers(g)} | {
        c["image"] for c in spec["submitterPodTemplate"]["spec"]["containers"]}
    assert len(images) == 1, "Ray needs the same Python and Ray on every node and in the submitter"
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    for group in groups:
        env = {e["name"]: e.get("value") for e in _containers(group)[0]["env"]}
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_USAGE_STATS_ENABLED"] == "0"
        token_dir = str(Path(env["RAY_AUTH_TOKEN_PATH"]).parent)
        mount = next(m for m in _containers(group)[0]["volumeMounts"] if m["mountPath"] == token_dir)
        volume = next(v for v in group["template"]["spec"]["volumes"] if v["name"] == mount["name"])
        assert volume["secret"]["secretName"] == "ray-bench-token" and mount["readOnly"] is True
    text = MANIFEST.read_text()
    assert not re.search(r"\b[0-9a-f]{32,}\b", text), "a token must never be in the manifest"
    # the Ray the image installs: KubeRay picks its probes (HTTP from 2.53) by this
    locked = re.search(r"^ray==([0-9.]+)", (REPO / "requirements" / "runtime.lock").read_text(), re.M).group(1)
    assert cluster["rayVersion"] == locked
