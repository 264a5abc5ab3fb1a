//! The per-API wire readers on any JSON: segments, tool uses, the
//! messages view, stream reassembly, plus the text and tool-call entry
//! points. No panic; every segment's pointer resolves in the body it came
//! from (redaction relies on it).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use ward_core::tools::wire as tools_wire;
use ward_core::{wire, Api, Direction, Engine, Envelope, Origin};

const APIS: [Api; 4] = [Api::OpenaiChat, Api::OpenaiResponses, Api::Anthropic, Api::Mcp];

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::from_json(br#"{"tools": {"allow": ["search_docs"]}, "secrets": {"request": "redact"}, "pii": {"request": "redact"}}"#).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let api = APIS[selector as usize % APIS.len()];
    let direction = if selector & 4 != 0 { Direction::Response } else { Direction::Request };
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        for s in wire::segments(api, direction, &value) {
            let target = value.pointer(&s.path);
            assert!(target.is_some(), "segment path {} does not resolve", s.path);
        }
        let _ = tools_wire::tool_uses(api, direction, &value);
        let _ = tools_wire::messages(&value);
        let _ = tools_wire::results_in_history(api, &value);
        let _ = tools_wire::model(&value);
        if let Value::Array(events) = &value {
            let _ = tools_wire::reassemble(api, events);
        }
        let _ = engine().check_tools(api, direction, &value);
    }
    let text = String::from_utf8_lossy(body);
    let env = Envelope { direction, ..Envelope::default() };
    let _ = engine().inspect_text(&env, Origin::Document, &text);
    if selector & 8 != 0 {
        let (name, args) = text.split_once('\n').unwrap_or(("search_docs", &text));
        let _ = engine().inspect_tool_call(&env, name, args);
    }
});
