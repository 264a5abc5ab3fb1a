//! The protobuf decoder for Envoy's `metadata` property: no panic, bounded
//! depth, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_core::tools::metadata::filter_value;

fuzz_target!(|data: &[u8]| {
    let _ = filter_value(data, "envoy.filters.http.jwt_authn", "payload");
    let _ = filter_value(data, "", "");
});
