//! Answers Ward sends in place of a blocked request or response, in the
//! API's own error shape so a client's existing error handling reads them.

use serde_json::{json, Value};

use crate::wire::Api;

/// A complete HTTP answer for the host to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// JSON-RPC error code Ward uses for policy denials (the implementation-
/// defined server error range of JSON-RPC 2.0).
pub const JSONRPC_BLOCKED: i64 = -32001;

/// The error body for `api`. `status` is the HTTP status (ignored for MCP
/// denials, which are JSON-RPC errors in a 200 so MCP clients surface them
/// as a failed call rather than a transport failure). `jsonrpc_id` is the id
/// of the MCP request being answered.
pub fn error_reply(api: Option<Api>, status: u16, message: &str, request_id: &str, jsonrpc_id: Option<&Value>) -> Reply {
    let text = format!("Blocked by Ward: {message} (request id {request_id})");
    let (status, body) = match api {
        Some(Api::Anthropic) => (
            status,
            json!({"type": "error", "error": {"type": anthropic_type(status), "message": text}, "request_id": request_id}),
        ),
        Some(Api::Mcp) => {
            let code = if status == 400 { -32700 } else { JSONRPC_BLOCKED };
            let status = if status == 400 || status == 413 { status } else { 200 };
            (
                status,
                json!({"jsonrpc": "2.0", "id": jsonrpc_id.cloned().unwrap_or(Value::Null),
                       "error": {"code": code, "message": text, "data": {"ward_request_id": request_id}}}),
            )
        }
        // OpenAI's shape is also the de-facto default for unknown APIs.
        _ => (
            status,
            json!({"error": {"message": text, "type": openai_type(status), "param": null, "code": "ward_blocked", "ward_request_id": request_id}}),
        ),
    };
    Reply { status, content_type: "application/json", body: body.to_string().into_bytes() }
}

/// The SSE event that ends a stream Ward stopped mid-way.
pub fn stream_error_event(api: Option<Api>, message: &str, request_id: &str, jsonrpc_id: Option<&Value>) -> Vec<u8> {
    let text = format!("Blocked by Ward: {message} (request id {request_id})");
    let (event, data) = match api {
        Some(Api::Anthropic) => ("error", json!({"type": "error", "error": {"type": "permission_error", "message": text}})),
        Some(Api::OpenaiResponses) => ("error", json!({"type": "error", "code": "ward_blocked", "message": text, "param": null})),
        Some(Api::Mcp) => (
            "message",
            json!({"jsonrpc": "2.0", "id": jsonrpc_id.cloned().unwrap_or(Value::Null),
                   "error": {"code": JSONRPC_BLOCKED, "message": text, "data": {"ward_request_id": request_id}}}),
        ),
        _ => ("", json!({"error": {"message": text, "type": "ward_policy_violation", "code": "ward_blocked", "ward_request_id": request_id}})),
    };
    let mut out = Vec::new();
    if !event.is_empty() {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
    out
}

fn openai_type(status: u16) -> &'static str {
    match status {
        400 | 413 => "invalid_request_error",
        _ => "ward_policy_violation",
    }
}

fn anthropic_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        413 => "request_too_large",
        502 => "api_error",
        _ => "permission_error",
    }
}
