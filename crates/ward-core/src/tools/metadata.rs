//! Reads a filter's dynamic metadata out of the bytes a proxy-wasm host
//! returns for the `metadata` property.
//!
//! Envoy 1.40 answers `get_property(["metadata"])` with the serialized
//! `envoy.config.core.v3.Metadata` protobuf, but fails with
//! `SerializationFailure` for any path below it that names a map
//! (`metadata.filter_metadata.<filter>.<key>`), and returns leaves as bare
//! bytes with their types lost (a number is 8 little-endian bytes of a
//! double). So the host fetches the whole message and this module decodes
//! the part it needs: `filter_metadata[filter][key]`, a `google.protobuf`
//! `Value`, as JSON. Envoy's `jwt_authn` stores the verified JWT payload
//! there (`payload_in_metadata`), where no client can write.
//!
//! The decoder takes untrusted-shaped bytes: it never panics, stops at
//! [`MAX_DEPTH`] nesting levels and touches each byte a bounded number of
//! times.

use serde_json::{Map, Number, Value};

/// Deepest nesting of messages decoded (each JSON level is a `Value` and a
/// `Struct` or `ListValue`, two messages); deeper input is refused.
pub const MAX_DEPTH: usize = 32;

/// `filter_metadata[filter][key]` of a serialized `Metadata` message, as
/// JSON; `None` when it is absent or the bytes are not such a message.
pub fn filter_value(metadata: &[u8], filter: &str, key: &str) -> Option<Value> {
    let mut found = None;
    // `filter_metadata` is field 1, a map<string, Struct>; a repeated entry
    // for the same filter is merged, later fields winning, as protobuf does.
    for field in Fields::new(metadata) {
        let (number, wire) = field.ok()?;
        if let (1, Wire::Bytes(entry)) = (number, wire) {
            let (name, value) = map_entry(entry)?;
            if name == filter.as_bytes() {
                if let Some(v) = struct_field(value, key, 0)? {
                    found = Some(v);
                }
            }
        }
    }
    found
}

/// The value of `key` in a serialized `Struct`, if present.
fn struct_field(bytes: &[u8], key: &str, depth: usize) -> Option<Option<Value>> {
    let mut found = None;
    for field in Fields::new(bytes) {
        if let (1, Wire::Bytes(entry)) = field.ok()? {
            let (name, value) = map_entry(entry)?;
            if name == key.as_bytes() {
                found = Some(value_of(value, depth + 1)?);
            }
        }
    }
    Some(found)
}

fn struct_of(bytes: &[u8], depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out = Map::new();
    for field in Fields::new(bytes) {
        if let (1, Wire::Bytes(entry)) = field.ok()? {
            let (name, value) = map_entry(entry)?;
            let name = std::str::from_utf8(name).ok()?;
            out.insert(name.to_string(), value_of(value, depth + 1)?);
        }
    }
    Some(Value::Object(out))
}

/// A `google.protobuf.Value`: its last set `kind` wins (oneof semantics);
/// none set is `null`.
fn value_of(bytes: &[u8], depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out = Value::Null;
    for field in Fields::new(bytes) {
        out = match field.ok()? {
            (1, Wire::Varint(_)) => Value::Null,
            (2, Wire::Fixed64(bits)) => number(f64::from_bits(bits)),
            (3, Wire::Bytes(s)) => Value::String(std::str::from_utf8(s).ok()?.to_string()),
            (4, Wire::Varint(b)) => Value::Bool(b != 0),
            (5, Wire::Bytes(s)) => struct_of(s, depth + 1)?,
            (6, Wire::Bytes(l)) => list_of(l, depth + 1)?,
            (1..=6, _) => return None,
            _ => continue,
        };
    }
    Some(out)
}

fn list_of(bytes: &[u8], depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out = Vec::new();
    for field in Fields::new(bytes) {
        if let (1, Wire::Bytes(v)) = field.ok()? {
            out.push(value_of(v, depth + 1)?);
        }
    }
    Some(Value::Array(out))
}

/// Struct values are doubles; JSON claims like `exp` or a numeric `sub`
/// were integers, and must read back as `42`, not `42.0`.
fn number(f: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if f.fract() == 0.0 && f.abs() <= EXACT {
        return Value::Number(Number::from(f as i64));
    }
    Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// A map entry message: key (field 1) and value (field 2), each defaulting
/// to empty.
fn map_entry(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (mut key, mut value): (&[u8], &[u8]) = (&[], &[]);
    for field in Fields::new(bytes) {
        match field.ok()? {
            (1, Wire::Bytes(k)) => key = k,
            (2, Wire::Bytes(v)) => value = v,
            (1 | 2, _) => return None,
            _ => {}
        }
    }
    Some((key, value))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// The fields of one message, in order; an `Err` ends the iteration.
struct Fields<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Fields<'a> {
        Fields { rest: bytes, failed: false }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut out: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self.rest.split_first()?;
            self.rest = rest;
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(out);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(head)
    }

    fn field(&mut self) -> Option<(u64, Wire<'a>)> {
        let tag = self.varint()?;
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            2 => {
                let n = usize::try_from(self.varint()?).ok()?;
                Wire::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            // Groups (3, 4) are not used by these messages; 6, 7 are invalid.
            _ => return None,
        };
        Some((tag >> 3, wire))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match self.field() {
            Some(f) => Some(Ok(f)),
            None => {
                self.failed = true;
                Some(Err(()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    // A small encoder for the tests: the inverse of the decoder above.
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn bytes_field(n: u64, b: &[u8], out: &mut Vec<u8>) {
        varint(n << 3 | 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        bytes_field(1, k.as_bytes(), &mut e);
        bytes_field(2, v, &mut e);
        e
    }
    fn enc_struct(o: &Map<String, Value>) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in o {
            bytes_field(1, &entry(k, &enc_value(v)), &mut out);
        }
        out
    }
    fn enc_value(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        match v {
            Value::Null => out.extend([8, 0]),
            Value::Bool(b) => out.extend([32, *b as u8]),
            Value::Number(n) => {
                out.push(17);
                out.extend(n.as_f64().unwrap().to_le_bytes());
            }
            Value::String(s) => bytes_field(3, s.as_bytes(), &mut out),
            Value::Object(o) => bytes_field(5, &enc_struct(o), &mut out),
            Value::Array(a) => {
                let mut l = Vec::new();
                for x in a {
                    bytes_field(1, &enc_value(x), &mut l);
                }
                bytes_field(6, &l, &mut out);
            }
        }
        out
    }
    fn metadata(filter: &str, fields: Value) -> Vec<u8> {
        let mut out = Vec::new();
        bytes_field(1, &entry(filter, &enc_struct(fields.as_object().unwrap())), &mut out);
        out
    }

    const JWT: &str = "envoy.filters.http.jwt_authn";

    /// Bytes Envoy 1.40 returned for `metadata` after jwt_authn verified
    /// {"sub":"support-bot","n":42,"f":1.5,"b":true,"nul":null,
    ///  "nested":{"task":"triage","deep":{"x":"y"}},"list":["a","b"],...}
    /// (host-tests/envoy/test_tools.py exercises the live path).
    fn envoy_sample() -> Vec<u8> {
        let mut s = vec![10, 142, 2, 10, 28];
        s.extend(JWT.as_bytes());
        s.extend([18, 237, 1, 10, 234, 1, 10, 8]);
        s.extend(b"ward_jwt");
        s.extend([
            18, 221, 1, 42, 218, 1, 10, 52, 10, 6, 110, 101, 115, 116, 101, 100, 18, 42, 42, 40, 10, 20, 10, 4, 100, 101, 101, 112, 18, 12, 42, 10, 10, 8, 10, 1, 120, 18, 3, 26, 1, 121, 10,
            16, 10, 4, 116, 97, 115, 107, 18, 8, 26, 6, 116, 114, 105, 97, 103, 101, 10, 9, 10, 3, 110, 117, 108, 18, 2, 8, 0, 10, 7, 10, 1, 98, 18, 2, 32, 1, 10, 16, 10, 3, 101, 120, 112, 18, 9,
            17, 0, 0, 192, 67, 144, 192, 218, 65, 10, 14, 10, 1, 110, 18, 9, 17, 0, 0, 0, 0, 0, 0, 69, 64, 10, 18, 10, 3, 97, 117, 100, 18, 11, 26, 9, 119, 97, 114, 100, 45, 116, 101, 115, 116,
            10, 28, 10, 3, 105, 115, 115, 18, 21, 26, 19, 104, 116, 116, 112, 115, 58, 47, 47, 105, 115, 115, 117, 101, 114, 46, 116, 101, 115, 116, 10, 14, 10, 1, 102, 18, 9, 17, 0, 0, 0, 0, 0,
            0, 248, 63, 10, 20, 10, 3, 115, 117, 98, 18, 13, 26, 11, 115, 117, 112, 112, 111, 114, 116, 45, 98, 111, 116, 10, 20, 10, 4, 108, 105, 115, 116, 18, 12, 50, 10, 10, 3, 26, 1, 97, 10,
            3, 26, 1, 98,
        ]);
        s
    }

    #[test]
    fn decodes_what_envoy_sent() {
        let v = filter_value(&envoy_sample(), JWT, "ward_jwt").unwrap();
        assert_eq!(v["sub"], json!("support-bot"));
        assert_eq!(v["n"], json!(42));
        assert_eq!(v["n"].to_string(), "42", "integers stay integers");
        assert_eq!(v["f"], json!(1.5));
        assert_eq!((v["b"].clone(), v["nul"].clone()), (json!(true), Value::Null));
        assert_eq!(v["nested"], json!({"task": "triage", "deep": {"x": "y"}}));
        assert_eq!(v["list"], json!(["a", "b"]));
        assert_eq!(v["aud"], json!("ward-test"));
        assert!(v["exp"].is_u64());
        assert_eq!(filter_value(&envoy_sample(), JWT, "other"), None);
        assert_eq!(filter_value(&envoy_sample(), "envoy.filters.http.other", "ward_jwt"), None);
        assert_eq!(filter_value(&[], JWT, "ward_jwt"), None);
    }

    #[test]
    fn refuses_truncated_and_too_deep_input() {
        let sample = envoy_sample();
        for cut in 0..sample.len() {
            assert_eq!(filter_value(&sample[..cut], JWT, "ward_jwt"), None, "cut at {cut}");
        }
        let mut deep = json!("leaf");
        for _ in 0..MAX_DEPTH {
            deep = json!({ "d": deep });
        }
        assert_eq!(filter_value(&metadata(JWT, json!({ "p": deep })), JWT, "p"), None);
        let shallow = json!({"p": {"d": {"d": "leaf"}}});
        assert_eq!(filter_value(&metadata(JWT, shallow.clone()), JWT, "p"), Some(shallow["p"].clone()));
    }

    #[test]
    fn skips_unknown_fields_and_other_filters() {
        let mut m = metadata("envoy.filters.http.other", json!({"ward_jwt": {"sub": "intruder"}}));
        // typed_filter_metadata (field 2) and an unknown varint field.
        bytes_field(2, &entry(JWT, b"\x0a\x00"), &mut m);
        m.extend([0x98, 0x06, 0x01]);
        assert_eq!(filter_value(&m, JWT, "ward_jwt"), None);
        m.extend(metadata(JWT, json!({"ward_jwt": {"sub": "support-bot"}})));
        assert_eq!(filter_value(&m, JWT, "ward_jwt"), Some(json!({"sub": "support-bot"})));
        // A later entry for the same filter and key replaces the earlier one.
        m.extend(metadata(JWT, json!({"ward_jwt": {"sub": "second"}})));
        assert_eq!(filter_value(&m, JWT, "ward_jwt"), Some(json!({"sub": "second"})));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-1_000_000i64..1_000_000).prop_map(|n| json!(n)),
            (-1e6f64..1e6).prop_map(|f| json!(f + 0.5)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array), prop::collection::btree_map("[a-z.]{0,6}", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),]
        })
    }

    proptest! {
        #[test]
        fn round_trips(v in json_value()) {
            let m = metadata(JWT, json!({"k": v}));
            prop_assert_eq!(filter_value(&m, JWT, "k"), Some(v));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = filter_value(&bytes, JWT, "ward_jwt");
            let mut framed = Vec::new();
            bytes_field(1, &bytes, &mut framed);
            let _ = filter_value(&framed, JWT, "ward_jwt");
        }
    }
}
