//! OpenAI Chat Completions: `messages[]` in, `choices[].message` out.

use serde_json::Value;

use super::{push_any, push_str, Direction, Pointer};
use crate::segment::{Origin, Segment};

pub(crate) fn role_origin(role: Option<&str>) -> Origin {
    match role {
        Some("system") | Some("developer") => Origin::System,
        Some("assistant") => Origin::Assistant,
        Some("tool") | Some("function") => Origin::ToolResult,
        _ => Origin::User,
    }
}

pub(super) fn segments(direction: Direction, body: &Value, out: &mut Vec<Segment>) {
    let root = Pointer::root();
    match direction {
        Direction::Request => {
            if let Some(Value::Array(messages)) = body.get("messages") {
                let at = root.key("messages");
                for (i, m) in messages.iter().enumerate() {
                    message(m, role_origin(m.get("role").and_then(Value::as_str)), &at.index(i), out);
                }
            }
            tool_definitions(body, out);
        }
        Direction::Response => {
            if let Some(Value::Array(choices)) = body.get("choices") {
                let at = root.key("choices");
                for (i, c) in choices.iter().enumerate() {
                    if let Some(m) = c.get("message") {
                        message(m, Origin::Assistant, &at.index(i).key("message"), out);
                    }
                }
            }
        }
    }
}

fn message(m: &Value, origin: Origin, at: &Pointer, out: &mut Vec<Segment>) {
    content(m.get("content"), origin, &at.key("content"), out);
    push_str(out, m.get("refusal"), origin, &at.key("refusal"));
    if let Some(Value::Array(calls)) = m.get("tool_calls") {
        let at = at.key("tool_calls");
        for (j, call) in calls.iter().enumerate() {
            let at = at.index(j).key("function").key("arguments");
            push_any(out, call.get("function").and_then(|f| f.get("arguments")), Origin::ToolCall, &at);
        }
    }
    if let Some(f) = m.get("function_call") {
        push_any(out, f.get("arguments"), Origin::ToolCall, &at.key("function_call").key("arguments"));
    }
}

/// `content` is a string or an array of typed parts; only text parts carry text.
pub(crate) fn content(value: Option<&Value>, origin: Origin, at: &Pointer, out: &mut Vec<Segment>) {
    match value {
        Some(Value::String(_)) => push_str(out, value, origin, at),
        Some(Value::Array(parts)) => {
            for (k, part) in parts.iter().enumerate() {
                push_str(out, part.get("text"), origin, &at.index(k).key("text"));
            }
        }
        _ => {}
    }
}

fn tool_definitions(body: &Value, out: &mut Vec<Segment>) {
    if let Some(Value::Array(tools)) = body.get("tools") {
        let at = Pointer::root().key("tools");
        for (i, t) in tools.iter().enumerate() {
            let f = t.get("function");
            let at = at.index(i).key("function");
            push_str(out, f.and_then(|f| f.get("description")), Origin::ToolDefinition, &at.key("description"));
            push_any(out, f.and_then(|f| f.get("parameters")), Origin::ToolDefinition, &at.key("parameters"));
        }
    }
}
