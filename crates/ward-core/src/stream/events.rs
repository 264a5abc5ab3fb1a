//! What each API's stream events carry: text fragments of a slot (a choice,
//! an output item's content part, a content block), whole texts repeated in
//! "done" events, and where a slot ends.

use serde_json::Value;

use crate::segment::Origin;
use crate::wire::Api;

/// A fragment of a slot's text, at `pointer` in the event's JSON.
pub(super) struct Fragment {
    pub slot: String,
    pub origin: Origin,
    pub pointer: String,
    pub text: String,
}

/// A whole text a "done" or summary event repeats; `slot` is the slot whose
/// fragments it should equal.
pub(super) struct Whole {
    pub slot: Option<String>,
    pub origin: Origin,
    pub pointer: String,
    pub text: String,
}

#[derive(Default)]
pub(super) struct Reading {
    pub fragments: Vec<Fragment>,
    pub wholes: Vec<Whole>,
    /// Slots (by key, or every key under `key.`) that this event ends.
    pub ends: Vec<String>,
    /// Ends every text slot (the message is over).
    pub ends_all: bool,
    /// Part of a tool call (or the event naming the model): kept for the
    /// tool checks at the end.
    pub tool_related: bool,
    /// Part of a tool call: released only once the calls are checked.
    pub tool_call: bool,
}

fn arr(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn text_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn index(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Whether a slot key is `slot` or lies under it.
pub(super) fn under(key: &str, slot: &str) -> bool {
    key == slot || key.strip_prefix(slot).is_some_and(|rest| rest.starts_with('.'))
}

pub(super) fn read(api: Option<Api>, v: &Value) -> Reading {
    let mut r = Reading::default();
    match api {
        Some(Api::OpenaiResponses) => responses(v, &mut r),
        Some(Api::Anthropic) => anthropic(v, &mut r),
        Some(Api::Mcp) => {}
        Some(Api::OpenaiChat) | None => chat(v, &mut r),
    }
    r
}

fn fragment(r: &mut Reading, slot: String, origin: Origin, pointer: String, text: Option<&str>) {
    if let Some(text) = text {
        r.fragments.push(Fragment { slot, origin, pointer, text: text.to_string() });
    }
}

fn whole(r: &mut Reading, slot: Option<String>, origin: Origin, pointer: String, text: Option<&str>) {
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        r.wholes.push(Whole { slot, origin, pointer, text: text.to_string() });
    }
}

fn chat(v: &Value, r: &mut Reading) {
    r.tool_related = v.get("model").is_some();
    for (k, c) in arr(v.get("choices")).iter().enumerate() {
        let i = index(c, "index");
        let at = format!("/choices/{k}/delta");
        let d = c.get("delta");
        if let Some(d) = d {
            fragment(r, format!("#choice{i}"), Origin::Assistant, format!("{at}/content"), text_at(d, "content"));
            fragment(r, format!("#choice{i}.refusal"), Origin::Assistant, format!("{at}/refusal"), text_at(d, "refusal"));
            for (n, tc) in arr(d.get("tool_calls")).iter().enumerate() {
                r.tool_related = true;
                r.tool_call = true;
                let j = index(tc, "index");
                let f = tc.get("function");
                fragment(r, format!("#choice{i}.tool{j}"), Origin::ToolCall, format!("{at}/tool_calls/{n}/function/arguments"), f.and_then(|f| text_at(f, "arguments")));
            }
            if let Some(f) = d.get("function_call") {
                r.tool_related = true;
                r.tool_call = true;
                fragment(r, format!("#choice{i}.function_call"), Origin::ToolCall, format!("{at}/function_call/arguments"), text_at(f, "arguments"));
            }
        }
        if c.get("finish_reason").is_some_and(|f| !f.is_null()) {
            r.ends.push(format!("#choice{i}"));
        }
    }
}

fn responses(v: &Value, r: &mut Reading) {
    let i = index(v, "output_index");
    let j = index(v, "content_index");
    let kind = text_at(v, "type").unwrap_or("");
    let content = format!("#output{i}.content{j}");
    match kind {
        "response.output_text.delta" | "response.refusal.delta" => {
            fragment(r, content, Origin::Assistant, "/delta".into(), text_at(v, "delta"));
        }
        "response.reasoning_text.delta" => {
            fragment(r, format!("#output{i}.reasoning{j}"), Origin::Assistant, "/delta".into(), text_at(v, "delta"));
        }
        "response.reasoning_summary_text.delta" => {
            let s = index(v, "summary_index");
            fragment(r, format!("#output{i}.summary{s}"), Origin::Assistant, "/delta".into(), text_at(v, "delta"));
        }
        "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
            r.tool_related = true;
            r.tool_call = true;
            fragment(r, format!("#output{i}.arguments"), Origin::ToolCall, "/delta".into(), text_at(v, "delta"));
        }
        "response.output_text.done" => {
            whole(r, Some(content.clone()), Origin::Assistant, "/text".into(), text_at(v, "text"));
            r.ends.push(content);
        }
        "response.refusal.done" => {
            whole(r, Some(content.clone()), Origin::Assistant, "/refusal".into(), text_at(v, "refusal"));
            r.ends.push(content);
        }
        "response.reasoning_text.done" => {
            let slot = format!("#output{i}.reasoning{j}");
            whole(r, Some(slot.clone()), Origin::Assistant, "/text".into(), text_at(v, "text"));
            r.ends.push(slot);
        }
        "response.reasoning_summary_text.done" => {
            let slot = format!("#output{i}.summary{}", index(v, "summary_index"));
            whole(r, Some(slot.clone()), Origin::Assistant, "/text".into(), text_at(v, "text"));
            r.ends.push(slot);
        }
        "response.content_part.added" | "response.content_part.done" => {
            if let Some(part) = v.get("part") {
                whole(r, Some(content.clone()), Origin::Assistant, "/part/text".into(), text_at(part, "text"));
                whole(r, Some(content.clone()), Origin::Assistant, "/part/refusal".into(), text_at(part, "refusal"));
            }
            if kind.ends_with(".done") {
                r.ends.push(content);
            }
        }
        "response.function_call_arguments.done" => {
            r.tool_related = true;
            r.tool_call = true;
            whole(r, Some(format!("#output{i}.arguments")), Origin::ToolCall, "/arguments".into(), text_at(v, "arguments"));
        }
        "response.output_item.added" | "response.output_item.done" => {
            if let Some(item) = v.get("item") {
                output_item(item, i, "/item", r);
            }
            if kind.ends_with(".done") {
                r.ends.push(format!("#output{i}"));
            }
        }
        _ => {
            // response.created / in_progress / completed / incomplete / failed
            if let Some(resp) = v.get("response") {
                r.tool_related = true;
                for (n, item) in arr(resp.get("output")).iter().enumerate() {
                    output_item(item, n as u64, &format!("/response/output/{n}"), r);
                }
                if matches!(kind, "response.completed" | "response.incomplete" | "response.failed") {
                    r.ends_all = true;
                }
            }
        }
    }
}

fn output_item(item: &Value, i: u64, at: &str, r: &mut Reading) {
    match text_at(item, "type") {
        Some("function_call") | Some("custom_tool_call") => {
            r.tool_related = true;
            r.tool_call = true;
            let slot = Some(format!("#output{i}.arguments"));
            whole(r, slot.clone(), Origin::ToolCall, format!("{at}/arguments"), text_at(item, "arguments"));
            whole(r, slot, Origin::ToolCall, format!("{at}/input"), text_at(item, "input"));
        }
        Some("reasoning") => {
            for (k, s) in arr(item.get("summary")).iter().enumerate() {
                whole(r, Some(format!("#output{i}.summary{k}")), Origin::Assistant, format!("{at}/summary/{k}/text"), text_at(s, "text"));
            }
            for (k, c) in arr(item.get("content")).iter().enumerate() {
                whole(r, Some(format!("#output{i}.reasoning{k}")), Origin::Assistant, format!("{at}/content/{k}/text"), text_at(c, "text"));
            }
        }
        _ => {
            for (k, c) in arr(item.get("content")).iter().enumerate() {
                let slot = Some(format!("#output{i}.content{k}"));
                whole(r, slot.clone(), Origin::Assistant, format!("{at}/content/{k}/text"), text_at(c, "text"));
                whole(r, slot, Origin::Assistant, format!("{at}/content/{k}/refusal"), text_at(c, "refusal"));
            }
        }
    }
}

fn anthropic(v: &Value, r: &mut Reading) {
    let i = index(v, "index");
    let slot = format!("#block{i}");
    match text_at(v, "type").unwrap_or("") {
        "message_start" => {
            r.tool_related = true;
            if let Some(m) = v.get("message") {
                for (k, b) in arr(m.get("content")).iter().enumerate() {
                    whole(r, None, Origin::Assistant, format!("/message/content/{k}/text"), text_at(b, "text"));
                }
            }
        }
        "content_block_start" => {
            let b = v.get("content_block");
            match b.and_then(|b| text_at(b, "type")) {
                Some("text") => fragment(r, slot, Origin::Assistant, "/content_block/text".into(), b.and_then(|b| text_at(b, "text"))),
                Some("thinking") => fragment(r, slot, Origin::Assistant, "/content_block/thinking".into(), b.and_then(|b| text_at(b, "thinking"))),
                Some("tool_use") | Some("server_tool_use") => {
                    r.tool_related = true;
                    r.tool_call = true;
                }
                _ => {}
            }
        }
        "content_block_delta" => {
            let d = v.get("delta");
            match d.and_then(|d| text_at(d, "type")) {
                Some("text_delta") => fragment(r, slot, Origin::Assistant, "/delta/text".into(), d.and_then(|d| text_at(d, "text"))),
                Some("thinking_delta") => fragment(r, slot, Origin::Assistant, "/delta/thinking".into(), d.and_then(|d| text_at(d, "thinking"))),
                Some("input_json_delta") => {
                    r.tool_related = true;
                    r.tool_call = true;
                    fragment(r, slot, Origin::ToolCall, "/delta/partial_json".into(), d.and_then(|d| text_at(d, "partial_json")));
                }
                Some("citations_delta") => {
                    let c = d.and_then(|d| d.get("citation"));
                    whole(r, None, Origin::Document, "/delta/citation/cited_text".into(), c.and_then(|c| text_at(c, "cited_text")));
                }
                _ => {}
            }
        }
        "content_block_stop" => r.ends.push(slot),
        "message_stop" => r.ends_all = true,
        _ => {}
    }
}
