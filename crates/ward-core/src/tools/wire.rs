//! Where tools appear in each API: declared to a model, called by one,
//! called over MCP, listed by an MCP server; and, for flow rules, which
//! tools' results a conversation carries.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::wire::{Api, Direction, Pointer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UseKind {
    /// Offered to a model in a request's `tools`.
    Declared,
    /// Emitted by a model in a response, or an MCP `tools/call`.
    Called,
    /// Listed in an MCP `tools/list` result.
    Listed,
}

/// One tool named in a message.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolUse {
    pub name: String,
    pub kind: UseKind,
    /// RFC 6901 pointer to the whole declaration, call or listed tool (for
    /// an MCP call: the JSON-RPC message), or `#…` for a streamed call.
    pub path: String,
    /// A call's arguments: an object, or a string holding one (OpenAI).
    pub arguments: Option<Value>,
}

fn arr(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map(|a| a.as_slice()).unwrap_or(&[])
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Declarations, model calls, MCP calls and listed tools in a complete
/// body. Calls replayed in a request's history are not included: they were
/// judged when the model emitted them.
pub fn tool_uses(api: Api, direction: Direction, body: &Value) -> Vec<ToolUse> {
    let mut out = Vec::new();
    let root = Pointer::root();
    let mut push = |name: Option<&str>, kind: UseKind, at: &Pointer, arguments: Option<&Value>| {
        if let Some(name) = name {
            out.push(ToolUse { name: name.to_string(), kind, path: at.to_string(), arguments: arguments.cloned() });
        }
    };
    match (api, direction) {
        (Api::OpenaiChat, Direction::Request) => {
            for (i, t) in arr(body.get("tools")).iter().enumerate() {
                let name = t.get("function").or_else(|| t.get("custom")).and_then(|f| str_of(f, "name"));
                push(name, UseKind::Declared, &root.key("tools").index(i), None);
            }
        }
        (Api::OpenaiChat, Direction::Response) => {
            for (i, ch) in arr(body.get("choices")).iter().enumerate() {
                let m = ch.get("message");
                let at = root.key("choices").index(i).key("message");
                for (j, c) in arr(m.and_then(|m| m.get("tool_calls"))).iter().enumerate() {
                    let f = c.get("function").or_else(|| c.get("custom"));
                    let args = f.and_then(|f| f.get("arguments").or_else(|| f.get("input")));
                    push(f.and_then(|f| str_of(f, "name")), UseKind::Called, &at.key("tool_calls").index(j), args);
                }
                if let Some(f) = m.and_then(|m| m.get("function_call")) {
                    push(str_of(f, "name"), UseKind::Called, &at.key("function_call"), f.get("arguments"));
                }
            }
        }
        (Api::OpenaiResponses, Direction::Request) => {
            for (i, t) in arr(body.get("tools")).iter().enumerate() {
                // Built-in tools (web_search, code_interpreter, …) have no
                // name; their type names them, and they are default-denied
                // like any other tool.
                push(str_of(t, "name").or_else(|| str_of(t, "type")), UseKind::Declared, &root.key("tools").index(i), None);
            }
        }
        (Api::OpenaiResponses, Direction::Response) => {
            for (i, it) in arr(body.get("output")).iter().enumerate() {
                if matches!(str_of(it, "type"), Some("function_call") | Some("custom_tool_call")) {
                    let args = it.get("arguments").or_else(|| it.get("input"));
                    push(str_of(it, "name"), UseKind::Called, &root.key("output").index(i), args);
                }
            }
        }
        (Api::Anthropic, Direction::Request) => {
            for (i, t) in arr(body.get("tools")).iter().enumerate() {
                push(str_of(t, "name"), UseKind::Declared, &root.key("tools").index(i), None);
            }
        }
        (Api::Anthropic, Direction::Response) => {
            for (k, b) in arr(body.get("content")).iter().enumerate() {
                if matches!(str_of(b, "type"), Some("tool_use") | Some("server_tool_use")) {
                    push(str_of(b, "name"), UseKind::Called, &root.key("content").index(k), b.get("input"));
                }
            }
        }
        (Api::Mcp, direction) => {
            for (m, at) in messages(body) {
                if direction == Direction::Request && str_of(m, "method") == Some("tools/call") {
                    let params = m.get("params");
                    // A call without a string name names no tool the policy grants.
                    let name = params.and_then(|p| p.get("name")).map(|n| n.as_str().unwrap_or(""));
                    push(name.or(Some("")), UseKind::Called, &at, params.and_then(|p| p.get("arguments")));
                }
                if direction == Direction::Response {
                    for (i, t) in arr(m.get("result").and_then(|r| r.get("tools"))).iter().enumerate() {
                        push(Some(str_of(t, "name").unwrap_or("")), UseKind::Listed, &at.key("result").key("tools").index(i), None);
                    }
                }
            }
        }
    }
    out
}

/// The JSON-RPC messages of an MCP body (one, or a batch) with pointers.
pub fn messages(body: &Value) -> Vec<(&Value, Pointer)> {
    match body {
        Value::Array(batch) => batch.iter().enumerate().map(|(i, m)| (m, Pointer::root().index(i))).collect(),
        m => vec![(m, Pointer::root())],
    }
}

/// Names of the tools whose results a request's conversation carries
/// (matched to the calls that asked for them by call id).
pub fn results_in_history(api: Api, body: &Value) -> Vec<String> {
    let mut called: BTreeMap<&str, &str> = BTreeMap::new();
    let mut answered: Vec<&str> = Vec::new();
    let mut named: Vec<&str> = Vec::new();
    match api {
        Api::OpenaiChat => {
            for m in arr(body.get("messages")) {
                for c in arr(m.get("tool_calls")) {
                    if let (Some(id), Some(name)) = (str_of(c, "id"), c.get("function").or_else(|| c.get("custom")).and_then(|f| str_of(f, "name"))) {
                        called.insert(id, name);
                    }
                }
                match str_of(m, "role") {
                    Some("tool") => answered.extend(str_of(m, "tool_call_id")),
                    // The legacy function role names the function itself.
                    Some("function") => named.extend(str_of(m, "name")),
                    _ => {}
                }
            }
        }
        Api::OpenaiResponses => {
            for it in arr(body.get("input")) {
                match str_of(it, "type") {
                    Some("function_call") | Some("custom_tool_call") => {
                        if let (Some(id), Some(name)) = (str_of(it, "call_id"), str_of(it, "name")) {
                            called.insert(id, name);
                        }
                    }
                    Some("function_call_output") | Some("custom_tool_call_output") => answered.extend(str_of(it, "call_id")),
                    _ => {}
                }
            }
        }
        Api::Anthropic => {
            for m in arr(body.get("messages")) {
                for b in arr(m.get("content")) {
                    match str_of(b, "type") {
                        Some("tool_use") | Some("server_tool_use") => {
                            if let (Some(id), Some(name)) = (str_of(b, "id"), str_of(b, "name")) {
                                called.insert(id, name);
                            }
                        }
                        Some("tool_result") => answered.extend(str_of(b, "tool_use_id")),
                        _ => {}
                    }
                }
            }
        }
        Api::Mcp => {}
    }
    let mut names: Vec<String> = answered.iter().filter_map(|id| called.get(id)).chain(named.iter()).map(|n| n.to_string()).collect();
    names.sort();
    names.dedup();
    names
}

/// The model a request asks for, or a response says answered.
pub fn model(body: &Value) -> Option<&str> {
    str_of(body, "model")
}

/// What a streamed model response carries once its events are put
/// together: the answering model and each tool call with its arguments
/// reassembled from their fragments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamedMessage {
    pub model: Option<String>,
    pub calls: Vec<ToolUse>,
}

/// Reassembles tool calls from the parsed JSON events of an OpenAI Chat,
/// OpenAI Responses or Anthropic stream (MCP events are whole messages and
/// need no reassembly).
pub fn reassemble(api: Api, events: &[Value]) -> StreamedMessage {
    let mut msg = StreamedMessage::default();
    let slot = |calls: &mut Vec<ToolUse>, key: String| -> usize {
        match calls.iter().position(|c| c.path == key) {
            Some(i) => i,
            None => {
                calls.push(ToolUse { name: String::new(), kind: UseKind::Called, path: key, arguments: None });
                calls.len() - 1
            }
        }
    };
    let append = |call: &mut ToolUse, fragment: &str| match &mut call.arguments {
        Some(Value::String(s)) => s.push_str(fragment),
        _ => call.arguments = Some(Value::String(fragment.to_string())),
    };
    for v in events {
        match api {
            Api::OpenaiChat => {
                if msg.model.is_none() {
                    msg.model = str_of(v, "model").map(str::to_string);
                }
                for c in arr(v.get("choices")) {
                    let i = c.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let d = c.get("delta");
                    for tc in arr(d.and_then(|d| d.get("tool_calls"))) {
                        let j = tc.get("index").and_then(Value::as_u64).unwrap_or(0);
                        let k = slot(&mut msg.calls, format!("#choice{i}.tool{j}"));
                        let f = tc.get("function").or_else(|| tc.get("custom"));
                        if let Some(name) = f.and_then(|f| str_of(f, "name")).filter(|n| !n.is_empty()) {
                            msg.calls[k].name = name.to_string();
                        }
                        if let Some(a) = f.and_then(|f| str_of(f, "arguments").or_else(|| str_of(f, "input"))) {
                            append(&mut msg.calls[k], a);
                        }
                    }
                    if let Some(f) = d.and_then(|d| d.get("function_call")) {
                        let k = slot(&mut msg.calls, format!("#choice{i}.function_call"));
                        if let Some(name) = str_of(f, "name").filter(|n| !n.is_empty()) {
                            msg.calls[k].name = name.to_string();
                        }
                        if let Some(a) = str_of(f, "arguments") {
                            append(&mut msg.calls[k], a);
                        }
                    }
                }
            }
            Api::OpenaiResponses => {
                if let Some(m) = v.get("response").and_then(|r| str_of(r, "model")) {
                    msg.model.get_or_insert_with(|| m.to_string());
                }
                let i = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                let item = v.get("item");
                let is_call = item.is_some_and(|it| matches!(str_of(it, "type"), Some("function_call") | Some("custom_tool_call")));
                match str_of(v, "type") {
                    Some("response.output_item.added") | Some("response.output_item.done") if is_call => {
                        let it = item.unwrap_or(&Value::Null);
                        let k = slot(&mut msg.calls, format!("#output{i}"));
                        if let Some(name) = str_of(it, "name").filter(|n| !n.is_empty()) {
                            msg.calls[k].name = name.to_string();
                        }
                        // The final item carries the whole argument string.
                        let full = it.get("arguments").or_else(|| it.get("input")).and_then(Value::as_str).filter(|a| !a.is_empty());
                        if let Some(a) = full {
                            msg.calls[k].arguments = Some(Value::String(a.to_string()));
                        }
                    }
                    Some("response.function_call_arguments.delta") | Some("response.custom_tool_call_input.delta") => {
                        let k = slot(&mut msg.calls, format!("#output{i}"));
                        append(&mut msg.calls[k], str_of(v, "delta").unwrap_or(""));
                    }
                    Some("response.function_call_arguments.done") => {
                        let k = slot(&mut msg.calls, format!("#output{i}"));
                        if let Some(a) = str_of(v, "arguments") {
                            msg.calls[k].arguments = Some(Value::String(a.to_string()));
                        }
                    }
                    _ => {}
                }
            }
            Api::Anthropic => {
                if let Some(m) = v.get("message").and_then(|m| str_of(m, "model")) {
                    msg.model.get_or_insert_with(|| m.to_string());
                }
                let i = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                match str_of(v, "type") {
                    Some("content_block_start") => {
                        let b = v.get("content_block").unwrap_or(&Value::Null);
                        if matches!(str_of(b, "type"), Some("tool_use") | Some("server_tool_use")) {
                            let k = slot(&mut msg.calls, format!("#block{i}"));
                            msg.calls[k].name = str_of(b, "name").unwrap_or("").to_string();
                            // Deltas, when they come, replace the (empty) start input.
                            msg.calls[k].arguments = b.get("input").filter(|x| x.as_object().is_some_and(|o| !o.is_empty())).cloned();
                        }
                    }
                    Some("content_block_delta") => {
                        let d = v.get("delta");
                        if d.and_then(|d| str_of(d, "type")) == Some("input_json_delta") {
                            let fragment = d.and_then(|d| str_of(d, "partial_json")).unwrap_or("");
                            let key = format!("#block{i}");
                            if let Some(k) = msg.calls.iter().position(|c| c.path == key) {
                                append(&mut msg.calls[k], fragment);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Api::Mcp => {}
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(uses: &[ToolUse]) -> Vec<(&str, UseKind, &str)> {
        uses.iter().map(|u| (u.name.as_str(), u.kind, u.path.as_str())).collect()
    }

    #[test]
    fn finds_tools_in_every_api() {
        let chat = json!({"tools":[{"type":"function","function":{"name":"a"}}],"messages":[{"role":"assistant","tool_calls":[{"id":"c1","function":{"name":"b","arguments":"{}"}}]}]});
        assert_eq!(names(&tool_uses(Api::OpenaiChat, Direction::Request, &chat)), [("a", UseKind::Declared, "/tools/0")]);
        let resp = json!({"choices":[{"message":{"tool_calls":[{"function":{"name":"x","arguments":"{\"q\":1}"}}]}}]});
        let u = tool_uses(Api::OpenaiChat, Direction::Response, &resp);
        assert_eq!(names(&u), [("x", UseKind::Called, "/choices/0/message/tool_calls/0")]);
        assert_eq!(u[0].arguments, Some(json!("{\"q\":1}")));
        let anth = json!({"content":[{"type":"text","text":"x"},{"type":"tool_use","name":"c","input":{"k":1}}]});
        let u = tool_uses(Api::Anthropic, Direction::Response, &anth);
        assert_eq!(names(&u), [("c", UseKind::Called, "/content/1")]);
        assert_eq!(u[0].arguments, Some(json!({"k":1})));
        let responses = json!({"tools":[{"type":"function","name":"f"},{"type":"web_search"}]});
        assert_eq!(names(&tool_uses(Api::OpenaiResponses, Direction::Request, &responses)), [("f", UseKind::Declared, "/tools/0"), ("web_search", UseKind::Declared, "/tools/1")]);
        let mcp = json!([{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"d","arguments":{}}},{"jsonrpc":"2.0","method":"notifications/initialized"}]);
        assert_eq!(names(&tool_uses(Api::Mcp, Direction::Request, &mcp)), [("d", UseKind::Called, "/0")]);
        let list = json!({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"e"},{"description":"nameless"}]}});
        assert_eq!(names(&tool_uses(Api::Mcp, Direction::Response, &list)), [("e", UseKind::Listed, "/result/tools/0"), ("", UseKind::Listed, "/result/tools/1")]);
    }

    #[test]
    fn history_results_by_call_id() {
        let chat = json!({"messages":[
            {"role":"assistant","tool_calls":[{"id":"c1","function":{"name":"fetch"}},{"id":"c2","function":{"name":"send"}}]},
            {"role":"tool","tool_call_id":"c1","content":"page"}]});
        assert_eq!(results_in_history(Api::OpenaiChat, &chat), ["fetch"]);
        let anth = json!({"messages":[
            {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"fetch","input":{}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"page"}]}]});
        assert_eq!(results_in_history(Api::Anthropic, &anth), ["fetch"]);
        let resp = json!({"input":[{"type":"function_call","call_id":"k","name":"fetch","arguments":"{}"},{"type":"function_call_output","call_id":"k","output":"x"}]});
        assert_eq!(results_in_history(Api::OpenaiResponses, &resp), ["fetch"]);
        let unanswered = json!({"messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]});
        assert!(results_in_history(Api::OpenaiChat, &unanswered).is_empty());
    }

    #[test]
    fn reassembles_streamed_calls() {
        let chat: Vec<Value> = vec![
            json!({"model":"gpt-x","choices":[{"index":0,"delta":{"role":"assistant"}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"send","arguments":""}}]}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"to\":"}}]}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a@b\"}"}}]}}]}),
        ];
        let m = reassemble(Api::OpenaiChat, &chat);
        assert_eq!(m.model.as_deref(), Some("gpt-x"));
        assert_eq!((m.calls[0].name.as_str(), m.calls[0].arguments.clone()), ("send", Some(json!("{\"to\":\"a@b\"}"))));
        let anth: Vec<Value> = vec![
            json!({"type":"message_start","message":{"model":"claude-x"}}),
            json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"send","input":{}}}),
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"to\": \"a"}}),
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"@b\"}"}}),
        ];
        let m = reassemble(Api::Anthropic, &anth);
        assert_eq!(m.model.as_deref(), Some("claude-x"));
        assert_eq!((m.calls[0].name.as_str(), m.calls[0].path.as_str(), m.calls[0].arguments.clone()), ("send", "#block1", Some(json!("{\"to\": \"a@b\"}"))));
        let resp: Vec<Value> = vec![
            json!({"type":"response.created","response":{"model":"gpt-r"}}),
            json!({"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","name":"send","arguments":""}}),
            json!({"type":"response.function_call_arguments.delta","output_index":0,"delta":"{\"to\""}),
            json!({"type":"response.function_call_arguments.delta","output_index":0,"delta":":1}"}),
        ];
        let m = reassemble(Api::OpenaiResponses, &resp);
        assert_eq!((m.model.as_deref(), m.calls[0].arguments.clone()), (Some("gpt-r"), Some(json!("{\"to\":1}"))));
    }
}
