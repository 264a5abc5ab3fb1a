//! Ward in the browser: `ward-core` compiled with wasm-bindgen behind a small
//! JS API. The API is a thin adapter: every decision is the engine's, so the
//! browser warns about exactly what the proxy would block.
//!
//! ```js
//! import init, { Ward } from "./pkg/ward_web.js";
//! await init();
//! const ward = new Ward(policyJson);          // throws a PolicyError
//! const r = ward.scanPrompt(textarea.value);  // { verdict, findings, redacted? }
//! if (r.verdict !== "allow") warn(r.findings);
//! ```

mod result;

use wasm_bindgen::prelude::*;
use ward_core::{Direction, Engine, Envelope, Origin, PolicyError};

use crate::result::{ScanResult, Spans};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** What the policy does about a message or a finding, weakest first. */
export type WardAction = "allow" | "log" | "redact" | "block";
export type WardDetector = "injection" | "secrets" | "pii" | "tools" | "policy" | "format";
export type WardOrigin = "system" | "user" | "assistant" | "tool_call" | "tool_result" | "document" | "tool_definition";

export interface WardFinding {
  detector: WardDetector;
  /** Stable rule id, e.g. "secrets.aws_access_key_id". */
  rule: string;
  /** What the policy assigned to this finding. */
  action: WardAction;
  origin: WardOrigin;
  /** UTF-16 range of the match in the scanned string (JS string indices); null when the finding covers the whole input. */
  start: number | null;
  end: number | null;
  message: string;
}

export interface WardResult {
  /** "allow": nothing found; "log": found but let through; "redact": see `redacted`; "block". */
  verdict: WardAction;
  findings: WardFinding[];
  /** The input with every redacted span masked, when the verdict is "redact". */
  redacted?: string;
  /** Why, when the verdict is "block". */
  reason?: string;
}

/** Thrown by `new Ward()` for a policy that does not load. */
export interface WardPolicyError extends Error {
  name: "PolicyError";
  /** Dotted JSON path of the offending value, "" for the whole document. */
  path: string;
  /** 1-based position in the policy text, 0 when unknown. */
  line: number;
  column: number;
  reason: string;
}
"#;

/// A compiled policy. Build one and reuse it: compiling costs milliseconds,
/// a scan microseconds.
#[wasm_bindgen]
pub struct Ward {
    engine: Engine,
}

#[wasm_bindgen]
impl Ward {
    /// Compiles a policy (JSON text; omitted or empty means the secure
    /// defaults). Throws a `PolicyError` naming the path, line and column.
    #[wasm_bindgen(constructor)]
    pub fn new(policy_json: Option<String>) -> Result<Ward, JsValue> {
        let text = policy_json.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| "{}".into());
        Engine::from_json(text.as_bytes()).map(|engine| Ward { engine }).map_err(policy_error)
    }

    /// sha256 of the policy's canonical JSON, as the proxy's audit events carry it.
    #[wasm_bindgen(getter, js_name = policyDigest)]
    pub fn policy_digest(&self) -> String {
        self.engine.policy_digest().to_string()
    }

    /// A prompt the user is about to send.
    #[wasm_bindgen(js_name = scanPrompt, unchecked_return_type = "WardResult")]
    pub fn scan_prompt(&self, text: &str) -> Result<JsValue, JsValue> {
        self.scan_text(text, Origin::User, Direction::Request)
    }

    /// Third-party content (a web page, a document) about to be pasted or
    /// attached into an assistant: where indirect prompt injection hides.
    #[wasm_bindgen(js_name = scanDocument, unchecked_return_type = "WardResult")]
    pub fn scan_document(&self, text: &str) -> Result<JsValue, JsValue> {
        self.scan_text(text, Origin::Document, Direction::Request)
    }

    /// Text a model produced.
    #[wasm_bindgen(js_name = scanOutput, unchecked_return_type = "WardResult")]
    pub fn scan_output(&self, text: &str) -> Result<JsValue, JsValue> {
        self.scan_text(text, Origin::Assistant, Direction::Response)
    }

    /// A tool call an agent is about to make: the tool must be allowed by
    /// the policy and its arguments (JSON text) are scanned.
    #[wasm_bindgen(js_name = checkToolCall, unchecked_return_type = "WardResult")]
    pub fn check_tool_call(&self, name: &str, args_json: &str) -> Result<JsValue, JsValue> {
        let decision = self.engine.inspect_tool_call(&Envelope::default(), name, args_json);
        ScanResult::new(&decision, Spans::Unmapped).to_js()
    }
}

impl Ward {
    fn scan_text(&self, text: &str, origin: Origin, direction: Direction) -> Result<JsValue, JsValue> {
        let env = Envelope { direction, ..Envelope::default() };
        let decision = self.engine.inspect_text(&env, origin, text);
        ScanResult::new(&decision, Spans::In(text)).to_js()
    }
}

fn policy_error(e: PolicyError) -> JsValue {
    let error = js_sys::Error::new(&e.to_string());
    error.set_name("PolicyError");
    let fields: [(&str, JsValue); 4] = [
        ("path", e.path.as_str().into()),
        ("line", (e.line as f64).into()),
        ("column", (e.column as f64).into()),
        ("reason", e.reason.as_str().into()),
    ];
    for (key, value) in fields {
        // Setting a data property on a fresh Error cannot fail.
        let _ = js_sys::Reflect::set(&error, &key.into(), &value);
    }
    error.into()
}
