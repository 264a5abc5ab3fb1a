//! Reading a sealed trail back: is every chain whole ([`verify`]), and what
//! happened in it ([`incidents`]).
//!
//! Pure functions over lines and events: the `ward` CLI and the collector
//! feed them from files and sockets, tests feed them from memory.

pub mod incidents;
pub mod verify;

pub use incidents::{Assessment, Component, EventRef, Incident, Likelihood, Summary, SummaryBuilder};
pub use verify::{Break, BreakKind, ChainSummary, ChainTip, Head, Link, Outcome, Verifier};
