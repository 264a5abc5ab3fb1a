//! Ward's policy engine.
//!
//! Hosts (the proxy-wasm filter, the wasmtime replay host, the browser
//! build, the `ward` CLI) all go through one small API: build an [`Engine`]
//! from a policy once, then hand it bodies with an [`Envelope`] of metadata
//! and get back a [`Decision`]: a [`Verdict`] plus an [`AuditEvent`].
//!
//! The crate does no I/O, reads no clock and calls no host: the same inputs
//! give the same decision in every host, which is what makes the native,
//! wasm and Envoy results comparable.
//!
//! ```
//! use ward_core::{Engine, Envelope, Verdict};
//!
//! let engine = Engine::from_json(b"{}").unwrap();
//! let env = Envelope::response("/v1/chat/completions", "application/json");
//! let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Use AKIAQ7LM2XR4TZ5NB6WK"}}]}"#;
//! let decision = engine.inspect(&env, body);
//! match decision.verdict {
//!     Verdict::Redact { body } => assert!(String::from_utf8(body).unwrap().contains("[AWS_KEY]")),
//!     other => panic!("expected a redaction, got {other:?}"),
//! }
//! ```

pub mod audit;
pub mod corpus;
pub mod detect;
pub mod encoding;
pub mod engine;
pub mod finding;
pub mod injection;
pub mod pii;
pub mod policy;
pub mod reply;
pub mod scan_cache;
pub mod secrets;
mod seams;
pub mod segment;
pub mod signing;
pub mod sse;
pub mod stream;
mod text;
pub mod tools;
pub mod trail;
pub mod wire;

pub use audit::{AuditChain, AuditEvent};
pub use engine::{Decision, Engine, Envelope, Inspection, Verdict};
pub use finding::{Action, DetectorKind, Finding};
pub use policy::{Policy, PolicyError};
pub use segment::{Origin, Segment};
pub use stream::{StreamGuard, StreamStep};
pub use tools::{Identity, SessionState};
pub use wire::{Api, Direction};
