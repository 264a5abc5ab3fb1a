// The service worker holds Ward's engine. Content scripts cannot run it
// themselves: a page's Content-Security-Policy applies to them and most chat
// sites forbid WebAssembly compilation. They send text here instead.
import init, { Ward } from "./pkg/ward_web.js";

// A module service worker may not use top-level await, and the worker is
// stopped and restarted by the browser at will: compile on first use.
let ward;
function engine() {
  ward ??= (async () => {
    await init({ module_or_path: chrome.runtime.getURL("pkg/ward_web_bg.wasm") });
    const policy = await (await fetch(chrome.runtime.getURL("policy.json"))).text();
    return new Ward(policy);
  })();
  return ward;
}

const scanners = {
  prompt: (w, text) => w.scanPrompt(text),
  document: (w, text) => w.scanDocument(text),
  output: (w, text) => w.scanOutput(text),
};

chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id || msg?.type !== "ward.scan") return false;
  const scan = Object.hasOwn(scanners, msg.kind) ? scanners[msg.kind] : null;
  if (!scan || typeof msg.text !== "string") {
    sendResponse({ ok: false, error: "bad request" });
    return false;
  }
  engine().then(
    (w) => sendResponse({ ok: true, result: scan(w, msg.text) }),
    (e) => sendResponse({ ok: false, error: `${e?.name ?? "Error"}: ${e?.message ?? e}` }),
  );
  return true; // answers asynchronously
});
