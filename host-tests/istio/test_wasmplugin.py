"""examples/istio: the WasmPlugin manifest is valid for Istio's
extensions.istio.io/v1alpha1 WasmPlugin, carries a policy Ward accepts and
pins a digest; the OCI image tool builds an image Istio can read, and the
publish steps in docs/istio.md keep that digest through a real registry.

The schema below is written from the WasmPlugin CRD's v1alpha1
openAPIV3Schema (Istio's generated CRD, 1.31 development line), including its
CEL rules, which jsonschema cannot run and are checked in Python. The CRD
itself is not in this repository; set WARD_ISTIO_CRD to a CRD file (e.g.
Istio's crd-all.gen.yaml) to validate against the original as well.
"""

import copy
import hashlib
import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time

import jsonschema
import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MANIFEST = os.path.join(ROOT, "examples", "istio", "wasmplugin.yaml")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/ward/target"))
WARD = os.path.join(TARGET, "release", "ward")
FILTER_WASM = os.environ.get("WARD_FILTER_WASM", os.path.join(TARGET, "wasm32-wasip1", "release", "ward_filter.wasm"))

spec = importlib.util.spec_from_file_location("oci_image", os.path.join(ROOT, "examples", "istio", "oci_image.py"))
oci_image = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oci_image)

# ---- the schema ---------------------------------------------------------------

NAME_253 = {"type": "string", "minLength": 1, "maxLength": 253}
GROUP = {"type": "string", "maxLength": 253, "pattern": r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}
KIND = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"}
TARGET_REF = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "name"],
    "properties": {"group": GROUP, "kind": KIND, "name": NAME_253, "namespace": {"type": "string"}},
}

# Unknown fields are refused here although the API server would prune them:
# a misspelt field silently dropped is configuration silently lost.
SPEC = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "selector": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "matchLabels": {"type": "object", "maxProperties": 4096, "additionalProperties": {"type": "string", "maxLength": 63}},
            },
        },
        "targetRef": TARGET_REF,
        "targetRefs": {"type": "array", "maxItems": 16, "items": TARGET_REF},
        "url": {"type": "string", "minLength": 1},
        "sha256": {"type": "string", "pattern": r"(^$|^[a-f0-9]{64}$)"},
        "imagePullPolicy": {"enum": ["UNSPECIFIED_POLICY", "IfNotPresent", "Always"]},
        "imagePullSecret": {"type": "string", "minLength": 1, "maxLength": 253},
        "verificationKey": {"type": "string"},
        "pluginConfig": {"type": "object"},
        "pluginName": {"type": "string", "minLength": 1, "maxLength": 256},
        "phase": {"enum": ["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"]},
        "priority": {"type": ["integer", "null"], "minimum": -(2**31), "maximum": 2**31 - 1},
        "failStrategy": {"enum": ["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"]},
        "vmConfig": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "env": {
                    "type": "array",
                    "maxItems": 256,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 256},
                            "value": {"type": "string", "maxLength": 2048},
                            "valueFrom": {"enum": ["INLINE", "HOST"]},
                        },
                    },
                },
            },
        },
        "match": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "mode": {"enum": ["UNDEFINED", "CLIENT", "SERVER", "CLIENT_AND_SERVER"]},
                    "ports": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["number"],
                            "properties": {"number": {"type": "integer", "minimum": 1, "maximum": 65535}},
                        },
                    },
                },
            },
        },
        "type": {"enum": ["UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK"]},
    },
}

WASMPLUGIN = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "extensions.istio.io/v1alpha1"},
        "kind": {"const": "WasmPlugin"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                # RFC 1123 subdomain, as Kubernetes requires of object names.
                "name": {"type": "string", "maxLength": 253, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
                "namespace": {"type": "string", "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
            },
        },
        "spec": SPEC,
    },
}


def cel_rules(spec):
    """The CRD's x-kubernetes-validations, which jsonschema does not run."""
    errors = []
    if sum(k in spec for k in ("selector", "targetRef", "targetRefs")) > 1:
        errors.append("only one of targetRefs or selector can be set")
    url = spec.get("url", "")
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("", "http", "https", "oci", "file"):
        errors.append("url must have schema one of [http, https, file, oci]")
    labels = spec.get("selector", {}).get("matchLabels", {})
    if any("*" in k for k in labels) or any("*" in str(v) for v in labels.values()):
        errors.append("wildcard not allowed in label match")
    if any(k == "" for k in labels):
        errors.append("key must not be empty")
    for ref in [spec.get("targetRef")] + list(spec.get("targetRefs", [])):
        if ref and ref.get("namespace", ""):
            errors.append("cross namespace referencing is not currently supported")
    for env in spec.get("vmConfig", {}).get("env", []):
        if env.get("valueFrom") == "HOST" and "value" in env:
            errors.append("value may only be set when valueFrom is INLINE")
    return errors


def problems(doc):
    found = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft202012Validator(WASMPLUGIN).iter_errors(doc)]
    return found + cel_rules(doc.get("spec", {}))


def load_manifest():
    with open(MANIFEST) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    assert len(docs) == 1, "one WasmPlugin per file"
    return docs[0]


# ---- the manifest ------------------------------------------------------------------


def test_manifest_is_a_valid_wasmplugin():
    assert problems(load_manifest()) == []


@pytest.mark.parametrize(
    "change, complaint",
    [
        (lambda s: s.update(sha256="C691E667"), "sha256"),
        (lambda s: s.update(phase="LATE"), "phase"),
        (lambda s: s.pop("url"), "'url' is a required property"),
        (lambda s: s.update(pluginConfg={}), "Additional properties"),
        (lambda s: s.update(targetRef={"kind": "Gateway", "name": "egress"}), "only one of targetRefs or selector"),
        (lambda s: s.update(url="ftp://registry.example.com/ward"), "url must have schema"),
        (lambda s: s.update(failStrategy="FAIL_OPEN_MAYBE"), "failStrategy"),
        (lambda s: s["selector"]["matchLabels"].update({"app": "*"}), "wildcard"),
    ],
)
def test_schema_rejects_what_istio_rejects(change, complaint):
    doc = copy.deepcopy(load_manifest())
    change(doc["spec"])
    assert any(complaint in p for p in problems(doc)), problems(doc)


def test_manifest_against_the_istio_crd_when_given():
    crd_path = os.environ.get("WARD_ISTIO_CRD")
    if not crd_path:
        pytest.skip("set WARD_ISTIO_CRD to Istio's CRD YAML to check against the original schema")
    with open(crd_path) as f:
        crds = [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "CustomResourceDefinition"]
    crd = next(d for d in crds if d["metadata"]["name"] == "wasmplugins.extensions.istio.io")
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")["schema"]["openAPIV3Schema"]
    doc = load_manifest()
    assert list(jsonschema.Draft4Validator(schema).iter_errors(doc)) == []
    bad = copy.deepcopy(doc)
    bad["spec"]["sha256"] = "not-a-digest"
    assert list(jsonschema.Draft4Validator(schema).iter_errors(bad)), "the CRD schema must reject a bad sha256"


def test_plugin_config_is_a_policy_ward_accepts(tmp_path):
    if not os.path.exists(WARD):
        pytest.fail(f"{WARD} is missing: run scripts/build.sh")
    config = load_manifest()["spec"]["pluginConfig"]
    with open(os.path.join(ROOT, "examples", "policies", "default.json")) as f:
        assert config == json.load(f), "the manifest carries examples/policies/default.json"
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(config, indent=2))
    run = subprocess.run([WARD, "check", str(policy)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout + run.stderr
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**load_manifest()["spec"]["pluginConfig"], "mode": "lenient"}))
    assert subprocess.run([WARD, "check", str(broken)], capture_output=True, timeout=60).returncode != 0


# ---- the image ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def module():
    if not os.path.exists(FILTER_WASM):
        pytest.fail(f"{FILTER_WASM} is missing: run scripts/build.sh")
    with open(FILTER_WASM, "rb") as f:
        return f.read()


def read_layout(layout, tag):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entry = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)

    def blob(descriptor):
        with open(os.path.join(layout, "blobs", "sha256", descriptor["digest"].split(":", 1)[1]), "rb") as f:
            data = f.read()
        assert descriptor["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert descriptor["size"] == len(data)
        return data

    manifest = json.loads(blob(entry))
    return entry["digest"].split(":", 1)[1], manifest, blob


def istio_extract(manifest, blob):
    """What Istio does with a compat image: the last layer, gzip'd tar, plugin.wasm."""
    layer = manifest["layers"][-1]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    with tarfile.open(fileobj=io.BytesIO(blob(layer)), mode="r:gz") as tar:
        return tar.extractfile("plugin.wasm").read()


def test_image_holds_the_module_and_its_digest_is_reproducible(module, tmp_path):
    first = oci_image.build(module, str(tmp_path / "a"), "0.1.0")
    second = oci_image.build(module, str(tmp_path / "b"), "0.1.0")
    assert first["manifest_digest"] == second["manifest_digest"]
    assert first["module_sha256"] == hashlib.sha256(module).hexdigest()
    digest, manifest, blob = read_layout(str(tmp_path / "a"), "0.1.0")
    assert digest == first["manifest_digest"]
    assert istio_extract(manifest, blob) == module
    other = oci_image.build(module + b"\0", str(tmp_path / "c"), "0.1.0")
    assert other["manifest_digest"] != first["manifest_digest"]


def test_pin_rewrites_the_manifest_and_keeps_it_valid(module, tmp_path):
    built = oci_image.build(module, str(tmp_path / "img"), "0.1.0")
    copy_path = tmp_path / "wasmplugin.yaml"
    shutil.copy(MANIFEST, copy_path)
    url = "oci://registry.internal:5000/ward/ward-filter:0.1.0"
    oci_image.pin(str(copy_path), built["manifest_digest"], url)
    doc = yaml.safe_load(copy_path.read_text())
    assert doc["spec"]["sha256"] == built["manifest_digest"]
    assert doc["spec"]["url"] == url
    assert doc["spec"]["pluginConfig"] == load_manifest()["spec"]["pluginConfig"]
    assert problems(doc) == []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_publish_keeps_the_pinned_digest(module, tmp_path):
    """docs/istio.md's publish step, against a local registry: the registry
    serves the digest computed before the push, and pulling by that digest
    gives back the module."""
    for tool in ("skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (scripts/setup.sh --all)")
    built = oci_image.build(module, str(tmp_path / "img"), "0.1.0")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    registry = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert registry.poll() is None and time.time() < deadline, "registry did not start"
                time.sleep(0.1)
        ref = f"127.0.0.1:{port}/ward/ward-filter"
        skopeo = lambda *args: subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
        push = skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{tmp_path / 'img'}:0.1.0", f"docker://{ref}:0.1.0")
        assert push.returncode == 0, push.stderr
        inspect = skopeo("inspect", "--tls-verify=false", f"docker://{ref}:0.1.0")
        assert inspect.returncode == 0, inspect.stderr
        assert json.loads(inspect.stdout)["Digest"] == "sha256:" + built["manifest_digest"]
        pulled = tmp_path / "pulled"
        pull = skopeo("copy", "--src-tls-verify=false", f"docker://{ref}@sha256:{built['manifest_digest']}", f"oci:{pulled}:x")
        assert pull.returncode == 0, pull.stderr
        digest, manifest, blob = read_layout(str(pulled), "x")
        assert digest == built["manifest_digest"]
        assert istio_extract(manifest, blob) == module
    finally:
        registry.terminate()
        registry.wait(timeout=10)
