//! OpenAI Responses: `instructions` + `input` in, `output[]` items out.

use serde_json::Value;

use super::openai_chat::{content, role_origin};
use super::{push_any, push_str, Direction, Pointer};
use crate::segment::{Origin, Segment};

pub(super) fn segments(direction: Direction, body: &Value, out: &mut Vec<Segment>) {
    let root = Pointer::root();
    match direction {
        Direction::Request => {
            push_str(out, body.get("instructions"), Origin::System, &root.key("instructions"));
            match body.get("input") {
                Some(Value::String(_)) => push_str(out, body.get("input"), Origin::User, &root.key("input")),
                Some(Value::Array(items)) => items_(items, &root.key("input"), out),
                _ => {}
            }
            if let Some(Value::Array(tools)) = body.get("tools") {
                let at = root.key("tools");
                for (i, t) in tools.iter().enumerate() {
                    push_str(out, t.get("description"), Origin::ToolDefinition, &at.index(i).key("description"));
                    push_any(out, t.get("parameters"), Origin::ToolDefinition, &at.index(i).key("parameters"));
                }
            }
        }
        Direction::Response => {
            if let Some(Value::Array(items)) = body.get("output") {
                items_(items, &root.key("output"), out);
            }
        }
    }
}

/// Input and output share one item vocabulary: messages, function calls and
/// function call outputs.
fn items_(items: &[Value], at: &Pointer, out: &mut Vec<Segment>) {
    for (i, item) in items.iter().enumerate() {
        let at = at.index(i);
        match item.get("type").and_then(Value::as_str) {
            Some("function_call") | Some("custom_tool_call") => {
                push_any(out, item.get("arguments"), Origin::ToolCall, &at.key("arguments"));
                push_any(out, item.get("input"), Origin::ToolCall, &at.key("input"));
            }
            Some("function_call_output") | Some("custom_tool_call_output") => {
                push_any(out, item.get("output"), Origin::ToolResult, &at.key("output"));
            }
            _ => {
                let origin = role_origin(item.get("role").and_then(Value::as_str));
                content(item.get("content"), origin, &at.key("content"), out);
            }
        }
    }
}
