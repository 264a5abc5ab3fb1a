// The JS API of the browser build, run in Node against the same pkg/ the
// extension loads: results, offsets, redaction, tool calls, policy errors.
//   node test/api.mjs            (after scripts/build-web.sh)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { initSync, Ward } from "../pkg/ward_web.js";
import * as fx from "./fixtures.mjs";

initSync({ module: readFileSync(new URL("../pkg/ward_web_bg.wasm", import.meta.url)) });
const policy = readFileSync(new URL("../policy.json", import.meta.url), "utf8");

test("benign prompt is allowed with no findings", () => {
  const r = new Ward(policy).scanPrompt(fx.BENIGN_PROMPT);
  assert.equal(r.verdict, "allow");
  assert.deepEqual(r.findings, []);
  assert.equal(r.redacted, undefined);
});

test("a secret in a prompt is found at the right JS offsets and redacted", () => {
  const text = "Ünïcödé 😀 " + fx.SECRET_PROMPT; // non-ASCII: UTF-16 offsets differ from bytes
  const r = new Ward(policy).scanPrompt(text);
  assert.equal(r.verdict, "redact");
  const f = r.findings.find((f) => f.rule === "secrets.aws_access_key_id");
  assert.ok(f, JSON.stringify(r.findings));
  assert.equal(f.detector, "secrets");
  assert.equal(f.origin, "user");
  assert.equal(text.slice(f.start, f.end), fx.AWS_KEY_ID);
  assert.ok(!r.redacted.includes(fx.AWS_KEY_ID));
  assert.ok(r.redacted.startsWith("Ünïcödé 😀 Why does boto3"));
});

test("the default policy blocks a secret in a prompt", () => {
  const r = new Ward().scanPrompt(`token ${fx.GITHUB_TOKEN}`);
  assert.equal(r.verdict, "block");
  assert.equal(r.findings[0].rule, "secrets.github_token");
  assert.match(r.reason, /GITHUB|github/);
});

test("personal data in a prompt is flagged", () => {
  const r = new Ward(policy).scanPrompt(fx.EMAIL_PROMPT);
  assert.equal(r.verdict, "redact");
  assert.ok(r.findings.some((f) => f.detector === "pii"), JSON.stringify(r.findings));
});

test("injected instructions: blocked in a document, never blocked when the user types them", () => {
  const w = new Ward(policy);
  const doc = w.scanDocument(fx.INJECTED_DOCUMENT);
  assert.equal(doc.verdict, "block");
  assert.ok(doc.findings.every((f) => f.detector === "injection" && f.origin === "document"), JSON.stringify(doc.findings));
  // Origin-aware: the same words in the user's own prompt are judged less
  // strictly (the policy's user action is log; below the user threshold
  // they are not a finding at all).
  assert.ok(["log", "allow"].includes(w.scanPrompt(fx.INJECTED_DOCUMENT).verdict));
  assert.equal(w.scanDocument(fx.BENIGN_DOCUMENT).verdict, "allow");
});

test("model output is scanned as a response", () => {
  const r = new Ward(policy).scanOutput(`Here is the key: ${fx.AWS_KEY_ID}`);
  assert.equal(r.verdict, "redact");
  assert.equal(r.findings[0].origin, "assistant");
  assert.equal(r.redacted, "Here is the key: [AWS_KEY]");
});

test("tool calls: allowed, denied, secret-bearing and malformed arguments", () => {
  const w = new Ward(JSON.stringify({ tools: { allow: ["get_weather"] } }));
  assert.equal(w.checkToolCall("get_weather", '{"city":"Porto"}').verdict, "allow");
  const denied = w.checkToolCall("delete_repository", "{}");
  assert.equal(denied.verdict, "block");
  assert.equal(denied.findings[0].rule, "tools.not_allowed");
  assert.equal(denied.findings[0].start, null);
  const leaky = w.checkToolCall("get_weather", JSON.stringify({ city: fx.GITHUB_TOKEN }));
  assert.ok(leaky.findings.some((f) => f.detector === "secrets"), JSON.stringify(leaky.findings));
  const bad = w.checkToolCall("get_weather", "{city:");
  assert.equal(bad.verdict, "block");
  assert.equal(bad.findings[0].rule, "format.malformed");
});

test("a bad policy throws a PolicyError with path and line", () => {
  const text = '{\n  "secrets": {\n    "request": "shout"\n  }\n}';
  assert.throws(() => new Ward(text), (e) => {
    assert.ok(e instanceof Error);
    assert.equal(e.name, "PolicyError");
    assert.equal(e.path, "secrets.request");
    assert.equal(e.line, 3);
    assert.ok(e.column > 0);
    assert.match(e.message, /^3:\d+: secrets\.request: /);
    return true;
  });
  assert.throws(() => new Ward("{"), (e) => e.name === "PolicyError" && e.line > 0);
});

test("the policy digest is the canonical one and ignores formatting", () => {
  const a = new Ward('{"mode":"monitor"}').policyDigest;
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(new Ward('{\n "mode" : "monitor"\n}').policyDigest, a);
  assert.notEqual(new Ward().policyDigest, a);
});
