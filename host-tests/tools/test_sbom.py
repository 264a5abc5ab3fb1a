"""`ward sbom` output validated as CycloneDX 1.6 by cyclonedx-python-lib's
strict JSON validator (installed by scripts/setup.sh --all)."""

import hashlib
import json
import subprocess

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def sbom(ward_bin, tmp_path, trail):
    module = tmp_path / "ward_filter.wasm"
    module.write_bytes(b"\0asm\x01\0\0\0sbom test module")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({
        "tools": {
            "allow": ["fetch_ticket"],
            "definitions": {"search_kb": {"pin": "sha256:" + "cd" * 32, "server": "kb"}},
            "default_agent": {"tools": ["fetch_ticket", "search_kb"], "models": ["gpt-4o"], "mcp_servers": ["kb"]},
        },
        "models": {"aliases": {"gpt-4o": ["gpt-4o-2024-08-06"]}},
        "mcp_servers": {"kb": {"name": "kb-server", "authorities": ["kb.internal:8080"]}},
    }))
    out = subprocess.run([ward_bin, "sbom", "--policy", str(policy), "--audit", str(trail), "--module", str(module)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout, hashlib.sha256(module.read_bytes()).hexdigest()


def test_the_sbom_is_valid_cyclonedx_1_6(ward_bin, tmp_path, attack_trail):
    text, module_sha = sbom(ward_bin, tmp_path, attack_trail)
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    bom = json.loads(text)
    by_name = {c["name"]: c for c in bom["components"]}
    assert by_name["ward-filter"]["hashes"] == [{"alg": "SHA-256", "content": module_sha}]
    assert by_name["gpt-4o"]["type"] == "machine-learning-model"
    assert by_name["search_kb"]["hashes"] == [{"alg": "SHA-256", "content": "cd" * 32}]
    props = {c["name"]: {p["name"]: p["value"] for p in c["properties"]} for c in bom["components"]}
    assert props["shell_exec"]["ward:observed"] == "true" and props["shell_exec"]["ward:allowed"] == "false"
    assert props["search_kb"]["ward:observed"] == "false"
    assert props["kb"]["ward:kind"] == "mcp_server"


def test_the_validator_catches_a_broken_sbom(ward_bin, tmp_path, attack_trail):
    text, _ = sbom(ward_bin, tmp_path, attack_trail)
    bom = json.loads(text)
    bom["components"][0]["hashes"][0]["alg"] = "SHA256"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom)) is not None
