//! Wire formats: which API a message speaks, and how to read its text.
//!
//! Each submodule turns one API's JSON into [`Segment`]s. They read only the
//! fields that carry text a model sees or emits; everything else (sampling
//! parameters, ids) is left alone so a body passes through byte for byte.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::segment::Segment;

pub mod anthropic;
pub mod mcp;
pub mod openai_chat;
pub mod openai_responses;
mod pointer;
pub mod shape;
pub mod strict;

pub use pointer::Pointer;

/// The APIs Ward understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    OpenaiChat,
    /// OpenAI Responses (`/v1/responses`).
    OpenaiResponses,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// MCP JSON-RPC over streamable HTTP.
    Mcp,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenaiChat => "openai_chat",
            Api::OpenaiResponses => "openai_responses",
            Api::Anthropic => "anthropic",
            Api::Mcp => "mcp",
        }
    }

    /// Guesses the API from the request path, the way the providers lay out
    /// their endpoints. Query strings are ignored.
    pub fn from_path(path: &str) -> Option<Api> {
        let path = path.split(['?', '#']).next().unwrap_or("").trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Some(Api::OpenaiChat)
        } else if path.ends_with("/responses") {
            Some(Api::OpenaiResponses)
        } else if path.ends_with("/messages") {
            Some(Api::Anthropic)
        } else if path.ends_with("/mcp") || path.contains("/mcp/") {
            Some(Api::Mcp)
        } else {
            None
        }
    }

    /// Names accepted on the command line and in policies.
    pub fn parse(name: &str) -> Option<Api> {
        match name {
            "openai" | "openai_chat" | "chat" => Some(Api::OpenaiChat),
            "openai_responses" | "responses" => Some(Api::OpenaiResponses),
            "anthropic" => Some(Api::Anthropic),
            "mcp" => Some(Api::Mcp),
            _ => None,
        }
    }
}

/// Which way a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the client (agent, app) towards the model or tool server.
    Request,
    /// From the model or tool server back to the client.
    Response,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Request => "request",
            Direction::Response => "response",
        }
    }
}

/// Reads every inspectable segment of a complete (non-streamed) JSON body.
pub fn segments(api: Api, direction: Direction, body: &Value) -> Vec<Segment> {
    let mut out = Vec::new();
    match api {
        Api::OpenaiChat => openai_chat::segments(direction, body, &mut out),
        Api::OpenaiResponses => openai_responses::segments(direction, body, &mut out),
        Api::Anthropic => anthropic::segments(direction, body, &mut out),
        Api::Mcp => mcp::segments(direction, body, &mut out),
    }
    out
}

/// Pushes `value` as a segment when it is a non-empty string.
pub(crate) fn push_str(out: &mut Vec<Segment>, value: Option<&Value>, origin: crate::Origin, path: &Pointer) {
    if let Some(Value::String(s)) = value {
        if !s.is_empty() {
            out.push(Segment::new(s.clone(), origin, path.to_string()));
        }
    }
}

/// Pushes a value that may be a string or any JSON (tool arguments, MCP
/// structured content): strings as they are, anything else in its compact
/// JSON form so detectors see every string inside it.
pub(crate) fn push_any(out: &mut Vec<Segment>, value: Option<&Value>, origin: crate::Origin, path: &Pointer) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(_)) => push_str(out, value, origin, path),
        Some(other) => out.push(Segment::new(other.to_string(), origin, path.to_string())),
    }
}
