//! Benchmarks only: see `benches/engine.rs`.
