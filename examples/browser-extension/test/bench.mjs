// Median cost of the browser build in Node (V8, as in Chromium): module
// instantiation, policy compilation, and scans of 2 KB and 20 KB of text.
//   node test/bench.mjs   (after scripts/build-web.sh)
import { readFileSync } from "node:fs";
import { initSync, Ward } from "../pkg/ward_web.js";
const t0 = performance.now();
initSync({ module: readFileSync(new URL("../pkg/ward_web_bg.wasm", import.meta.url)) });
const t1 = performance.now();
const policy = readFileSync(new URL("../policy.json", import.meta.url), "utf8");
const times = (f, n) => { const a = []; for (let i = 0; i < n; i++) { const s = performance.now(); f(); a.push(performance.now() - s); } a.sort((x, y) => x - y); return a[a.length >> 1]; };
const compile = times(() => new Ward(policy).free(), 20);
const w = new Ward(policy);
const para = "The tram up to the castle leaves every twelve minutes; buy a day pass at the kiosk by the river and keep the receipt. ";
const t2k = para.repeat(Math.ceil(2048 / para.length)).slice(0, 2048);
const t20k = para.repeat(Math.ceil(20480 / para.length)).slice(0, 20480);
console.log(JSON.stringify({ init_ms: +(t1 - t0).toFixed(1), new_ward_ms: +compile.toFixed(2), prompt_2k_ms: +times(() => w.scanPrompt(t2k), 200).toFixed(3), prompt_20k_ms: +times(() => w.scanPrompt(t20k), 100).toFixed(3), document_20k_ms: +times(() => w.scanDocument(t20k), 100).toFixed(3) }));
