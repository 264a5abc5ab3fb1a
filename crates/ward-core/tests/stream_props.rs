//! Property tests of streaming redaction: for any text cut into any events,
//! and any cut of those bytes into chunks (down to one byte), the client
//! receives the same bytes as `Engine::inspect` on the whole stream, the
//! text it rebuilds equals the non-streamed redaction of the whole text,
//! and no prefix of a secret longer than its rule's keyword gets through.

use proptest::prelude::*;
use serde_json::{json, Value};
use ward_core::{Action, Engine, Envelope, Origin, Verdict};

const GITHUB: &str = "ghp_R7mK2xQ9vL4tW8nB3cF6hJ1pZ5sD0gY2aE7u";
const KEYWORD_LEN: usize = 4; // `ghp_`
const EMAIL: &str = "maria.lindqvist@fjordbank.se";
const WORDS: &[&str] = &["the", "answer", "is", "gh", "ghp", "key:", "mail", "@", "4111", "-", "token", "ok.", "é", "日本", "\n"];

#[derive(Clone, Copy, Debug)]
enum Api {
    Chat,
    Anthropic,
    Responses,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::Chat => "/v1/chat/completions",
            Api::Anthropic => "/v1/messages",
            Api::Responses => "/v1/responses",
        }
    }

    fn stream(self, fragments: &[String]) -> Vec<u8> {
        let ev = |name: &str, v: Value| if name.is_empty() { format!("data: {v}\n\n") } else { format!("event: {name}\ndata: {v}\n\n") };
        let whole: String = fragments.concat();
        let mut out = String::new();
        match self {
            Api::Chat => {
                out += &ev("", json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}));
                for f in fragments {
                    out += &ev("", json!({"id": "c", "choices": [{"index": 0, "delta": {"content": f}, "finish_reason": null}]}));
                }
                out += &ev("", json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
                out += "data: [DONE]\n\n";
            }
            Api::Anthropic => {
                out += &ev("message_start", json!({"type": "message_start", "message": {"id": "m", "content": []}}));
                out += &ev("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
                for f in fragments {
                    out += &ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f}}));
                }
                out += &ev("content_block_stop", json!({"type": "content_block_stop", "index": 0}));
                out += &ev("message_stop", json!({"type": "message_stop"}));
            }
            Api::Responses => {
                out += &ev("response.created", json!({"type": "response.created", "response": {"id": "r", "output": []}}));
                for f in fragments {
                    out += &ev("response.output_text.delta", json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": f}));
                }
                out += &ev("response.output_text.done", json!({"type": "response.output_text.done", "output_index": 0, "content_index": 0, "text": whole}));
            }
        }
        out.into_bytes()
    }

    fn client_text(self, body: &[u8]) -> String {
        let mut out = String::new();
        for block in String::from_utf8_lossy(body).split("\n\n") {
            let data: String = block.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
            let Ok(v) = serde_json::from_str::<Value>(&data) else { continue };
            let piece = match self {
                Api::Chat => v.pointer("/choices/0/delta/content"),
                Api::Anthropic => v.pointer("/delta/text"),
                Api::Responses => (v["type"] == "response.output_text.delta").then(|| &v["delta"]),
            };
            out += piece.and_then(Value::as_str).unwrap_or("");
        }
        out
    }
}

fn env(api: Api) -> Envelope {
    Envelope { request_id: "prop".into(), ..Envelope::response(api.path(), "text/event-stream") }
}

fn inspect(engine: &Engine, api: Api, body: &[u8]) -> (Vec<u8>, Action) {
    let d = engine.inspect(&env(api), body);
    let action = d.action();
    let bytes = match d.verdict {
        Verdict::Allow => body.to_vec(),
        Verdict::Redact { body } => body,
        Verdict::Block { reply, .. } => reply.body,
    };
    (bytes, action)
}

fn push_in_chunks(engine: &Engine, api: Api, body: &[u8], cuts: &[usize]) -> (Vec<u8>, Action) {
    let mut guard = engine.stream(&env(api));
    let (mut out, mut action, mut from) = (Vec::new(), None, 0);
    for &c in cuts.iter().chain(std::iter::once(&body.len())) {
        let c = c.clamp(from, body.len());
        let step = guard.push(engine, &body[from..c], c == body.len());
        out.extend(step.emit);
        if let Some(d) = step.decision {
            action = Some(d.action());
        }
        from = c;
    }
    (out, action.unwrap_or(Action::Allow))
}

/// Text cut into fragments on char boundaries.
fn fragments(text: &str, sizes: &[usize]) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let (mut out, mut i, mut k) = (Vec::new(), 0, 0);
    while i < chars.len() {
        let n = sizes.get(k % sizes.len().max(1)).copied().unwrap_or(3).max(1);
        out.push(chars[i..(i + n).min(chars.len())].iter().collect());
        i += n;
        k += 1;
    }
    out
}

fn text_strategy() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        6 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => Just(GITHUB.to_string()),
        1 => Just(EMAIL.to_string()),
    ];
    proptest::collection::vec(part, 1..14).prop_map(|parts| parts.join(" "))
}

fn api_strategy() -> impl Strategy<Value = Api> {
    prop_oneof![Just(Api::Chat), Just(Api::Anthropic), Just(Api::Responses)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_gives_the_redaction_of_the_whole_stream(
        api in api_strategy(),
        text in text_strategy(),
        sizes in proptest::collection::vec(1usize..9, 1..6),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
        bytewise in any::<bool>(),
    ) {
        let engine = Engine::from_json(b"{}").unwrap();
        let body = api.stream(&fragments(&text, &sizes));
        let whole = inspect(&engine, api, &body);
        let mut cuts: Vec<usize> = if bytewise { (1..body.len()).collect() } else { cuts.iter().map(|i| i.index(body.len() + 1)).collect() };
        cuts.sort_unstable();
        prop_assert_eq!(push_in_chunks(&engine, api, &body, &cuts), whole.clone());

        // The text a client rebuilds is the non-streamed redaction of the text.
        let expected = match engine.inspect_text(&Envelope::response("/x", "text/plain"), Origin::Assistant, &text).verdict {
            Verdict::Redact { body } => String::from_utf8(body).unwrap(),
            _ => text.clone(),
        };
        let got = api.client_text(&whole.0);
        prop_assert_eq!(&got, &expected);
        for k in KEYWORD_LEN + 1..=GITHUB.len() {
            prop_assert!(!got.contains(&GITHUB[..k]), "secret prefix {} leaked", &GITHUB[..k]);
        }
        prop_assert!(!String::from_utf8_lossy(&whole.0).contains("lindqvist"));
    }
}
