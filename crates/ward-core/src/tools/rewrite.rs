//! Body rewrites for tools: a denied declaration or listed tool is removed,
//! a denied model call is replaced by a note the agent can read. The rest
//! of the body is left as it was, and what the removal leaves inconsistent
//! (an empty `tools`, a `tool_choice` naming a removed tool, a
//! `finish_reason` announcing calls that are gone) is put right, so the
//! provider or client does not reject the rewritten body.

use serde_json::{json, Value};

use crate::wire::{Api, Direction};

/// One rewrite: the element at `path` (see [`super::wire::ToolUse::path`])
/// and why it goes.
pub(crate) struct Edit<'a> {
    pub path: &'a str,
    pub why: &'a str,
}

/// Applies `edits` to `value`; `false` when one cannot be applied (the
/// caller then refuses the message rather than pass it on unedited).
pub(crate) fn apply(api: Api, direction: Direction, value: &mut Value, edits: &[Edit]) -> bool {
    let mut edits: Vec<(Vec<String>, &str)> = edits.iter().map(|e| (tokens(e.path), e.why)).collect();
    // Deepest and highest index first, so a removal never shifts an element
    // a later edit points at.
    edits.sort_by(|a, b| compare_desc(&a.0, &b.0));
    edits.dedup_by(|a, b| a.0 == b.0);
    let mut removed_names = Vec::new();
    let mut touched = Vec::new();
    for (path, why) in &edits {
        let Some((last, parent)) = path.split_last() else { return false };
        let ok = match (api, direction) {
            (Api::Mcp, Direction::Request) => false,
            (Api::Mcp, Direction::Response) | (_, Direction::Request) => {
                let name = value.pointer(&join(path)).and_then(declared_name).map(str::to_string);
                removed_names.extend(name);
                remove(value, parent, last)
            }
            (Api::OpenaiChat, Direction::Response) => {
                // `/choices/i/message/tool_calls/j` or `/choices/i/message/function_call`.
                let message: &[String] = if last == "function_call" { parent } else { parent.split_last().map(|(_, p)| p).unwrap_or(&[]) };
                let done = remove(value, parent, last);
                if done {
                    touched.push((message.to_vec(), why.to_string()));
                }
                done
            }
            (Api::OpenaiResponses, Direction::Response) => replace(value, path, json!({
                "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": note(why), "annotations": []}]
            })),
            (Api::Anthropic, Direction::Response) => replace(value, path, json!({"type": "text", "text": note(why)})),
        };
        if !ok {
            return false;
        }
    }
    for (message, why) in touched.iter().rev() {
        explain_in_chat_message(value, message, why);
    }
    match (api, direction) {
        (Api::Mcp, _) => {}
        (_, Direction::Request) => tidy_request(api, value, &removed_names),
        (Api::Anthropic, Direction::Response) => {
            let calls_left = value.get("content").and_then(Value::as_array).is_some_and(|c| c.iter().any(|b| matches!(b.get("type").and_then(Value::as_str), Some("tool_use"))));
            if !calls_left && value.get("stop_reason").and_then(Value::as_str) == Some("tool_use") {
                value["stop_reason"] = json!("end_turn");
            }
        }
        _ => {}
    }
    true
}

fn note(why: &str) -> String {
    format!("[Ward: {why}]")
}

fn declared_name(t: &Value) -> Option<&str> {
    t.get("function").or_else(|| t.get("custom")).unwrap_or(t).get("name").and_then(Value::as_str)
}

/// Adds the note to a chat message that lost a call, and stops it
/// announcing calls it no longer has.
fn explain_in_chat_message(value: &mut Value, message: &[String], why: &str) {
    let Some(m) = value.pointer_mut(&join(message)) else { return };
    let Some(obj) = m.as_object_mut() else { return };
    if obj.get("tool_calls").and_then(Value::as_array).is_some_and(Vec::is_empty) {
        obj.remove("tool_calls");
    }
    let text = note(why);
    match obj.get_mut("content") {
        Some(Value::String(s)) if !s.is_empty() => {
            s.push_str("\n\n");
            s.push_str(&text);
        }
        Some(Value::Array(parts)) => parts.push(json!({"type": "text", "text": text})),
        _ => {
            obj.insert("content".into(), json!(text));
        }
    }
    let calls_left = obj.contains_key("tool_calls") || obj.contains_key("function_call");
    if !calls_left {
        if let Some(choice) = message.split_last().and_then(|(_, c)| value.pointer_mut(&join(c))) {
            if matches!(choice.get("finish_reason").and_then(Value::as_str), Some("tool_calls") | Some("function_call")) {
                choice["finish_reason"] = json!("stop");
            }
        }
    }
}

/// A request that lost declarations must still be one the provider takes.
fn tidy_request(api: Api, value: &mut Value, removed: &[String]) {
    let Some(obj) = value.as_object_mut() else { return };
    let no_tools_left = obj.get("tools").and_then(Value::as_array).is_some_and(Vec::is_empty);
    if no_tools_left {
        obj.remove("tools");
        obj.remove("tool_choice");
        obj.remove("parallel_tool_calls");
        return;
    }
    let forced = obj.get("tool_choice").and_then(|c| c.get("function").and_then(|f| f.get("name")).or_else(|| c.get("name"))).and_then(Value::as_str);
    if forced.is_some_and(|n| removed.iter().any(|r| r == n)) {
        let auto = if api == Api::Anthropic { json!({"type": "auto"}) } else { json!("auto") };
        obj.insert("tool_choice".into(), auto);
    }
}

fn remove(value: &mut Value, parent: &[String], last: &str) -> bool {
    match value.pointer_mut(&join(parent)) {
        Some(Value::Array(a)) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        },
        Some(Value::Object(o)) => o.remove(last).is_some(),
        _ => false,
    }
}

fn replace(value: &mut Value, path: &[String], with: Value) -> bool {
    match value.pointer_mut(&join(path)) {
        Some(slot) => {
            *slot = with;
            true
        }
        None => false,
    }
}

fn tokens(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|t| t.replace("~1", "/").replace("~0", "~")).collect()
}

fn join(tokens: &[String]) -> String {
    tokens.iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect()
}

fn compare_desc(a: &[String], b: &[String]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x.parse::<usize>(), y.parse::<usize>()) {
            (Ok(i), Ok(j)) => j.cmp(&i),
            _ => y.cmp(x),
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    b.len().cmp(&a.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit<'a>(path: &'a str, why: &'a str) -> Edit<'a> {
        Edit { path, why }
    }

    #[test]
    fn removes_declarations_and_fixes_tool_choice() {
        let mut v = json!({"model":"m","tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}},{"type":"function","function":{"name":"c"}}],
                           "tool_choice":{"type":"function","function":{"name":"c"}}});
        assert!(apply(Api::OpenaiChat, Direction::Request, &mut v, &[edit("/tools/0", "x"), edit("/tools/2", "x")]));
        assert_eq!(v["tools"], json!([{"type":"function","function":{"name":"b"}}]));
        assert_eq!(v["tool_choice"], json!("auto"));
        assert!(apply(Api::OpenaiChat, Direction::Request, &mut v, &[edit("/tools/0", "x")]));
        assert_eq!(v, json!({"model":"m"}));
        let mut a = json!({"tools":[{"name":"a"},{"name":"b"}],"tool_choice":{"type":"tool","name":"a"}});
        assert!(apply(Api::Anthropic, Direction::Request, &mut a, &[edit("/tools/0", "x")]));
        assert_eq!(a["tool_choice"], json!({"type":"auto"}));
    }

    #[test]
    fn strips_calls_with_a_note() {
        let mut v = json!({"choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"1","function":{"name":"send","arguments":"{}"}}]}}]});
        assert!(apply(Api::OpenaiChat, Direction::Response, &mut v, &[edit("/choices/0/message/tool_calls/0", "tool `send` is not allowed")]));
        assert_eq!(v["choices"][0]["message"], json!({"role":"assistant","content":"[Ward: tool `send` is not allowed]"}));
        assert_eq!(v["choices"][0]["finish_reason"], json!("stop"));
        let mut a = json!({"stop_reason":"tool_use","content":[{"type":"text","text":"ok"},{"type":"tool_use","name":"send","input":{}}]});
        assert!(apply(Api::Anthropic, Direction::Response, &mut a, &[edit("/content/1", "no")]));
        assert_eq!(a, json!({"stop_reason":"end_turn","content":[{"type":"text","text":"ok"},{"type":"text","text":"[Ward: no]"}]}));
        let mut r = json!({"output":[{"type":"function_call","name":"send","arguments":"{}"}]});
        assert!(apply(Api::OpenaiResponses, Direction::Response, &mut r, &[edit("/output/0", "no")]));
        assert_eq!(r["output"][0]["content"][0]["text"], json!("[Ward: no]"));
    }

    #[test]
    fn removes_listed_tools_highest_index_first() {
        let mut v = json!([{"id":1,"result":{"tools":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"d"}]}}]);
        let edits = [edit("/0/result/tools/1", ""), edit("/0/result/tools/10", ""), edit("/0/result/tools/2", "")];
        assert!(!apply(Api::Mcp, Direction::Response, &mut v.clone(), &edits), "index 10 does not exist");
        assert!(apply(Api::Mcp, Direction::Response, &mut v, &edits[..1].iter().chain(&edits[2..]).map(|e| edit(e.path, "")).collect::<Vec<_>>()));
        assert_eq!(v[0]["result"]["tools"], json!([{"name":"a"},{"name":"d"}]));
    }
}
