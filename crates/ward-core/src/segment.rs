//! A segment is one piece of text the engine inspects, together with where it
//! came from. Detectors only ever see segments, never wire formats, so a new
//! API needs a new extractor and nothing else.

use serde::{Deserialize, Serialize};

/// Who wrote a piece of text, as far as the wire format tells.
///
/// Origin matters because the same words mean different things in different
/// places: "ignore the previous instructions" typed by the user is a request,
/// inside a tool result it is an attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// System or developer instructions set by the application.
    System,
    /// The end user's own message.
    User,
    /// Text the model produced.
    Assistant,
    /// Arguments of a tool call (model-emitted or an MCP `tools/call`).
    ToolCall,
    /// A tool's result handed back to the model (including MCP results).
    ToolResult,
    /// Retrieved or attached third-party content (RAG, documents, resources).
    Document,
    /// A tool's declared definition (name, description, schema).
    ToolDefinition,
}

impl Origin {
    pub const ALL: [Origin; 7] = [
        Origin::System,
        Origin::User,
        Origin::Assistant,
        Origin::ToolCall,
        Origin::ToolResult,
        Origin::Document,
        Origin::ToolDefinition,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::System => "system",
            Origin::User => "user",
            Origin::Assistant => "assistant",
            Origin::ToolCall => "tool_call",
            Origin::ToolResult => "tool_result",
            Origin::Document => "document",
            Origin::ToolDefinition => "tool_definition",
        }
    }

    /// Content the application did not write and the user did not type:
    /// the channels indirect prompt injection arrives through.
    pub fn is_untrusted(self) -> bool {
        matches!(self, Origin::ToolResult | Origin::Document | Origin::ToolDefinition)
    }
}

/// One inspected piece of text with its origin and the JSON location it was
/// read from (an RFC 6901 pointer into the body, or `#n` for the n-th
/// streamed event), so a finding can be traced and redacted in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub origin: Origin,
    pub path: String,
}

impl Segment {
    pub fn new(text: impl Into<String>, origin: Origin, path: impl Into<String>) -> Segment {
        Segment { text: text.into(), origin, path: path.into() }
    }
}
