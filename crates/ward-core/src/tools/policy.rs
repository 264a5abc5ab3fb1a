//! The policy sections for least-privilege access: tool definitions,
//! per-agent and per-task grants, flow rules, models and MCP servers.
//! docs/tools.md describes the schema; this file is its source of truth.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::constraints::ArgRule;
use super::pin;
use crate::finding::Action;
use crate::policy::Policy;

/// The labels a policy knows when it names none.
pub const DEFAULT_LABELS: [&str; 4] = ["reads_untrusted", "egress", "writes", "destructive"];

/// `tools`: what can be called, by whom, with what.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Shorthand kept from the first policy format: tools every caller may
    /// declare and call, with no argument constraints.
    pub allow: Vec<String>,
    /// The labels tool definitions and flow rules may use.
    pub labels: Vec<String>,
    pub definitions: BTreeMap<String, Definition>,
    /// The grant of a caller without an agent identity, or whose agent the
    /// policy does not list.
    pub default_agent: Grant,
    pub agents: BTreeMap<String, AgentGrant>,
    pub flows: Vec<FlowRule>,
    /// A model-emitted call or MCP `tools/call` the policy denies.
    /// `strip` removes a model's call and tells the agent why (MCP calls
    /// are always answered with a JSON-RPC error).
    #[serde(alias = "on_denied")]
    pub on_denied_call: OnDeniedCall,
    /// A tool declared to a model that the caller may not use.
    pub on_denied_declaration: OnDeniedDeclaration,
    /// A listed tool whose definition no longer matches its pin.
    pub on_pin_mismatch: OnDeniedDeclaration,
    pub sessions: SessionLimits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            allow: Vec::new(),
            labels: DEFAULT_LABELS.iter().map(|s| s.to_string()).collect(),
            definitions: BTreeMap::new(),
            default_agent: Grant::default(),
            agents: BTreeMap::new(),
            flows: Vec::new(),
            on_denied_call: OnDeniedCall::Block,
            on_denied_declaration: OnDeniedDeclaration::Remove,
            on_pin_mismatch: OnDeniedDeclaration::Remove,
            sessions: SessionLimits::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeniedCall {
    Block,
    #[serde(alias = "redact")]
    Strip,
    Log,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeniedDeclaration {
    Remove,
    Block,
    Log,
}

impl OnDeniedCall {
    pub(crate) fn action(self) -> Action {
        match self {
            OnDeniedCall::Block => Action::Block,
            OnDeniedCall::Strip => Action::Redact,
            OnDeniedCall::Log => Action::Log,
        }
    }
}

impl OnDeniedDeclaration {
    pub(crate) fn action(self) -> Action {
        match self {
            OnDeniedDeclaration::Remove => Action::Redact,
            OnDeniedDeclaration::Block => Action::Block,
            OnDeniedDeclaration::Log => Action::Log,
        }
    }
}

/// One tool as the policy vets it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Definition {
    pub labels: Vec<String>,
    /// Argument rules; absent means any arguments.
    pub args: Option<BTreeMap<String, ArgRule>>,
    /// Admit arguments `args` does not list.
    pub allow_other_args: bool,
    /// Digest of the vetted MCP definition (`ward pin` prints it).
    pub pin: Option<String>,
    /// The MCP server (a key of `mcp_servers`) that provides the tool; the
    /// same name from another server is a different, unvetted tool.
    pub server: Option<String>,
}

/// What one caller may use. `models` and `mcp_servers` absent means
/// unrestricted; an empty list means none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Grant {
    pub tools: Vec<String>,
    pub models: Option<Vec<String>>,
    pub mcp_servers: Option<Vec<String>>,
    pub budget: Budget,
}

/// An agent's grant, with per-task grants that replace whichever fields
/// they set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentGrant {
    pub tools: Vec<String>,
    pub models: Option<Vec<String>>,
    pub mcp_servers: Option<Vec<String>>,
    pub budget: Budget,
    pub tasks: BTreeMap<String, TaskGrant>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskGrant {
    pub tools: Option<Vec<String>>,
    pub models: Option<Vec<String>>,
    pub mcp_servers: Option<Vec<String>>,
    pub budget: Option<Budget>,
}

/// Calls allowed per session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    pub total_calls: Option<u32>,
    pub calls_per_tool: BTreeMap<String, u32>,
}

/// After `after` happens in a session, `deny` is refused for the rest of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRule {
    pub after: Trigger,
    pub deny: Target,
    /// Said to the agent on denial, instead of the generated explanation.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A call to a tool with this label went through.
    Label(String),
    /// A call to this tool went through.
    Tool(String),
    /// A tool result or document in the session was flagged.
    Flagged(Flag),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    Injection,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    Label(String),
    Tool(String),
}

impl Trigger {
    /// The key a session records when this trigger fires.
    pub(crate) fn marker(&self) -> String {
        match self {
            Trigger::Label(l) => format!("label:{l}"),
            Trigger::Tool(t) => format!("tool:{t}"),
            Trigger::Flagged(Flag::Injection) => "flagged:injection".into(),
        }
    }
}

/// Bounds the host keeps session state within.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionLimits {
    /// Most sessions a proxy worker holds; the host evicts beyond this.
    pub max_entries: usize,
    /// A session not updated for this long starts afresh.
    pub ttl_ms: u64,
}

impl Default for SessionLimits {
    fn default() -> SessionLimits {
        SessionLimits { max_entries: 10_000, ttl_ms: 3_600_000 }
    }
}

/// `models`: aliases and what to do about model mismatches.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Models {
    /// A model name and the other names it answers to (snapshots,
    /// `-latest` tags). A grant naming either admits the whole family.
    pub aliases: BTreeMap<String, Vec<String>>,
    /// A request for a model the caller may not use.
    pub on_denied: Action,
    /// A response from a model other than the one requested.
    pub on_mismatch: Action,
}

impl Default for Models {
    fn default() -> Models {
        Models { aliases: BTreeMap::new(), on_denied: Action::Block, on_mismatch: Action::Log }
    }
}

/// One vetted MCP server, a value of the policy's `mcp_servers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpServer {
    /// `serverInfo.name` its `initialize` answer must carry.
    pub name: Option<String>,
    /// Admitted `serverInfo.version`s; empty admits any.
    pub versions: Vec<String>,
    /// Upstream authorities (`host:port`, as the proxy sees them) that
    /// reach it; empty means it is identified by `serverInfo` alone.
    pub authorities: Vec<String>,
}

/// Cross-checks the access sections: every name a grant, flow or budget
/// uses is defined, every label is declared, every rule compiles.
pub(crate) fn validate(p: &Policy) -> Result<(), (String, String)> {
    p.identity.validate().map_err(|(path, r)| (format!("identity.{path}"), r))?;
    let t = &p.tools;
    for (i, l) in t.labels.iter().enumerate() {
        if l.trim().is_empty() || t.labels[..i].contains(l) {
            return Err((format!("tools.labels[{i}]"), format!("label `{l}` is empty or repeated")));
        }
    }
    for (i, name) in t.allow.iter().enumerate() {
        if name.trim().is_empty() {
            return Err((format!("tools.allow[{i}]"), "empty tool name".into()));
        }
    }
    let known_label = |l: &str| t.labels.iter().any(|k| k == l);
    let labels_text = || t.labels.join(", ");
    for (name, d) in &t.definitions {
        let at = format!("tools.definitions.{name}");
        if name.trim().is_empty() {
            return Err((at, "empty tool name".into()));
        }
        for (i, l) in d.labels.iter().enumerate() {
            if !known_label(l) {
                return Err((format!("{at}.labels[{i}]"), format!("unknown label `{l}` (known: {})", labels_text())));
            }
        }
        for (arg, rule) in d.args.iter().flatten() {
            rule.validate().map_err(|(path, r)| (format!("{at}.args.{arg}.{path}"), r))?;
        }
        if let Some(pin) = &d.pin {
            if !pin::is_well_formed(pin) {
                return Err((format!("{at}.pin"), format!("`{pin}` is not `sha256:` and 64 lower-case hex digits")));
            }
        }
        if let Some(server) = &d.server {
            if !p.mcp_servers.contains_key(server) {
                return Err((format!("{at}.server"), format!("unknown MCP server `{server}` (not in mcp_servers)")));
            }
        }
    }
    let known_tool = |n: &str| t.definitions.contains_key(n) || t.allow.iter().any(|a| a == n);
    let check_grant = |at: &str, tools: Option<&[String]>, models: Option<&[String]>, servers: Option<&[String]>, budget: Option<&Budget>| {
        for (i, n) in tools.unwrap_or(&[]).iter().enumerate() {
            if !known_tool(n) {
                return Err((format!("{at}.tools[{i}]"), format!("unknown tool `{n}` (not in tools.definitions)")));
            }
        }
        for (i, m) in models.unwrap_or(&[]).iter().enumerate() {
            if m.trim().is_empty() {
                return Err((format!("{at}.models[{i}]"), "empty model name".into()));
            }
        }
        for (i, s) in servers.unwrap_or(&[]).iter().enumerate() {
            if !p.mcp_servers.contains_key(s) {
                return Err((format!("{at}.mcp_servers[{i}]"), format!("unknown MCP server `{s}` (not in mcp_servers)")));
            }
        }
        for n in budget.map(|b| b.calls_per_tool.keys()).into_iter().flatten() {
            if !known_tool(n) {
                return Err((format!("{at}.budget.calls_per_tool.{n}"), format!("unknown tool `{n}` (not in tools.definitions)")));
            }
        }
        Ok(())
    };
    let g = &t.default_agent;
    check_grant("tools.default_agent", Some(&g.tools), g.models.as_deref(), g.mcp_servers.as_deref(), Some(&g.budget))?;
    for (agent, a) in &t.agents {
        let at = format!("tools.agents.{agent}");
        check_grant(&at, Some(&a.tools), a.models.as_deref(), a.mcp_servers.as_deref(), Some(&a.budget))?;
        for (task, g) in &a.tasks {
            check_grant(&format!("{at}.tasks.{task}"), g.tools.as_deref(), g.models.as_deref(), g.mcp_servers.as_deref(), g.budget.as_ref())?;
        }
    }
    for (i, f) in t.flows.iter().enumerate() {
        let at = format!("tools.flows[{i}]");
        match &f.after {
            Trigger::Label(l) if !known_label(l) => return Err((format!("{at}.after.label"), format!("unknown label `{l}` (known: {})", labels_text()))),
            Trigger::Tool(n) if !known_tool(n) => return Err((format!("{at}.after.tool"), format!("unknown tool `{n}` (not in tools.definitions)"))),
            _ => {}
        }
        match &f.deny {
            Target::Label(l) if !known_label(l) => return Err((format!("{at}.deny.label"), format!("unknown label `{l}` (known: {})", labels_text()))),
            Target::Tool(n) if !known_tool(n) => return Err((format!("{at}.deny.tool"), format!("unknown tool `{n}` (not in tools.definitions)"))),
            _ => {}
        }
    }
    if t.sessions.max_entries == 0 {
        return Err(("tools.sessions.max_entries".into(), "must be greater than 0".into()));
    }
    if t.sessions.ttl_ms == 0 {
        return Err(("tools.sessions.ttl_ms".into(), "must be greater than 0".into()));
    }
    for (name, action) in [("on_denied", p.models.on_denied), ("on_mismatch", p.models.on_mismatch)] {
        if action == Action::Redact {
            return Err((format!("models.{name}"), "`redact` is not possible here; use block, log or allow".into()));
        }
    }
    for (name, aliases) in &p.models.aliases {
        for (i, a) in aliases.iter().enumerate() {
            if a.trim().is_empty() {
                return Err((format!("models.aliases.{name}[{i}]"), "empty model name".into()));
            }
        }
    }
    for (name, s) in &p.mcp_servers {
        for (i, a) in s.authorities.iter().enumerate() {
            if a.trim().is_empty() || a.contains('/') {
                return Err((format!("mcp_servers.{name}.authorities[{i}]"), format!("`{a}` is not an authority (host or host:port)")));
            }
        }
    }
    Ok(())
}
