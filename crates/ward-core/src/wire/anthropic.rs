//! Anthropic Messages: `system` + `messages[]` of content blocks in,
//! `content[]` blocks out.

use serde_json::Value;

use super::{push_any, push_str, Direction, Pointer};
use crate::segment::{Origin, Segment};

pub(super) fn segments(direction: Direction, body: &Value, out: &mut Vec<Segment>) {
    let root = Pointer::root();
    match direction {
        Direction::Request => {
            blocks(body.get("system"), Origin::System, &root.key("system"), out);
            if let Some(Value::Array(messages)) = body.get("messages") {
                let at = root.key("messages");
                for (i, m) in messages.iter().enumerate() {
                    let origin = match m.get("role").and_then(Value::as_str) {
                        Some("assistant") => Origin::Assistant,
                        _ => Origin::User,
                    };
                    blocks(m.get("content"), origin, &at.index(i).key("content"), out);
                }
            }
            if let Some(Value::Array(tools)) = body.get("tools") {
                let at = root.key("tools");
                for (i, t) in tools.iter().enumerate() {
                    push_str(out, t.get("description"), Origin::ToolDefinition, &at.index(i).key("description"));
                    push_any(out, t.get("input_schema"), Origin::ToolDefinition, &at.index(i).key("input_schema"));
                }
            }
        }
        Direction::Response => blocks(body.get("content"), Origin::Assistant, &root.key("content"), out),
    }
}

/// A string, or an array of content blocks (text, tool_use, tool_result,
/// document, ...). `origin` is the origin of plain text blocks.
fn blocks(value: Option<&Value>, origin: Origin, at: &Pointer, out: &mut Vec<Segment>) {
    let parts = match value {
        Some(Value::String(_)) => return push_str(out, value, origin, at),
        Some(Value::Array(parts)) => parts,
        _ => return,
    };
    for (k, block) in parts.iter().enumerate() {
        let at = at.index(k);
        match block.get("type").and_then(Value::as_str) {
            Some("tool_use") | Some("server_tool_use") => {
                push_any(out, block.get("input"), Origin::ToolCall, &at.key("input"))
            }
            Some("tool_result") => blocks(block.get("content"), Origin::ToolResult, &at.key("content"), out),
            Some("document") => {
                let source = block.get("source");
                let sat = at.key("source");
                match source.and_then(|s| s.get("type")).and_then(Value::as_str) {
                    Some("text") => push_str(out, source.and_then(|s| s.get("data")), Origin::Document, &sat.key("data")),
                    Some("content") => blocks(source.and_then(|s| s.get("content")), Origin::Document, &sat.key("content"), out),
                    _ => {}
                }
                push_str(out, block.get("context"), Origin::Document, &at.key("context"));
            }
            Some("search_result") => {
                blocks(block.get("content"), Origin::Document, &at.key("content"), out);
            }
            _ => push_str(out, block.get("text"), origin, &at.key("text")),
        }
    }
}
