use serde_json::{json, Value};

use crate::engine::{Engine, Envelope, Verdict};
use crate::Action;

/// Fixture secrets: random-looking, in the providers' documented shapes.
pub(crate) const GITHUB: &str = "ghp_R7mK2xQ9vL4tW8nB3cF6hJ1pZ5sD0gY2aE7u";
pub(crate) const EMAIL: &str = "maria.lindqvist@fjordbank.se";

fn engine() -> Engine {
    Engine::from_json(b"{}").unwrap()
}

fn env(path: &str) -> Envelope {
    Envelope { request_id: "req-1".into(), ..Envelope::response(path, "text/event-stream") }
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(e) => format!("event: {e}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

pub(crate) fn chat_stream(text: &str, n: usize) -> String {
    let base = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m"});
    let chunk = |choice: Value| {
        let mut v = base.clone();
        v["choices"] = json!([choice]);
        v
    };
    let mut out = sse(None, &chunk(json!({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null})));
    for p in pieces(text, n) {
        out += &sse(None, &chunk(json!({"index": 0, "delta": {"content": p}, "finish_reason": null})));
    }
    out += &sse(None, &chunk(json!({"index": 0, "delta": {}, "finish_reason": "stop"})));
    out + "data: [DONE]\n\n"
}

pub(crate) fn anthropic_stream(text: &str, n: usize) -> String {
    let mut out = sse(Some("message_start"), &json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": []}}));
    out += &sse(Some("content_block_start"), &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
    for p in pieces(text, n) {
        out += &sse(Some("content_block_delta"), &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}));
    }
    out += &sse(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": 0}));
    out += &sse(Some("message_delta"), &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}));
    out + &sse(Some("message_stop"), &json!({"type": "message_stop"}))
}

pub(crate) fn responses_stream(text: &str, n: usize) -> String {
    let item = json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let mut out = sse(Some("response.created"), &json!({"type": "response.created", "response": {"id": "r", "model": "m", "status": "in_progress", "output": []}}));
    for p in pieces(text, n) {
        out += &sse(Some("response.output_text.delta"), &json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "item_id": "msg_1", "delta": p}));
    }
    out += &sse(Some("response.output_text.done"), &json!({"type": "response.output_text.done", "output_index": 0, "content_index": 0, "item_id": "msg_1", "text": text}));
    out += &sse(Some("response.output_item.done"), &json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
    out + &sse(Some("response.completed"), &json!({"type": "response.completed", "response": {"id": "r", "model": "m", "status": "completed", "output": [item]}}))
}

/// Pushes `body` cut at `cuts` (sorted offsets); returns what came out.
fn push_split(engine: &Engine, env: &Envelope, body: &[u8], cuts: &[usize]) -> (Vec<u8>, Action) {
    let mut guard = engine.stream(env);
    let mut out = Vec::new();
    let mut action = None;
    let mut from = 0;
    for &c in cuts.iter().chain([body.len()].iter()) {
        let step = guard.push(engine, &body[from..c], c == body.len());
        out.extend(step.emit);
        if let Some(d) = step.decision {
            assert!(action.is_none(), "decided twice");
            action = Some(d.action());
        }
        from = c;
    }
    (out, action.expect("a stream decides at its end"))
}

fn whole(engine: &Engine, env: &Envelope, body: &[u8]) -> (Vec<u8>, Action) {
    let d = engine.inspect(env, body);
    let action = d.action();
    let bytes = match d.verdict {
        Verdict::Allow => body.to_vec(),
        Verdict::Redact { body } => body,
        Verdict::Block { reply, .. } => reply.body,
    };
    (bytes, action)
}

/// The text a client rebuilds from the text fragments of a stream.
pub(crate) fn client_text(api_path: &str, body: &[u8]) -> String {
    let mut out = String::new();
    for block in String::from_utf8_lossy(body).split("\n\n") {
        let data: String = block.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
        let Ok(v) = serde_json::from_str::<Value>(&data) else { continue };
        let piece = if api_path.ends_with("/chat/completions") {
            v.pointer("/choices/0/delta/content").and_then(Value::as_str).map(str::to_string)
        } else if api_path.ends_with("/messages") {
            v.pointer("/delta/text").and_then(Value::as_str).map(str::to_string)
        } else {
            (v["type"] == "response.output_text.delta").then(|| v["delta"].as_str().unwrap_or("").to_string())
        };
        out += &piece.unwrap_or_default();
    }
    out
}

const APIS: [(&str, fn(&str, usize) -> String); 3] =
    [("/v1/chat/completions", chat_stream), ("/v1/messages", anthropic_stream), ("/v1/responses", responses_stream)];

#[test]
fn fixtures_are_detected_when_not_streamed() {
    let e = engine();
    for secret in [GITHUB, EMAIL] {
        let d = e.inspect_text(&Envelope::response("/x", "text/plain"), crate::Origin::Assistant, &format!("here: {secret} ok"));
        assert_eq!(d.action(), Action::Redact, "{secret} must be redacted by the default policy");
    }
}

#[test]
fn secret_split_over_many_events_is_redacted_in_every_api() {
    let e = engine();
    let text = format!("Your token is {GITHUB} and mail {EMAIL}, thanks.");
    for (path, make) in APIS {
        for n in [1, 2, 3, 5, 8] {
            let body = make(&text, n);
            let (out, action) = whole(&e, &env(path), body.as_bytes());
            assert_eq!(action, Action::Redact, "{path} n={n}");
            let got = client_text(path, &out);
            assert_eq!(got, "Your token is [GITHUB_TOKEN] and mail [EMAIL], thanks.", "{path} n={n}");
            let raw = String::from_utf8_lossy(&out);
            assert!(!raw.contains("ghp_R7mK") && !raw.contains("lindqvist"), "{path} n={n}: {raw}");
        }
    }
}

#[test]
fn every_split_point_gives_the_same_bytes() {
    let e = engine();
    let text = format!("Token {GITHUB}; mail {EMAIL}.");
    for (path, make) in APIS {
        let body = make(&text, 9);
        let body = body.as_bytes();
        let env = env(path);
        let expected = whole(&e, &env, body);
        for cut in 0..=body.len() {
            assert_eq!(push_split(&e, &env, body, &[cut]), expected, "{path}: cut at {cut}");
        }
        let every: Vec<usize> = (1..body.len()).collect();
        assert_eq!(push_split(&e, &env, body, &every), expected, "{path}: one byte per chunk");
    }
}

#[test]
fn no_secret_prefix_reaches_the_client_before_it_is_judged() {
    let e = engine();
    let text = format!("Here it is: {GITHUB} done.");
    for (path, make) in APIS {
        let body = make(&text, 1);
        let env = env(path);
        let mut guard = e.stream(&env);
        let mut sent = Vec::new();
        for (i, b) in body.as_bytes().iter().enumerate() {
            let step = guard.push(&e, std::slice::from_ref(b), i + 1 == body.len());
            sent.extend(step.emit);
            let seen = client_text(path, &sent);
            // The rule's keyword (`ghp_`) is what tells a token apart;
            // nothing past it may be out before the token is judged.
            for k in 5..=GITHUB.len() {
                assert!(!seen.contains(&GITHUB[..k]), "{path}: `{}` leaked after byte {i}", &GITHUB[..k]);
            }
        }
    }
}

#[test]
fn clean_stream_passes_byte_for_byte_and_unheld() {
    let e = engine();
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(20);
    for (path, make) in APIS {
        let body = make(&text, 4);
        let (out, action) = whole(&e, &env(path), body.as_bytes());
        assert_eq!(out, body.as_bytes(), "{path}");
        assert_eq!(action, Action::Allow, "{path}");
    }
}

#[test]
fn holdback_is_bounded_by_the_window_not_the_length() {
    let e = Engine::from_json(br#"{"stream": {"max_holdback_bytes": 64}}"#).unwrap();
    // Runs of e-mail characters keep a candidate open; the window caps it.
    let text = format!("{} {} end", "a".repeat(300), "b.c".repeat(100));
    let body = chat_stream(&text, 7);
    let mut guard = e.stream(&env("/v1/chat/completions"));
    let mut most = 0;
    for piece in body.as_bytes().chunks(50) {
        guard.push(&e, piece, false);
        most = most.max(guard.held_bytes());
    }
    guard.push(&e, b"", true);
    assert!(most <= 64 + 7, "held {most} bytes");
}

#[test]
fn block_mid_stream_ends_with_the_apis_error_event() {
    let e = Engine::from_json(br#"{"secrets": {"response": "block"}}"#).unwrap();
    let text = format!("Fine text first. Then {GITHUB} and more text.");
    let body = anthropic_stream(&text, 4);
    let (out, action) = whole(&e, &env("/v1/messages"), body.as_bytes());
    assert_eq!(action, Action::Block);
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("event: message_start"), "{out}");
    assert!(out.trim_end().ends_with('}') && out.contains("event: error\ndata: {\"error\""), "{out}");
    assert!(client_text("/v1/messages", out.as_bytes()).starts_with("Fine text first."));
    assert!(!out.contains("ghp_R7"), "{out}");
    assert!(!out.contains("message_stop"));
}

#[test]
fn monitor_mode_changes_nothing() {
    let e = Engine::from_json(br#"{"mode": "monitor"}"#).unwrap();
    let body = chat_stream(&format!("key {GITHUB}"), 3);
    let (out, action) = whole(&e, &env("/v1/chat/completions"), body.as_bytes());
    assert_eq!(out, body.as_bytes());
    assert_eq!(action, Action::Log);
}

#[test]
fn mcp_events_are_redacted_whole() {
    let e = engine();
    let msg = json!({"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": format!("found {GITHUB}")}], "isError": false}});
    let body = sse(Some("message"), &msg);
    let env = env("/mcp");
    let (out, action) = whole(&e, &env, body.as_bytes());
    assert_eq!(action, Action::Redact);
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("event: message\ndata: ") && out.contains("found [GITHUB_TOKEN]"), "{out}");
    for cut in 0..=body.len() {
        assert_eq!(push_split(&e, &env, body.as_bytes(), &[cut]).0, out.as_bytes(), "cut {cut}");
    }
}

#[test]
fn responses_done_events_repeat_the_redacted_text() {
    let e = engine();
    let text = format!("mail {EMAIL} now");
    let body = responses_stream(&text, 2);
    let (out, _) = whole(&e, &env("/v1/responses"), body.as_bytes());
    let out = String::from_utf8(out).unwrap();
    assert!(!out.contains("lindqvist"), "{out}");
    // output_text.done, output_item.done and response.completed repeat it.
    assert_eq!(out.matches("mail [EMAIL] now").count(), 3, "{out}");
}

#[test]
fn tool_call_arguments_are_held_and_checked_whole() {
    let e = engine();
    let base = json!({"id": "c", "object": "chat.completion.chunk", "model": "m"});
    let chunk = |delta: Value, finish: Value| {
        let mut v = base.clone();
        v["choices"] = json!([{"index": 0, "delta": delta, "finish_reason": finish}]);
        sse(None, &v)
    };
    let mut body = chunk(json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "rm_rf", "arguments": ""}}]}), Value::Null);
    for p in pieces(r#"{"path": "/"}"#, 3) {
        body += &chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}), Value::Null);
    }
    body += &chunk(json!({}), json!("tool_calls"));
    body += "data: [DONE]\n\n";
    let env = env("/v1/chat/completions");
    let (out, action) = whole(&e, &env, body.as_bytes());
    // The default policy allows no tool: the call never reaches the client.
    assert_eq!(action, Action::Block);
    let out = String::from_utf8(out).unwrap();
    assert!(!out.contains("tool_calls") && out.contains("ward_blocked"), "{out}");
    for cut in (0..=body.len()).step_by(7) {
        assert_eq!(push_split(&e, &env, body.as_bytes(), &[cut]).0, out.as_bytes(), "cut {cut}");
    }
}

#[test]
fn rewritten_events_keep_their_fields_and_line_endings() {
    let raw = b"id: 9\r\nevent: x\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n";
    assert_eq!(super::with_data(raw, "{\"a\":2}"), b"id: 9\r\nevent: x\r\ndata: {\"a\":2}\r\n\r\n".to_vec());
}

#[test]
fn bad_holdback_window_is_refused() {
    let e = crate::Policy::from_json(br#"{"stream": {"max_holdback_bytes": 0}}"#).unwrap_err();
    assert_eq!(e.path, "stream.max_holdback_bytes");
}

#[test]
fn oversize_event_blocks_or_passes_the_same_for_every_split() {
    let text = format!("short {EMAIL}. ");
    for (policy, blocked) in [(r#"{"limits": {"max_response_bytes": 400}}"#, true), (r#"{"limits": {"max_response_bytes": 400, "on_oversize": "allow"}}"#, false)] {
        let e = Engine::from_json(policy.as_bytes()).unwrap();
        let mut body = chat_stream(&text, 6);
        let big = chat_stream(&"x".repeat(500), 500);
        body.push_str(&big);
        let env = env("/v1/chat/completions");
        let expected = whole(&e, &env, body.as_bytes());
        assert_eq!(expected.1 == Action::Block, blocked, "{policy}");
        let out = String::from_utf8_lossy(&expected.0).into_owned();
        assert!(!out.contains("lindqvist"), "{out}");
        assert_eq!(out.contains(&"x".repeat(500)), !blocked, "{policy}");
        for cut in (0..=body.len()).step_by(5) {
            assert_eq!(push_split(&e, &env, body.as_bytes(), &[cut]), expected, "{policy}: cut at {cut}");
        }
    }
}

#[test]
fn many_masks_over_a_long_answer_render_like_the_whole_text() {
    let e = engine();
    let sentence = |i: usize| format!("Line {i}: token {GITHUB} mail {EMAIL}. ");
    let text: String = (0..60).map(sentence).collect();
    let expected: String = (0..60).map(|i| format!("Line {i}: token [GITHUB_TOKEN] mail [EMAIL]. ")).collect();
    let d = e.inspect_text(&Envelope::response("/x", "text/plain"), crate::Origin::Assistant, &text);
    assert_eq!(d.findings.len(), 120, "the fixture must give one finding per secret");
    for (path, make) in APIS {
        // Event sizes that cut the masks at many offsets against the sentences.
        for n in [7, 64] {
            let body = make(&text, n);
            let env = env(path);
            let (out, action) = whole(&e, &env, body.as_bytes());
            assert_eq!(action, Action::Redact, "{path} n={n}");
            assert_eq!(client_text(path, &out), expected, "{path} n={n}");
            if path == "/v1/responses" {
                // The done events repeat the whole text, rendered with every mask.
                assert_eq!(String::from_utf8_lossy(&out).matches(expected.as_str()).count(), 3, "{path} n={n}");
            }
        }
    }
}

#[test]
fn tool_checks_keep_one_model_event_not_every_chat_chunk() {
    let e = engine();
    let body = chat_stream(&"A long answer without any call. ".repeat(40), 5);
    let mut guard = e.stream(&env("/v1/chat/completions"));
    guard.push(&e, body.as_bytes(), false);
    // Every chunk names the model; the checks read only the first.
    assert_eq!(guard.tool_events.len(), 1);
}

#[test]
fn decision_audits_every_finding_of_a_stream() {
    let e = engine();
    let text = format!("a {GITHUB} b {EMAIL} c {EMAIL}");
    for (path, make) in APIS {
        let d = e.inspect(&env(path), make(&text, 3).as_bytes());
        let audit = d.audit.expect("a redaction is audited");
        assert_eq!(d.findings.len(), 3, "{path}");
        let from_findings: Vec<_> = d.findings.iter().map(crate::audit::AuditFinding::from).collect();
        assert_eq!(audit.findings, from_findings, "{path}");
    }
}
