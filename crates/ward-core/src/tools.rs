//! Tool permissions. Default deny: a tool that the policy does not name can
//! be neither declared to a model, nor called by one, nor called over MCP.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::finding::{Action, DetectorKind, Finding};
use crate::segment::{Origin, Segment};
use crate::wire::{Api, Direction, Pointer};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Names of the tools that may be declared and called.
    pub allow: Vec<String>,
    /// What happens to a tool that is not allowed.
    pub on_denied: Action,
}

impl Default for Config {
    fn default() -> Config {
        Config { allow: Vec::new(), on_denied: Action::Block }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        for (i, name) in self.allow.iter().enumerate() {
            if name.trim().is_empty() {
                return Err((format!("allow[{i}]"), "empty tool name".into()));
            }
        }
        Ok(())
    }
}

/// A tool named in a message: declared in a request, called by a model, or
/// called over MCP.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolUse {
    pub name: String,
    /// Where the name sits in the body.
    pub path: String,
    pub origin: Origin,
}

fn arr(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map(|a| a.as_slice()).unwrap_or(&[])
}

/// Every tool declaration and call in a parsed body.
pub fn tool_uses(api: Api, direction: Direction, body: &Value) -> Vec<ToolUse> {
    let mut out = Vec::new();
    let root = Pointer::root();
    let mut push = |v: Option<&Value>, at: Pointer, origin: Origin| {
        if let Some(Value::String(name)) = v {
            out.push(ToolUse { name: name.clone(), path: at.to_string(), origin });
        }
    };
    match (api, direction) {
        (Api::OpenaiChat, Direction::Request) => {
            for (i, t) in arr(body.get("tools")).iter().enumerate() {
                push(t.get("function").and_then(|f| f.get("name")), root.key("tools").index(i).key("function").key("name"), Origin::ToolDefinition);
            }
            for (i, m) in arr(body.get("messages")).iter().enumerate() {
                for (j, c) in arr(m.get("tool_calls")).iter().enumerate() {
                    let at = root.key("messages").index(i).key("tool_calls").index(j).key("function").key("name");
                    push(c.get("function").and_then(|f| f.get("name")), at, Origin::ToolCall);
                }
            }
        }
        (Api::OpenaiChat, Direction::Response) => {
            for (i, ch) in arr(body.get("choices")).iter().enumerate() {
                let m = ch.get("message");
                for (j, c) in arr(m.and_then(|m| m.get("tool_calls"))).iter().enumerate() {
                    let at = root.key("choices").index(i).key("message").key("tool_calls").index(j).key("function").key("name");
                    push(c.get("function").and_then(|f| f.get("name")), at, Origin::ToolCall);
                }
            }
        }
        (Api::OpenaiResponses, dir) => {
            if dir == Direction::Request {
                for (i, t) in arr(body.get("tools")).iter().enumerate() {
                    if t.get("type").and_then(Value::as_str).is_none_or(|ty| ty == "function" || ty == "custom") {
                        push(t.get("name"), root.key("tools").index(i).key("name"), Origin::ToolDefinition);
                    }
                }
            }
            let items = if dir == Direction::Request { "input" } else { "output" };
            for (i, it) in arr(body.get(items)).iter().enumerate() {
                if matches!(it.get("type").and_then(Value::as_str), Some("function_call") | Some("custom_tool_call")) {
                    push(it.get("name"), root.key(items).index(i).key("name"), Origin::ToolCall);
                }
            }
        }
        (Api::Anthropic, dir) => {
            if dir == Direction::Request {
                for (i, t) in arr(body.get("tools")).iter().enumerate() {
                    // Server tools (web_search_…) carry a `type`; they are named tools too.
                    push(t.get("name"), root.key("tools").index(i).key("name"), Origin::ToolDefinition);
                }
            }
            let blocks = |v: Option<&Value>, at: Pointer, out: &mut dyn FnMut(Option<&Value>, Pointer, Origin)| {
                for (k, b) in arr(v).iter().enumerate() {
                    if matches!(b.get("type").and_then(Value::as_str), Some("tool_use") | Some("server_tool_use")) {
                        out(b.get("name"), at.index(k).key("name"), Origin::ToolCall);
                    }
                }
            };
            if dir == Direction::Request {
                for (i, m) in arr(body.get("messages")).iter().enumerate() {
                    blocks(m.get("content"), root.key("messages").index(i).key("content"), &mut push);
                }
            } else {
                blocks(body.get("content"), root.key("content"), &mut push);
            }
        }
        (Api::Mcp, Direction::Request) => {
            let one = |m: &Value, at: Pointer, push: &mut dyn FnMut(Option<&Value>, Pointer, Origin)| {
                if m.get("method").and_then(Value::as_str) == Some("tools/call") {
                    push(m.get("params").and_then(|p| p.get("name")), at.key("params").key("name"), Origin::ToolCall);
                }
            };
            match body {
                Value::Array(batch) => batch.iter().enumerate().for_each(|(i, m)| one(m, root.index(i), &mut push)),
                m => one(m, root.clone(), &mut push),
            }
        }
        (Api::Mcp, Direction::Response) => {
            let one = |m: &Value, at: Pointer, push: &mut dyn FnMut(Option<&Value>, Pointer, Origin)| {
                for (i, t) in arr(m.get("result").and_then(|r| r.get("tools"))).iter().enumerate() {
                    push(t.get("name"), at.key("result").key("tools").index(i).key("name"), Origin::ToolDefinition);
                }
            };
            match body {
                Value::Array(batch) => batch.iter().enumerate().for_each(|(i, m)| one(m, root.index(i), &mut push)),
                m => one(m, root.clone(), &mut push),
            }
        }
    }
    out
}

pub struct Checker {
    config: Config,
}

impl Checker {
    pub fn new(config: &Config) -> Checker {
        Checker { config: config.clone() }
    }

    pub fn check(&self, api: Api, direction: Direction, body: &Value, out: &mut Vec<Finding>) {
        for tool in tool_uses(api, direction, body) {
            if self.config.allow.iter().any(|a| *a == tool.name) {
                continue;
            }
            let seg = Segment::new(tool.name.clone(), tool.origin, tool.path);
            let what = if tool.origin == Origin::ToolDefinition { "declared" } else { "called" };
            out.push(Finding::new(
                DetectorKind::Tools,
                "tools.not_allowed",
                &seg,
                None,
                1.0,
                self.config.on_denied,
                format!("tool `{}` {what} but not allowed by policy", tool.name),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_tools_in_every_api() {
        let chat = json!({"tools":[{"type":"function","function":{"name":"a"}}],"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"b","arguments":"{}"}}]}]});
        let names: Vec<_> = tool_uses(Api::OpenaiChat, Direction::Request, &chat).into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["a", "b"]);
        let anth = json!({"content":[{"type":"text","text":"x"},{"type":"tool_use","name":"c","input":{}}]});
        assert_eq!(tool_uses(Api::Anthropic, Direction::Response, &anth)[0].path, "/content/1/name");
        let mcp = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"d","arguments":{}}});
        assert_eq!(tool_uses(Api::Mcp, Direction::Request, &mcp)[0].name, "d");
    }

    #[test]
    fn default_denies() {
        let mut out = Vec::new();
        let mcp = json!({"method":"tools/call","params":{"name":"rm"}});
        Checker::new(&Config::default()).check(Api::Mcp, Direction::Request, &mcp, &mut out);
        assert_eq!(out[0].action, Action::Block);
        let mut out = Vec::new();
        Checker::new(&Config { allow: vec!["rm".into()], ..Config::default() }).check(Api::Mcp, Direction::Request, &mcp, &mut out);
        assert!(out.is_empty());
    }
}
