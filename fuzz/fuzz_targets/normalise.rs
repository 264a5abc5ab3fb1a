//! The injection normaliser on arbitrary text: no panic, bounded output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_core::injection::normalise;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let n = normalise(&text);
    for &(a, b) in &n.encoded_runs {
        assert!(a <= b && b <= text.len(), "encoded run {a}..{b} outside the input");
    }
});
