"""`ward report --format json` against docs/report-schema.json, with a real
JSON Schema validator; and the documented hash recipe against `ward verify`."""

import json
import subprocess

import jsonschema
import pytest

from conftest import ROOT


def run(ward_bin, *args):
    return subprocess.run([ward_bin, *map(str, args)], capture_output=True, text=True)


def test_the_documented_hash_recipe_is_what_verify_checks(ward_bin, attack_trail):
    ok = run(ward_bin, "verify", attack_trail)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK 1 chain(s), 4 event(s)"), ok.stdout
    lines = attack_trail.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace('"action":"block"', '"action":"log"', 1)
    attack_trail.write_text("".join(l + "\n" for l in lines), encoding="utf-8")
    broken = run(ward_bin, "verify", attack_trail)
    assert broken.returncode == 1, broken.stdout
    assert f"{attack_trail}:3: edited" in broken.stdout, broken.stdout


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((ROOT / "docs" / "report-schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_the_report_validates_against_its_schema(ward_bin, attack_trail, validator):
    out = run(ward_bin, "report", "--audit", attack_trail, "--since", "2026-11-21T10:00:00Z", "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    validator.validate(report)
    rules = [i["rule"] for i in report["incidents"]]
    assert rules == ["injection.override", "tools.not_allowed", "secrets.aws_access_key_id"]
    assert report["early_warning"]["suspected_malicious"] == "likely"
    # The credential was only logged: the report must say so.
    assert report["early_warning"]["all_blocked"] is False
    assert any("only logged" in m for m in report["corrective_measures"])
    assert report["summary"]["agents"] == ["helpdesk", "rédacteur"]


def test_the_schema_rejects_a_report_that_breaks_it(ward_bin, attack_trail, validator):
    report = json.loads(run(ward_bin, "report", "--audit", attack_trail, "--since", "0", "--format", "json").stdout)
    validator.validate(report)
    for damage in (
        lambda r: r["incidents"][0].pop("evidence"),
        lambda r: r["early_warning"].update(suspected_malicious="certain"),
        lambda r: r["incidents"][0]["evidence"][0].update(hash="xyz"),
        lambda r: r.update(window=dict(r["window"], since="yesterday")),
    ):
        broken = json.loads(json.dumps(report))
        damage(broken)
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)
