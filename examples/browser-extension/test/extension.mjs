// Loads the extension into headless Chromium, serves a test chat page from
// 127.0.0.1 and checks what a user would see: secrets and personal data are
// stopped before sending with a warning, benign text is sent untouched, and
// injected instructions are flagged when copied or pasted.
//   node test/extension.mjs   (after scripts/build-web.sh; needs playwright-core
//                              in $WARD_NODE/node_modules and /usr/bin/chromium)
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir, homedir } from "node:os";
import { extname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import * as fx from "./fixtures.mjs";

const extensionDir = fileURLToPath(new URL("..", import.meta.url));
const pageDir = fileURLToPath(new URL("./page/", import.meta.url));
const nodeDir = process.env.WARD_NODE ?? join(homedir(), ".cache/ward/node");
const { chromium } = createRequire(join(nodeDir, "package.json"))("playwright-core");
const chromiumPath = process.env.WARD_CHROMIUM ?? "/usr/bin/chromium";

assert.ok(existsSync(join(extensionDir, "pkg/ward_web_bg.wasm")), "run scripts/build-web.sh first");

// The page carries a strict CSP, like the chat sites the extension targets:
// no wasm compilation may happen in its content script.
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
const CSP = "default-src 'self'; script-src 'self'; object-src 'none'";
let server, base, ctx, userDataDir, worker, page;

before(async () => {
  server = createServer((req, res) => {
    const name = new URL(req.url, "http://x").pathname.replace(/^\/+/, "") || "chat.html";
    if (!/^[a-z]+\.(html|js|css)$/.test(name) || !existsSync(join(pageDir, name))) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(name)], "content-security-policy": CSP });
    res.end(readFileSync(join(pageDir, name)));
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${server.address().port}`;
  userDataDir = mkdtempSync(join(tmpdir(), "ward-chromium-"));
  ctx = await chromium.launchPersistentContext(userDataDir, {
    headless: true,
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--disable-extensions-except=${extensionDir}`,
      `--load-extension=${extensionDir}`,
    ],
  });
  worker = ctx.serviceWorkers()[0] ?? (await ctx.waitForEvent("serviceworker", { timeout: 15000 }));
  page = ctx.pages()[0] ?? (await ctx.newPage());
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
});

after(async () => {
  await ctx?.close();
  await new Promise((ok) => (server ? server.close(ok) : ok()));
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

const warning = () => page.locator("#ward-warning-host");
const sent = () => page.locator("#sent li").allTextContents();

async function openChat() {
  await page.goto(`${base}/chat.html`);
  // Records every warning the content script shows, so a test can assert
  // that none appeared (not just that none is showing now).
  await page.evaluate(() => {
    window.wardSeen = [];
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) if (n.id === "ward-warning-host") window.wardSeen.push({ kind: n.dataset.wardKind, rules: n.dataset.wardRules });
    }).observe(document.documentElement, { childList: true });
  });
}

const seen = () => page.evaluate(() => window.wardSeen);

async function selectAndCopy(selector) {
  await page.evaluate((sel) => {
    const range = document.createRange();
    range.selectNodeContents(document.querySelector(sel));
    const s = document.getSelection();
    s.removeAllRanges();
    s.addRange(range);
  }, selector);
  await page.keyboard.press("ControlOrMeta+c");
}

test("the extension loads: its module service worker runs", async () => {
  const id = new URL(worker.url()).host;
  assert.match(worker.url(), /^chrome-extension:\/\/[a-p]{32}\/background\.js$/);
  const manifest = await worker.evaluate(() => chrome.runtime.getManifest());
  assert.equal(manifest.name, "Ward");
  assert.equal(manifest.manifest_version, 3);
  assert.ok(id.length === 32);
});

test("benign text is sent, with no warning", async () => {
  await openChat();
  await page.locator("#prompt").fill(fx.BENIGN_PROMPT);
  await page.locator("#prompt").press("Enter");
  await page.waitForFunction(() => document.querySelectorAll("#sent li").length === 1);
  assert.deepEqual(await sent(), [fx.BENIGN_PROMPT]);
  assert.deepEqual(await seen(), []);
  assert.equal(await warning().count(), 0);
});

test("a secret typed into the page is stopped with a warning; 'Send redacted' sends it masked", async () => {
  await openChat();
  await page.locator("#prompt").pressSequentially(fx.SECRET_PROMPT, { delay: 2 });
  await page.locator("#prompt").press("Enter");
  await warning().waitFor({ state: "attached", timeout: 10000 });
  assert.equal(await warning().getAttribute("data-ward-kind"), "prompt");
  assert.match(await warning().getAttribute("data-ward-rules"), /secrets\.aws_access_key_id/);
  await assert.doesNotReject(page.getByRole("alertdialog").getByText("contains a secret").waitFor());
  assert.deepEqual(await sent(), [], "the secret must not have been sent");
  await page.getByRole("button", { name: "Send redacted" }).click();
  await page.waitForFunction(() => document.querySelectorAll("#sent li").length === 1);
  const [message] = await sent();
  assert.ok(!message.includes(fx.AWS_KEY_ID), message);
  assert.ok(message.includes("[AWS_KEY]"), message);
  assert.equal(await warning().count(), 0);
});

test("the Send button path is checked too; 'Edit' keeps the message unsent", async () => {
  await openChat();
  await page.locator("#prompt").fill(`Use this token for the CI: ${fx.GITHUB_TOKEN}`);
  await page.locator("#send").click();
  await warning().waitFor({ state: "attached", timeout: 10000 });
  assert.match(await warning().getAttribute("data-ward-rules"), /secrets\.github_token/);
  await page.getByRole("button", { name: "Edit" }).click();
  assert.equal(await warning().count(), 0);
  assert.deepEqual(await sent(), []);
  assert.ok((await page.locator("#prompt").inputValue()).includes(fx.GITHUB_TOKEN));
});

test("personal data is warned about; 'Send anyway' sends it as typed", async () => {
  await openChat();
  await page.locator("#prompt").fill(fx.EMAIL_PROMPT);
  await page.locator("#prompt").press("Enter");
  await warning().waitFor({ state: "attached", timeout: 10000 });
  assert.match(await warning().getAttribute("data-ward-rules"), /pii\./);
  assert.deepEqual(await sent(), []);
  await page.getByRole("button", { name: "Send anyway" }).click();
  await page.waitForFunction(() => document.querySelectorAll("#sent li").length === 1);
  assert.deepEqual(await sent(), [fx.EMAIL_PROMPT]);
});

test("copying page text with injected instructions is flagged; benign text is not", async () => {
  await openChat();
  await selectAndCopy("#benign");
  await selectAndCopy("#injected");
  await warning().waitFor({ state: "attached", timeout: 10000 });
  // Scans are answered in order: had the benign copy been flagged, its
  // warning would have been recorded first.
  const shown = await seen();
  assert.equal(shown.length, 1, JSON.stringify(shown));
  assert.equal(shown[0].kind, "copy");
  assert.match(shown[0].rules, /^injection\./);
});

test("pasting injected instructions into the prompt is flagged and can be undone", async () => {
  await openChat();
  await page.locator("#prompt").fill("Summarise this: ");
  await selectAndCopy("#injected");
  await warning().waitFor({ state: "attached", timeout: 10000 });
  await page.getByRole("button", { name: "Dismiss" }).click();
  await page.locator("#prompt").focus();
  await page.locator("#prompt").press("End");
  await page.keyboard.press("ControlOrMeta+v");
  await page.waitForFunction(() => window.wardSeen.some((w) => w.kind === "paste"), null, { timeout: 10000 });
  assert.ok((await page.locator("#prompt").inputValue()).includes("ignore all previous instructions"));
  assert.match(await warning().getAttribute("data-ward-rules"), /^injection\./);
  await page.getByRole("button", { name: "Remove pasted text" }).click();
  assert.equal(await page.locator("#prompt").inputValue(), "Summarise this: ");
});
