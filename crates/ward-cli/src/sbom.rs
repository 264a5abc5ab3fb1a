//! `ward sbom`: a CycloneDX 1.6 JSON bill of materials of a guarded
//! deployment: the filter module with its sha256, and the models, MCP
//! servers and tools the policy allows, plus those the audit trail shows in
//! use (property `ward:observed`). Pinned tool digests become hashes.
//!
//! The policy is read as JSON, not through its Rust types, so a section
//! added to the policy needs one more line in `from_policy`, nothing else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use ward_core::{Api, AuditEvent};

use crate::report::format_time;

#[derive(clap::Args)]
pub struct Args {
    /// Policy file (JSON).
    #[arg(long)]
    policy: PathBuf,
    /// Audit trail (collector directory or trail file): marks what was observed.
    #[arg(long)]
    audit: Option<PathBuf>,
    /// The filter module (.wasm) to hash. Default: $WARD_FILTER_WASM, else
    /// $CARGO_TARGET_DIR/wasm32-wasip1/release/ward_filter.wasm, if present.
    #[arg(long)]
    module: Option<PathBuf>,
    /// Name of the deployment the BOM describes.
    #[arg(long, default_value = "ward-guarded-deployment")]
    name: String,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Model,
    McpServer,
    Tool,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Model => "model",
            Kind::McpServer => "mcp_server",
            Kind::Tool => "tool",
        }
    }
}

/// One model, MCP server or tool, as the policy and the trail know it.
#[derive(Default)]
struct Entry {
    allowed: bool,
    observed: u64,
    /// Pinned definition digest, hex (tools).
    pin: Option<String>,
    /// Further facts, as CycloneDX properties.
    properties: BTreeMap<String, String>,
}

type Inventory = BTreeMap<(Kind, String), Entry>;

pub fn run(args: Args) -> Result<ExitCode, String> {
    let policy = ward_core::Policy::from_json(&crate::read(&args.policy)?).map_err(|e| format!("{}:{e}", args.policy.display()))?;
    let policy_value = serde_json::to_value(&policy).expect("policy serialises");
    let mut inventory = Inventory::new();
    from_policy(&policy_value, &mut inventory);
    if let Some(trail) = &args.audit {
        let servers = server_authorities(&policy_value);
        crate::verify::for_each_event(trail, |e| observe(e, &servers, &mut inventory))?;
    }
    let module = args.module.clone().or_else(default_module);
    let module_hash = match &module {
        Some(path) => Some(sha256_file(path)?),
        None => {
            eprintln!("ward sbom: no filter module found (give --module PATH); its hash is left out");
            None
        }
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let bom = document(&args.name, &policy.digest(), module.as_deref(), module_hash.as_deref(), &inventory, now);
    println!("{}", serde_json::to_string_pretty(&bom).expect("serialises"));
    Ok(ExitCode::SUCCESS)
}

fn default_module() -> Option<PathBuf> {
    let from_env = std::env::var_os("WARD_FILTER_WASM").map(PathBuf::from);
    let from_target = std::env::var_os("CARGO_TARGET_DIR").map(|d| PathBuf::from(d).join("wasm32-wasip1/release/ward_filter.wasm"));
    [from_env, from_target].into_iter().flatten().find(|p| p.is_file())
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let bytes = crate::read(path)?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn allow<'a>(inv: &'a mut Inventory, kind: Kind, name: &str) -> &'a mut Entry {
    let e = inv.entry((kind, name.to_string())).or_default();
    e.allowed = true;
    e
}

/// Everything the policy allows by name.
fn from_policy(p: &Value, inv: &mut Inventory) {
    let tools = &p["tools"];
    for name in strings(&tools["allow"]) {
        allow(inv, Kind::Tool, name);
    }
    for (name, def) in tools["definitions"].as_object().into_iter().flatten() {
        let e = allow(inv, Kind::Tool, name);
        if let Some(pin) = def["pin"].as_str() {
            e.properties.insert("ward:pin".into(), pin.to_string());
            e.pin = pin.strip_prefix("sha256:").map(str::to_string);
        }
        if let Some(server) = def["server"].as_str() {
            e.properties.insert("ward:mcp_server".into(), server.to_string());
        }
        let labels: Vec<&str> = strings(&def["labels"]).collect();
        if !labels.is_empty() {
            e.properties.insert("ward:labels".into(), labels.join(","));
        }
    }
    // Grants: the default one, each agent's, each agent's tasks'.
    let mut grants = vec![("(default)".to_string(), &tools["default_agent"])];
    for (agent, g) in tools["agents"].as_object().into_iter().flatten() {
        grants.push((agent.clone(), g));
        for (task, t) in g["tasks"].as_object().into_iter().flatten() {
            grants.push((format!("{agent}/{task}"), t));
        }
    }
    for (who, g) in grants {
        for (key, kind) in [("tools", Kind::Tool), ("models", Kind::Model), ("mcp_servers", Kind::McpServer)] {
            for name in strings(&g[key]) {
                let e = allow(inv, kind, name);
                let granted = e.properties.entry("ward:granted_to".into()).or_default();
                if !granted.split(',').any(|w| w == who) {
                    if !granted.is_empty() {
                        granted.push(',');
                    }
                    granted.push_str(&who);
                }
            }
        }
    }
    for (model, aliases) in p["models"]["aliases"].as_object().into_iter().flatten() {
        let names: Vec<&str> = strings(aliases).collect();
        let e = allow(inv, Kind::Model, model);
        if !names.is_empty() {
            e.properties.insert("ward:aliases".into(), names.join(","));
        }
    }
    for (key, server) in p["mcp_servers"].as_object().into_iter().flatten() {
        let e = allow(inv, Kind::McpServer, key);
        if let Some(name) = server["name"].as_str() {
            e.properties.insert("ward:server_info_name".into(), name.to_string());
        }
        for (field, prop) in [("versions", "ward:versions"), ("authorities", "ward:authorities")] {
            let v: Vec<&str> = strings(&server[field]).collect();
            if !v.is_empty() {
                e.properties.insert(prop.into(), v.join(","));
            }
        }
    }
}

/// Upstream authority -> MCP server key, from the policy.
fn server_authorities(p: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, server) in p["mcp_servers"].as_object().into_iter().flatten() {
        for a in strings(&server["authorities"]) {
            out.insert(a.to_string(), key.clone());
        }
    }
    out
}

fn observe(e: &AuditEvent, servers: &BTreeMap<String, String>, inv: &mut Inventory) {
    let mut seen = |kind: Kind, name: &str| inv.entry((kind, name.to_string())).or_default().observed += 1;
    if let Some(m) = &e.model {
        seen(Kind::Model, m);
    }
    for t in &e.tools {
        seen(Kind::Tool, t);
    }
    if e.api == Some(Api::Mcp) && !e.upstream.is_empty() {
        let key = servers.get(&e.upstream).cloned().unwrap_or_else(|| e.upstream.clone());
        seen(Kind::McpServer, &key);
    }
}

fn property(name: &str, value: impl ToString) -> Value {
    json!({"name": name, "value": value.to_string()})
}

fn bom_ref(kind: Kind, name: &str) -> String {
    format!("{}:{name}", kind.as_str())
}

fn document(name: &str, policy_digest: &str, module: Option<&Path>, module_hash: Option<&str>, inv: &Inventory, now_ms: u64) -> Value {
    let version = ward_core::engine::WARD_VERSION;
    let mut filter = json!({
        "type": "application",
        "bom-ref": "ward-filter",
        "name": "ward-filter",
        "version": version,
        "description": "Ward guardrail filter: proxy-wasm module loaded by Envoy",
        "properties": [property("ward:kind", "filter")],
    });
    match (module, module_hash) {
        (Some(path), Some(hash)) => {
            filter["hashes"] = json!([{"alg": "SHA-256", "content": hash}]);
            filter["properties"].as_array_mut().expect("array").push(property("ward:module_file", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
        }
        _ => filter["properties"].as_array_mut().expect("array").push(property("ward:module_sha256", "unavailable")),
    }
    let mut components = vec![filter];
    let mut server_tools: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((kind, item), e) in inv {
        let mut props = vec![property("ward:kind", kind.as_str()), property("ward:allowed", e.allowed), property("ward:observed", e.observed > 0)];
        if e.observed > 0 {
            props.push(property("ward:observed_events", e.observed));
        }
        props.extend(e.properties.iter().map(|(k, v)| property(k, v)));
        let mut c = json!({
            "type": if *kind == Kind::Model { "machine-learning-model" } else { "application" },
            "bom-ref": bom_ref(*kind, item),
            "name": item,
            "properties": props,
        });
        if let Some(pin) = &e.pin {
            c["hashes"] = json!([{"alg": "SHA-256", "content": pin}]);
        }
        if let Some(server) = e.properties.get("ward:mcp_server") {
            if inv.contains_key(&(Kind::McpServer, server.clone())) {
                server_tools.entry(bom_ref(Kind::McpServer, server)).or_default().push(bom_ref(*kind, item));
            }
        }
        components.push(c);
    }
    let mut dependencies = vec![json!({
        "ref": "deployment",
        "dependsOn": components.iter().filter_map(|c| c["bom-ref"].as_str()).collect::<Vec<_>>(),
    })];
    dependencies.extend(server_tools.into_iter().map(|(server, tools)| json!({"ref": server, "dependsOn": tools})));
    let body = json!({"components": components, "dependencies": dependencies, "policy": policy_digest, "name": name});
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial_number(&body),
        "version": 1,
        "metadata": {
            "timestamp": format_time(now_ms - now_ms % 1000),
            "tools": {"components": [{"type": "application", "name": "ward", "version": version}]},
            "component": {
                "type": "application",
                "bom-ref": "deployment",
                "name": name,
                "properties": [property("ward:policy_digest", format!("sha256:{policy_digest}"))],
            },
        },
        "components": body["components"],
        "dependencies": body["dependencies"],
    })
}

/// A UUID (version 5 layout) derived from the content, so the same
/// deployment gives the same serial number.
fn serial_number(content: &Value) -> String {
    let d = Sha256::digest(content.to_string().as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("urn:uuid:{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_and_trail_make_the_inventory() {
        let policy = json!({
            "tools": {
                "allow": ["search"],
                "definitions": {"read_file": {"pin": format!("sha256:{}", "a".repeat(64)), "server": "files"}},
                "default_agent": {"tools": ["search"], "models": ["gpt-4o"]},
                "agents": {"planner": {"tools": ["read_file"], "mcp_servers": ["files"], "tasks": {"t": {"models": ["claude"]}}}},
            },
            "models": {"aliases": {"gpt-4o": ["gpt-4o-2024-08-06"]}},
            "mcp_servers": {"files": {"name": "fs", "authorities": ["files.internal:8080"]}},
        });
        let mut inv = Inventory::new();
        from_policy(&policy, &mut inv);
        let servers = server_authorities(&policy);
        let e = AuditEvent { api: Some(Api::Mcp), upstream: "files.internal:8080".into(), tools: vec!["read_file".into(), "rm".into()], model: Some("gpt-4o".into()), ..AuditEvent::default() };
        observe(&e, &servers, &mut inv);
        let names: Vec<(&str, &str)> = inv.keys().map(|(k, n)| (k.as_str(), n.as_str())).collect();
        assert_eq!(names, [("model", "claude"), ("model", "gpt-4o"), ("mcp_server", "files"), ("tool", "read_file"), ("tool", "rm"), ("tool", "search")]);
        assert!(!inv[&(Kind::Tool, "rm".into())].allowed);
        assert_eq!(inv[&(Kind::Tool, "rm".into())].observed, 1);
        assert_eq!(inv[&(Kind::McpServer, "files".into())].observed, 1);
        assert_eq!(inv[&(Kind::Tool, "read_file".into())].pin.as_deref(), Some("a".repeat(64).as_str()));
        assert_eq!(inv[&(Kind::Model, "claude".into())].properties["ward:granted_to"], "planner/t");
        let bom = document("d", "00", None, None, &inv, 1_000);
        assert_eq!(bom["components"].as_array().unwrap().len(), 7);
        assert_eq!(bom["dependencies"][1], json!({"ref": "mcp_server:files", "dependsOn": ["tool:read_file"]}));
        assert!(bom["serialNumber"].as_str().unwrap().starts_with("urn:uuid:"));
    }
}
