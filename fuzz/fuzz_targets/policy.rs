//! Policy loading, bare and as a signed plugin configuration: no panic, and
//! an accepted policy compiles into an engine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_core::{signing, Engine, Policy};

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = Policy::from_json(data) {
        let _ = policy.digest();
        let _ = Engine::new(policy);
    }
    if let Ok(loaded) = signing::load_config(data, 1_800_000_000_000, 0) {
        let _ = Engine::new(loaded.policy);
    }
});
