//! Least-privilege access for agents: which tools, models and MCP servers
//! a caller may use, with what arguments, how often and after what.
//!
//! Default deny: a tool the caller's grant does not name can be neither
//! declared to a model (the declaration is removed), nor called by one (the
//! call is blocked or stripped), nor called over MCP (JSON-RPC error), nor
//! listed to it by an MCP server (filtered out). docs/tools.md has the
//! policy schema and the host contract.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::engine::Envelope;
use crate::finding::{Action, DetectorKind, Finding};
use crate::policy::Policy;
use crate::segment::{Origin, Segment};
use crate::wire::{Api, Direction};

pub mod constraints;
pub mod flow;
pub mod identity;
pub mod metadata;
pub mod pin;
pub mod policy;
mod rewrite;
pub mod store;
pub mod wire;

pub use flow::{Pending, SessionState};
pub use identity::{Facts, Identity};
pub use policy::Config;
pub use wire::{ToolUse, UseKind};

use constraints::Args;
use policy::{Budget, Grant, McpServer, OnDeniedCall, Target, Trigger};

/// A tool definition, compiled.
struct Tool {
    labels: Vec<String>,
    args: Option<Args>,
    pin: Option<String>,
    server: Option<String>,
}

/// What one caller may use, resolved from agent and task.
struct Effective<'a> {
    who: String,
    tools: Vec<&'a str>,
    models: Option<&'a [String]>,
    mcp_servers: Option<&'a [String]>,
    budget: &'a Budget,
}

/// The compiled access policy.
pub struct Checker {
    config: Config,
    tools: BTreeMap<String, Tool>,
    identity: identity::Config,
    models: policy::Models,
    servers: BTreeMap<String, McpServer>,
    /// Flow markers some rule reacts to; only these are recorded.
    markers: Vec<String>,
}

impl Checker {
    pub fn new(p: &Policy) -> Checker {
        let mut tools: BTreeMap<String, Tool> = p
            .tools
            .definitions
            .iter()
            .map(|(name, d)| {
                let args = d.args.as_ref().map(|a| Args::new(a, d.allow_other_args));
                (name.clone(), Tool { labels: d.labels.clone(), args, pin: d.pin.clone(), server: d.server.clone() })
            })
            .collect();
        for name in &p.tools.allow {
            tools.entry(name.clone()).or_insert(Tool { labels: Vec::new(), args: None, pin: None, server: None });
        }
        let markers = p.tools.flows.iter().map(|f| f.after.marker()).collect();
        Checker { config: p.tools.clone(), tools, identity: p.identity.clone(), models: p.models.clone(), servers: p.mcp_servers.clone(), markers }
    }

    pub fn identity(&self) -> &identity::Config {
        &self.identity
    }

    pub fn session_limits(&self) -> &policy::SessionLimits {
        &self.config.sessions
    }

    /// Starts the session bookkeeping for one message.
    pub fn pending(&self, env: &Envelope, prior: Option<&SessionState>) -> Pending {
        Pending::new(prior, env.time_ms, self.config.sessions.ttl_ms)
    }

    /// The finding that refuses a request without the agent identity the
    /// policy requires.
    pub fn identity_finding(&self, env: &Envelope) -> Option<Finding> {
        if !self.identity.required || env.direction != Direction::Request || env.agent.is_some() {
            return None;
        }
        let seg = Segment::new(String::new(), Origin::User, "");
        Some(Finding::new(DetectorKind::Policy, "identity.missing", &seg, None, 1.0, Action::Block, self.identity.missing_reason()))
    }

    fn grant(&self, env: &Envelope) -> Effective<'_> {
        let legacy = self.config.allow.iter().map(String::as_str);
        let agent = env.agent.as_deref().and_then(|a| self.config.agents.get(a).map(|g| (a, g)));
        let Some((name, a)) = agent else {
            let g: &Grant = &self.config.default_agent;
            let who = match &env.agent {
                Some(a) => format!("agent `{}` (not in policy)", constraints::printable(a)),
                None => "an unidentified caller".into(),
            };
            return Effective { who, tools: g.tools.iter().map(String::as_str).chain(legacy).collect(), models: g.models.as_deref(), mcp_servers: g.mcp_servers.as_deref(), budget: &g.budget };
        };
        let task = env.task.as_deref().and_then(|t| a.tasks.get(t).map(|g| (t, g)));
        let who = match task {
            Some((t, _)) => format!("agent `{name}` on task `{t}`"),
            None => format!("agent `{name}`"),
        };
        fn pick<'a>(task_field: Option<&'a Option<Vec<String>>>, agent_field: &'a Option<Vec<String>>) -> Option<&'a [String]> {
            match task_field {
                Some(Some(v)) => Some(v.as_slice()),
                _ => agent_field.as_deref(),
            }
        }
        let tools: Vec<&str> = match task.and_then(|(_, g)| g.tools.as_ref()) {
            Some(t) => t.iter().map(String::as_str).collect(),
            None => a.tools.iter().map(String::as_str).collect(),
        };
        Effective {
            who,
            tools: tools.into_iter().chain(legacy).collect(),
            models: pick(task.map(|(_, g)| &g.models), &a.models),
            mcp_servers: pick(task.map(|(_, g)| &g.mcp_servers), &a.mcp_servers),
            budget: task.and_then(|(_, g)| g.budget.as_ref()).unwrap_or(&a.budget),
        }
    }

    /// Findings for one complete message and its effect on the session.
    /// `scanned` are the detectors' findings for the same message (an
    /// injection in a tool result taints the session).
    pub fn check_message(&self, env: &Envelope, api: Api, body: &Value, scanned: &[Finding], pending: &mut Pending, out: &mut Vec<Finding>) {
        let grant = self.grant(env);
        if scanned.iter().any(|f| f.detector == DetectorKind::Injection && matches!(f.origin, Origin::ToolResult | Origin::Document)) {
            self.taint(pending, "flagged:injection".into(), "content in this session was flagged as prompt injection");
        }
        match (api, env.direction) {
            (Api::Mcp, Direction::Request) => {
                if let Some(f) = self.server_gate(env, &grant) {
                    out.push(f);
                    return;
                }
                let server = self.server_of(env);
                for u in wire::tool_uses(api, env.direction, body) {
                    // MCP calls are answered with a JSON-RPC error, never rewritten.
                    let on_deny = if self.config.on_denied_call == OnDeniedCall::Log { Action::Log } else { Action::Block };
                    self.check_call(&grant, server, &u, on_deny, true, pending, out);
                }
            }
            (Api::Mcp, Direction::Response) => {
                for (m, at) in wire::messages(body) {
                    if let Some(info) = m.get("result").and_then(|r| r.get("serverInfo")) {
                        out.extend(self.server_info(env, &grant, info, at.as_str()));
                    }
                }
                let server = self.server_of(env);
                for u in wire::tool_uses(api, env.direction, body) {
                    let def = body.pointer(&u.path).unwrap_or(&Value::Null);
                    self.check_listed(&grant, server, &u, def, pending, out);
                }
            }
            (_, Direction::Request) => {
                out.extend(self.model_gate(&grant, body));
                for u in wire::tool_uses(api, env.direction, body) {
                    if !self.granted(&grant, &u.name) {
                        let why = format!("tool `{}` may not be offered to the model: it is not allowed for {}", constraints::printable(&u.name), grant.who);
                        out.push(self.finding("tools.not_allowed", &u, self.config.on_denied_declaration.action(), why));
                    }
                }
                for name in wire::results_in_history(api, body) {
                    self.note_call_effects(&name, pending, false, "its result is in the conversation");
                }
            }
            (_, Direction::Response) => {
                out.extend(self.model_mismatch(env, wire::model(body)));
                for u in wire::tool_uses(api, env.direction, body) {
                    self.check_call(&grant, None, &u, self.config.on_denied_call.action(), false, pending, out);
                }
            }
        }
    }

    /// Findings for a streamed model response, from its reassembled calls
    /// (see [`wire::reassemble`]); usable by any stream implementation.
    pub fn check_streamed(&self, env: &Envelope, streamed: &wire::StreamedMessage, pending: &mut Pending, out: &mut Vec<Finding>) {
        let grant = self.grant(env);
        out.extend(self.model_mismatch(env, streamed.model.as_deref()));
        for u in &streamed.calls {
            self.check_call(&grant, None, u, self.config.on_denied_call.action(), false, pending, out);
        }
    }

    /// Applies the tools' rewrites (findings of the tools detector with the
    /// redact action) to `value`; `None` when one cannot be applied.
    pub fn rewrite(&self, api: Api, direction: Direction, mut value: Value, findings: &[Finding]) -> Option<Value> {
        let edits: Vec<rewrite::Edit> = findings
            .iter()
            .filter(|f| f.detector == DetectorKind::Tools && f.action == Action::Redact)
            .map(|f| rewrite::Edit { path: &f.path, why: &f.message })
            .collect();
        if edits.is_empty() || rewrite::apply(api, direction, &mut value, &edits) {
            Some(value)
        } else {
            None
        }
    }

    fn granted(&self, grant: &Effective, name: &str) -> bool {
        self.tools.contains_key(name) && grant.tools.contains(&name)
    }

    fn finding(&self, rule: &str, u: &ToolUse, action: Action, why: String) -> Finding {
        let origin = if u.kind == UseKind::Called { Origin::ToolCall } else { Origin::ToolDefinition };
        let seg = Segment::new(u.name.clone(), origin, u.path.clone());
        Finding::new(DetectorKind::Tools, rule, &seg, None, 1.0, action, why)
    }

    /// One model or MCP call: granted, not revoked, from the right server,
    /// arguments within bounds, not barred by a flow, within budget. A call
    /// that passes is counted; one that reaches its tool through Ward
    /// (`reaches_tool`: MCP) also sets the session's flow markers. A model's
    /// call is run by the agent, whose next request carries the result and
    /// sets the markers then.
    #[allow(clippy::too_many_arguments)]
    fn check_call(&self, grant: &Effective, server: Option<&str>, u: &ToolUse, on_deny: Action, reaches_tool: bool, pending: &mut Pending, out: &mut Vec<Finding>) {
        let name = constraints::printable(&u.name);
        let deny = |rule: &str, why: String, out: &mut Vec<Finding>| out.push(self.finding(rule, u, on_deny, format!("call to tool `{name}` denied: {why}")));
        let Some(tool) = self.tools.get(&u.name).filter(|_| self.granted(grant, &u.name)) else {
            return deny("tools.not_allowed", format!("not allowed for {}", grant.who), out);
        };
        if pending.seen.revoked.contains(&u.name) {
            return deny("tools.pin_mismatch", "its definition changed since it was pinned".into(), out);
        }
        if let (Some(bound), Some(actual)) = (&tool.server, server) {
            if bound != actual {
                return deny("tools.wrong_server", format!("it is vetted for MCP server `{bound}`, not `{actual}`"), out);
            }
        }
        if let Some(args) = &tool.args {
            if let Err(why) = args.check(u.arguments.as_ref()) {
                return deny("tools.argument", why, out);
            }
        }
        for rule in &self.config.flows {
            let hit = match &rule.deny {
                Target::Label(l) => tool.labels.contains(l),
                Target::Tool(t) => *t == u.name,
            };
            let marker = rule.after.marker();
            if let (true, Some(cause)) = (hit, pending.passed.taints.get(&marker)) {
                let why = rule.reason.clone().unwrap_or_else(|| format!("{} after {cause} ({})", target_text(&rule.deny), trigger_text(&rule.after)));
                return deny("tools.flow", why, out);
            }
        }
        let used = pending.passed.calls.get(&u.name).copied().unwrap_or(0);
        if let Some(limit) = grant.budget.calls_per_tool.get(&u.name) {
            if used >= *limit {
                return deny("tools.budget", format!("its budget of {limit} calls per session is spent"), out);
            }
        }
        if let Some(limit) = grant.budget.total_calls {
            if pending.passed.total_calls >= limit {
                return deny("tools.budget", format!("the session's budget of {limit} tool calls is spent"), out);
            }
        }
        pending.passed.count(&u.name);
        if reaches_tool {
            self.note_call_effects(&u.name, pending, true, "a call to it went through");
        }
    }

    /// Sets the flow markers a call of `name` triggers: for good when its
    /// result is already in view, else only if the message goes through.
    fn note_call_effects(&self, name: &str, pending: &mut Pending, only_if_through: bool, how: &str) {
        let Some(tool) = self.tools.get(name) else { return };
        let cause = |what: &str| format!("tool `{}` ({what}): {how}", constraints::printable(name));
        let markers = tool.labels.iter().map(|l| (format!("label:{l}"), format!("labelled {l}"))).chain([(format!("tool:{name}"), "named in a flow rule".to_string())]);
        for (marker, what) in markers.filter(|(m, _)| self.markers.contains(m)) {
            if only_if_through {
                pending.passed.taint(marker, &cause(&what));
            } else {
                pending.taint(marker, &cause(&what));
            }
        }
    }

    fn taint(&self, pending: &mut Pending, marker: String, cause: &str) {
        if self.markers.contains(&marker) {
            pending.taint(marker, cause);
        }
    }

    /// One tool of a `tools/list` answer.
    fn check_listed(&self, grant: &Effective, server: Option<&str>, u: &ToolUse, def: &Value, pending: &mut Pending, out: &mut Vec<Finding>) {
        let name = constraints::printable(&u.name);
        let Some(tool) = self.tools.get(&u.name).filter(|_| self.granted(grant, &u.name)) else {
            // Filtered whatever `on_denied_declaration` says: blocking the
            // whole list would hide the tools the caller may use too.
            let action = if self.config.on_denied_declaration == policy::OnDeniedDeclaration::Log { Action::Log } else { Action::Redact };
            return out.push(self.finding("tools.not_allowed", u, action, format!("tool `{name}` hidden: not allowed for {}", grant.who)));
        };
        if let (Some(bound), Some(actual)) = (&tool.server, server) {
            if bound != actual {
                return out.push(self.finding("tools.wrong_server", u, Action::Redact, format!("tool `{name}` hidden: it is vetted for MCP server `{bound}`, not `{actual}`")));
            }
        }
        if let Some(expected) = &tool.pin {
            let actual = pin::digest(def);
            if actual != *expected {
                pending.revoke(&u.name);
                let why = format!("tool `{name}` blocked: its definition changed since it was pinned (pinned {expected}, now {actual})");
                out.push(self.finding("tools.pin_mismatch", u, self.config.on_pin_mismatch.action(), why));
            }
        }
    }

    /// Candidate servers for the request's upstream: those whose
    /// authorities include it, else those identified by name alone.
    fn servers_for(&self, upstream: &str) -> Vec<&str> {
        let by_authority: Vec<&str> = self.servers.iter().filter(|(_, s)| s.authorities.iter().any(|a| a.eq_ignore_ascii_case(upstream))).map(|(n, _)| n.as_str()).collect();
        if !by_authority.is_empty() {
            return by_authority;
        }
        self.servers.iter().filter(|(_, s)| s.authorities.is_empty()).map(|(n, _)| n.as_str()).collect()
    }

    /// The server a message is for, when exactly one fits.
    fn server_of(&self, env: &Envelope) -> Option<&str> {
        match self.servers_for(&env.upstream).as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    fn policy_finding(rule: &str, path: &str, action: Action, why: String) -> Finding {
        let seg = Segment::new(String::new(), Origin::User, path);
        Finding::new(DetectorKind::Policy, rule, &seg, None, 1.0, action, why)
    }

    /// Every MCP request must go to a vetted server the caller may use.
    fn server_gate(&self, env: &Envelope, grant: &Effective) -> Option<Finding> {
        if self.servers.is_empty() && grant.mcp_servers.is_none() {
            return None;
        }
        let upstream = constraints::printable(&env.upstream);
        let candidates = self.servers_for(&env.upstream);
        if candidates.is_empty() {
            return Some(Self::policy_finding("mcp.server_not_allowed", "", Action::Block, format!("MCP upstream `{upstream}` is not a vetted server")));
        }
        let allowed: Vec<&str> = candidates.iter().copied().filter(|c| grant.mcp_servers.is_none_or(|g| g.iter().any(|x| x == c))).collect();
        if allowed.is_empty() {
            return Some(Self::policy_finding("mcp.server_not_allowed", "", Action::Block, format!("MCP server `{}` is not allowed for {}", candidates.join("`/`"), grant.who)));
        }
        None
    }

    /// An `initialize` answer must come from the server the upstream is
    /// vetted as: same `serverInfo.name`, an admitted version.
    fn server_info(&self, env: &Envelope, grant: &Effective, info: &Value, at: &str) -> Option<Finding> {
        if self.servers.is_empty() {
            return None;
        }
        let name = info.get("name").and_then(Value::as_str).unwrap_or("");
        let version = info.get("version").and_then(Value::as_str).unwrap_or("");
        let fits = self.servers_for(&env.upstream).into_iter().filter(|c| grant.mcp_servers.is_none_or(|g| g.iter().any(|x| x == c))).any(|c| {
            let s = &self.servers[c];
            s.name.as_deref().is_none_or(|n| n == name) && (s.versions.is_empty() || s.versions.iter().any(|v| v == version))
        });
        (!fits).then(|| {
            let why = format!("MCP server at `{}` identifies as `{}` version `{}`, which is not a vetted server", constraints::printable(&env.upstream), constraints::printable(name), constraints::printable(version));
            Self::policy_finding("mcp.server_mismatch", &format!("{at}/result/serverInfo"), Action::Block, why)
        })
    }

    /// The model names in the same alias family as `model`.
    fn family<'a>(&'a self, model: &'a str) -> Vec<&'a str> {
        let mut out = vec![model];
        for (canonical, aliases) in &self.models.aliases {
            if canonical == model || aliases.iter().any(|a| a == model) {
                out.push(canonical);
                out.extend(aliases.iter().map(String::as_str));
            }
        }
        out
    }

    fn model_gate(&self, grant: &Effective, body: &Value) -> Option<Finding> {
        let allowed = grant.models?;
        let requested = wire::model(body);
        let ok = requested.is_some_and(|m| self.family(m).iter().any(|f| allowed.iter().any(|a| a == f)));
        (!ok).then(|| {
            let why = match requested {
                Some(m) => format!("model `{}` is not allowed for {}", constraints::printable(m), grant.who),
                None => format!("the request names no model, and {} may only use listed models", grant.who),
            };
            Self::policy_finding("models.not_allowed", "/model", self.models.on_denied, why)
        })
    }

    /// A response from a model other than the one asked for, beyond its
    /// alias family or a dated snapshot of it (`gpt-4o` → `gpt-4o-2024-08-06`).
    fn model_mismatch(&self, env: &Envelope, answered: Option<&str>) -> Option<Finding> {
        let (Some(requested), Some(answered)) = (env.model.as_deref(), answered) else { return None };
        let snapshot = answered.strip_prefix(requested).and_then(|r| r.strip_prefix('-')).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        if answered == requested || snapshot || self.family(requested).contains(&answered) {
            return None;
        }
        let why = format!("response came from model `{}`, not the requested `{}`", constraints::printable(answered), constraints::printable(requested));
        Some(Self::policy_finding("models.mismatch", "/model", self.models.on_mismatch, why))
    }
}

fn target_text(t: &Target) -> String {
    match t {
        Target::Label(l) => format!("tools labelled {l} are denied"),
        Target::Tool(n) => format!("tool `{n}` is denied"),
    }
}

fn trigger_text(t: &Trigger) -> String {
    match t {
        Trigger::Label(l) => format!("flow rule: after {l}"),
        Trigger::Tool(n) => format!("flow rule: after tool `{n}`"),
        Trigger::Flagged(_) => "flow rule: after flagged content".into(),
    }
}

#[cfg(test)]
mod tests;
