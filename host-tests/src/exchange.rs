//! Recorded exchanges: the JSON Lines replay format (docs/hosts.md) and the
//! HAR import.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::abi::Headers;

/// One request and its response, as recorded.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    #[serde(default)]
    pub name: String,
    pub request: Request,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// Virtual time that passes before this exchange (fires timers).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `:method`, unless the headers carry it (default POST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `:path`, unless the headers carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_b64: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// `:status`, unless the headers carry it (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_b64: Option<String>,
    /// A streamed body, in the pieces it arrived in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks_b64: Option<Vec<String>>,
}

fn decode_body(text: &Option<String>, b64: &Option<String>) -> Result<Vec<u8>, String> {
    match (text, b64) {
        (Some(_), Some(_)) => Err("give `body` or `body_b64`, not both".into()),
        (Some(t), None) => Ok(t.as_bytes().to_vec()),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD.decode(b).map_err(|e| format!("body_b64: {e}")),
        (None, None) => Ok(Vec::new()),
    }
}

fn lower(headers: &Headers) -> Headers {
    headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect()
}

fn has(headers: &Headers, name: &str) -> bool {
    headers.iter().any(|(k, _)| k == name)
}

impl Request {
    pub fn body_bytes(&self) -> Result<Vec<u8>, String> {
        decode_body(&self.body, &self.body_b64)
    }

    /// The header map a proxy hands a filter: lower-case names, pseudo
    /// headers first, and the content-length a client would send.
    pub fn header_map(&self) -> Result<Headers, String> {
        let given = lower(&self.headers);
        let body_len = self.body_bytes()?.len();
        let mut out: Headers = Vec::new();
        let pseudo = [
            (":method", self.method.clone().unwrap_or_else(|| "POST".into())),
            (":path", self.path.clone().unwrap_or_else(|| "/".into())),
            (":authority", "upstream".into()),
            (":scheme", "http".into()),
        ];
        for (name, default) in pseudo {
            match given.iter().find(|(k, _)| k == name) {
                Some((_, v)) => out.push((name.into(), v.clone())),
                None => out.push((name.into(), default)),
            }
        }
        out.extend(given.iter().filter(|(k, _)| !k.starts_with(':')).cloned());
        if body_len > 0 && !has(&out, "content-length") && !has(&out, "transfer-encoding") {
            out.push(("content-length".into(), body_len.to_string()));
        }
        Ok(out)
    }
}

impl Response {
    /// The body in the pieces it arrives in (one piece unless streamed).
    pub fn body_chunks(&self) -> Result<Vec<Vec<u8>>, String> {
        let whole = decode_body(&self.body, &self.body_b64)?;
        let chunks: Vec<Vec<u8>> = match (&self.chunks, &self.chunks_b64) {
            (Some(c), None) => c.iter().map(|s| s.as_bytes().to_vec()).collect(),
            (None, Some(c)) => {
                c.iter().map(|s| base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| format!("chunks_b64: {e}"))).collect::<Result<_, _>>()?
            }
            (None, None) => return Ok(if whole.is_empty() { Vec::new() } else { vec![whole] }),
            (Some(_), Some(_)) => return Err("give `chunks` or `chunks_b64`, not both".into()),
        };
        if !whole.is_empty() {
            return Err("give `body` or `chunks`, not both".into());
        }
        Ok(chunks)
    }

    pub fn header_map(&self) -> Headers {
        let given = lower(&self.headers);
        let status = given.iter().find(|(k, _)| k == ":status").map(|(_, v)| v.clone()).unwrap_or_else(|| self.status.unwrap_or(200).to_string());
        let mut out = vec![(":status".to_string(), status)];
        out.extend(given.into_iter().filter(|(k, _)| !k.starts_with(':')));
        out
    }
}

/// Reads a JSON Lines file of exchanges; blank lines and lines starting with
/// `#` are skipped. Errors name the line.
pub fn parse_jsonl(text: &str) -> Result<Vec<Exchange>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut ex: Exchange = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        ex.request.body_bytes().map_err(|e| format!("line {}: {e}", n + 1))?;
        if let Some(r) = &ex.response {
            r.body_chunks().map_err(|e| format!("line {}: {e}", n + 1))?;
        }
        if ex.name.is_empty() {
            ex.name = format!("line{}", n + 1);
        }
        out.push(ex);
    }
    Ok(out)
}

/// Converts a HAR 1.2 log (`log.entries[]`) to exchanges. Event-stream
/// responses are split into one chunk per event, the way they arrive.
pub fn from_har(text: &str) -> Result<Vec<Exchange>, String> {
    let har: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let entries = har.pointer("/log/entries").and_then(Value::as_array).ok_or("no log.entries in this HAR file")?;
    let mut out = Vec::new();
    for (n, e) in entries.iter().enumerate() {
        let req = e.get("request").ok_or_else(|| format!("entry {n}: no request"))?;
        let url = req.get("url").and_then(Value::as_str).unwrap_or("/");
        let (authority, path) = split_url(url);
        let method = req.get("method").and_then(Value::as_str).unwrap_or("GET").to_string();
        let mut headers = har_headers(req.get("headers"));
        if !has(&headers, ":authority") && !authority.is_empty() {
            headers.insert(0, (":authority".into(), authority.clone()));
        }
        let (body, body_b64) = har_text(req.get("postData"));
        let response = e.get("response").map(|r| {
            let content = r.get("content");
            let (text, b64) = har_text(content);
            let mime = content.and_then(|c| c.get("mimeType")).and_then(Value::as_str).unwrap_or("");
            let mut resp = Response {
                status: r.get("status").and_then(Value::as_u64).map(|s| s as u16),
                headers: har_headers(r.get("headers")),
                ..Response::default()
            };
            if !has(&resp.headers, "content-type") && !mime.is_empty() {
                resp.headers.push(("content-type".into(), mime.into()));
            }
            match text {
                Some(t) if mime.starts_with("text/event-stream") => resp.chunks = Some(split_events(&t)),
                t => (resp.body, resp.body_b64) = (t, b64),
            }
            resp
        });
        out.push(Exchange {
            name: format!("har{} {method} {path}", n + 1),
            request: Request { method: Some(method), path: Some(path), headers, body, body_b64 },
            response,
            delay_ms: 0,
        });
    }
    Ok(out)
}

fn split_url(url: &str) -> (String, String) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match rest.find('/') {
        Some(i) if url.contains("://") => (rest[..i].to_string(), rest[i..].to_string()),
        None if url.contains("://") => (rest.to_string(), "/".to_string()),
        _ => (String::new(), rest.to_string()),
    }
}

/// HAR headers, minus the ones a proxy recomputes (HTTP/2 pseudo headers
/// become ours; `content-length` would be stale after a rewrite anyway).
fn har_headers(v: Option<&Value>) -> Headers {
    let mut out = Vec::new();
    for h in v.and_then(Value::as_array).into_iter().flatten() {
        let name = h.get("name").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
        let value = h.get("value").and_then(Value::as_str).unwrap_or("").to_string();
        if name.is_empty() || name == "content-length" || name == "host" && out.iter().any(|(k, _): &(String, String)| k == ":authority") {
            continue;
        }
        if name == "host" {
            out.push((":authority".into(), value));
        } else if !name.starts_with(':') || name == ":authority" || name == ":path" || name == ":method" {
            out.push((name, value));
        }
    }
    out
}

fn har_text(v: Option<&Value>) -> (Option<String>, Option<String>) {
    let Some(v) = v else { return (None, None) };
    let text = v.get("text").and_then(Value::as_str).map(str::to_string);
    match v.get("encoding").and_then(Value::as_str) {
        Some("base64") => (None, text),
        _ => (text, None),
    }
}

fn split_events(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\n\n") {
        out.push(rest[..i + 2].to_string());
        rest = &rest[i + 2..];
    }
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

/// Serialises bytes as a string when they are UTF-8, else as
/// `{"b64": ...}`.
pub mod bytes_text {
    use base64::Engine as _;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(bytes) {
            Ok(t) => s.serialize_str(t),
            Err(_) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("b64", &base64::engine::general_purpose::STANDARD.encode(bytes))?;
                m.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_defaults_and_errors() {
        let ex = parse_jsonl(r#"{"request":{"path":"/v1/messages","headers":[["Content-Type","application/json"]],"body":"{}"},"response":{"chunks":["a","b"]}}"#).unwrap();
        let h = ex[0].request.header_map().unwrap();
        assert_eq!(h[1], (":path".into(), "/v1/messages".into()));
        assert!(h.contains(&("content-type".into(), "application/json".into())));
        assert!(h.contains(&("content-length".into(), "2".into())));
        assert_eq!(ex[0].response.as_ref().unwrap().body_chunks().unwrap(), vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(parse_jsonl(r#"{"request":{"body":"x","body_b64":"eA=="}}"#).unwrap_err().contains("line 1"));
        assert!(parse_jsonl(r#"{"request":{},"bogus":1}"#).is_err());
    }

    #[test]
    fn har_entries_map_to_exchanges() {
        let har = r#"{"log":{"entries":[{"request":{"method":"POST","url":"https://api.example.com/v1/chat/completions?x=1",
            "headers":[{"name":"Host","value":"api.example.com"},{"name":"Content-Length","value":"9"}],"postData":{"mimeType":"application/json","text":"{\"a\":1}"}},
            "response":{"status":200,"headers":[],"content":{"mimeType":"text/event-stream","text":"data: 1\n\ndata: 2\n\n"}}}]}}"#;
        let ex = from_har(har).unwrap();
        assert_eq!(ex[0].request.path.as_deref(), Some("/v1/chat/completions?x=1"));
        let h = ex[0].request.header_map().unwrap();
        assert!(h.contains(&(":authority".into(), "api.example.com".into())));
        assert!(h.contains(&("content-length".into(), "7".into())));
        let r = ex[0].response.as_ref().unwrap();
        assert_eq!(r.body_chunks().unwrap().len(), 2);
        assert_eq!(r.header_map()[0], (":status".into(), "200".into()));
    }
}
