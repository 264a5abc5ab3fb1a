//! MCP JSON-RPC messages (single or batched) over streamable HTTP.
//!
//! A response does not say which method it answers, so results are read by
//! shape: `content[]` is a tool result, `tools[]` a tool list, `contents[]`
//! a resource, `messages[]` a prompt.

use serde_json::Value;

use super::{push_any, push_str, Direction, Pointer};
use crate::segment::{Origin, Segment};

pub(super) fn segments(direction: Direction, body: &Value, out: &mut Vec<Segment>) {
    match body {
        Value::Array(batch) => {
            for (i, m) in batch.iter().enumerate() {
                message(direction, m, &Pointer::root().index(i), out);
            }
        }
        m => message(direction, m, &Pointer::root(), out),
    }
}

pub(crate) fn message(direction: Direction, m: &Value, at: &Pointer, out: &mut Vec<Segment>) {
    let params = m.get("params");
    let pat = at.key("params");
    match (direction, m.get("method").and_then(Value::as_str)) {
        (_, Some("tools/call")) => {
            push_any(out, params.and_then(|p| p.get("arguments")), Origin::ToolCall, &pat.key("arguments"));
        }
        // Prompt arguments are the user's words spliced into a server's prompt.
        (_, Some("prompts/get")) => {
            push_any(out, params.and_then(|p| p.get("arguments")), Origin::User, &pat.key("arguments"));
        }
        (_, Some("sampling/createMessage")) => {
            if let Some(Value::Array(msgs)) = params.and_then(|p| p.get("messages")) {
                for (i, msg) in msgs.iter().enumerate() {
                    content_item(msg.get("content"), Origin::Document, &pat.key("messages").index(i).key("content"), out);
                }
            }
        }
        _ => {}
    }
    if let Some(result) = m.get("result") {
        result_(result, &at.key("result"), out);
    }
    if let Some(error) = m.get("error") {
        push_str(out, error.get("message"), Origin::ToolResult, &at.key("error").key("message"));
    }
}

fn result_(result: &Value, at: &Pointer, out: &mut Vec<Segment>) {
    if let Some(Value::Array(items)) = result.get("content") {
        for (i, item) in items.iter().enumerate() {
            content_item(Some(item), Origin::ToolResult, &at.key("content").index(i), out);
        }
    }
    push_any(out, result.get("structuredContent"), Origin::ToolResult, &at.key("structuredContent"));
    if let Some(Value::Array(tools)) = result.get("tools") {
        for (i, t) in tools.iter().enumerate() {
            let tat = at.key("tools").index(i);
            push_str(out, t.get("description"), Origin::ToolDefinition, &tat.key("description"));
            push_any(out, t.get("inputSchema"), Origin::ToolDefinition, &tat.key("inputSchema"));
        }
    }
    if let Some(Value::Array(contents)) = result.get("contents") {
        for (i, c) in contents.iter().enumerate() {
            push_str(out, c.get("text"), Origin::Document, &at.key("contents").index(i).key("text"));
        }
    }
    if let Some(Value::Array(msgs)) = result.get("messages") {
        for (i, msg) in msgs.iter().enumerate() {
            content_item(msg.get("content"), Origin::Document, &at.key("messages").index(i).key("content"), out);
        }
    }
}

/// One MCP content item: text, or an embedded resource with text.
fn content_item(item: Option<&Value>, origin: Origin, at: &Pointer, out: &mut Vec<Segment>) {
    let Some(item) = item else { return };
    push_str(out, item.get("text"), origin, &at.key("text"));
    if let Some(r) = item.get("resource") {
        push_str(out, r.get("text"), Origin::Document, &at.key("resource").key("text"));
    }
}
