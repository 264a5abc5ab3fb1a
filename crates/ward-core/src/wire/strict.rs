//! Reading a body so that no upstream can read it differently.
//!
//! Ward judges the body it parsed; the upstream acts on the body it parses.
//! Where JSON parsers disagree, an attacker can show Ward one message and
//! the model another: serde_json keeps the last of two equal keys, other
//! parsers keep the first; case-insensitive decoders (Go's `encoding/json`)
//! treat `"Content"` and `"content"` as one field; JavaScript and Python
//! accept a lone UTF-16 surrogate in a `\u` escape that serde_json refuses;
//! a lenient reader may decode invalid UTF-8 where Ward would not. Such a
//! body is ambiguous, and Ward refuses it rather than guessing.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Deepest nesting of arrays and objects accepted. Real API bodies stay
/// far below it (a tool schema nests a dozen levels); serde_json's own
/// recursion limit (128) is a crash guard, not a policy.
pub const MAX_DEPTH: usize = 64;

/// Why a body was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON at all (syntax, trailing bytes, out-of-range numbers):
    /// the policy's `on_malformed` decides.
    Invalid(String),
    /// JSON that parsers read differently: always refused.
    Ambiguous(String),
}

/// Parses `body` as JSON, refusing what another parser could read
/// differently: invalid UTF-8, lone surrogate escapes, nesting deeper than
/// [`MAX_DEPTH`], and objects with two keys that are equal or equal but
/// for case.
pub fn parse(body: &[u8]) -> Result<Value, ParseError> {
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            // JSON with a stray byte may be read by a lenient upstream (as
            // Latin-1, or with U+FFFD); bytes that never looked like JSON
            // (an undeclared gzip body) are simply not JSON.
            let json_like = matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['));
            let why = format!("body is not valid UTF-8 (byte {})", e.valid_up_to());
            return Err(if json_like { ParseError::Ambiguous(why) } else { ParseError::Invalid(why) });
        }
    };
    prescan(body)?;
    let found = RefCell::new(None);
    // From the checked text: serde_json then does not check every string's
    // UTF-8 a second time.
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict { found: &found }.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match value {
        Ok(v) => Ok(v),
        Err(e) => match found.into_inner() {
            Some(why) => Err(ParseError::Ambiguous(format!("{why} (line {}, column {})", e.line(), e.column()))),
            None => Err(ParseError::Invalid(e.to_string())),
        },
    }
}

/// One pass over the bytes for what serde_json would report as a plain
/// syntax error (or not at all): lone surrogates and nesting depth.
fn prescan(body: &[u8]) -> Result<(), ParseError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0;
    while i < body.len() {
        if in_string {
            // Only a quote or a backslash means anything inside a string,
            // and strings are most of a body: jump to the next one.
            match memchr::memchr2(b'"', b'\\', &body[i..]) {
                Some(skip) => i += skip,
                None => break,
            }
        }
        let b = body[i];
        if in_string {
            match b {
                b'"' => in_string = false,
                b'\\' if body.get(i + 1) == Some(&b'u') => {
                    if let Some(unit) = hex4(body, i + 2) {
                        if (0xD800..0xDC00).contains(&unit) {
                            let low = (body.get(i + 6) == Some(&b'\\') && body.get(i + 7) == Some(&b'u')).then(|| hex4(body, i + 8)).flatten();
                            if !low.is_some_and(|l| (0xDC00..0xE000).contains(&l)) {
                                return Err(lone_surrogate(unit, i));
                            }
                            i += 12;
                            continue;
                        }
                        if (0xDC00..0xE000).contains(&unit) {
                            return Err(lone_surrogate(unit, i));
                        }
                    }
                    i += 2;
                    continue;
                }
                b'\\' => {
                    i += 2;
                    continue;
                }
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(ParseError::Ambiguous(format!("JSON nests deeper than {MAX_DEPTH} levels")));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        i += 1;
    }
    Ok(())
}

fn hex4(body: &[u8], at: usize) -> Option<u32> {
    let digits = body.get(at..at + 4)?;
    digits.iter().try_fold(0u32, |n, &d| Some(n << 4 | (d as char).to_digit(16)?))
}

fn lone_surrogate(unit: u32, at: usize) -> ParseError {
    ParseError::Ambiguous(format!("lone UTF-16 surrogate \\u{unit:04x} in a string escape (byte {at})"))
}

/// The form under which case-insensitive decoders match a key: Unicode
/// lower case, with the long s folded as Go's `EqualFold` does (the Kelvin
/// sign already lower-cases to `k`).
pub(crate) fn fold(key: &str) -> String {
    folded(key).into_owned()
}

/// [`fold`] without a copy for the usual key, already in folded form.
fn folded(key: &str) -> Cow<'_, str> {
    if key.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return Cow::Borrowed(key);
    }
    Cow::Owned(key.to_lowercase().replace('ſ', "s"))
}

/// Builds a `Value` like serde_json does, but stops at a repeated key.
#[derive(Clone, Copy)]
struct Strict<'a> {
    found: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        // The folded forms of the keys read so far that are not their own
        // folded form (rare); the others are keys of `out` already. Every
        // body pays this per key, so no hashing and no copy of a plain key.
        let mut unfolded: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let folded = folded(&key);
            let seen = out.contains_key(folded.as_ref()) || unfolded.contains(folded.as_ref());
            if let Cow::Owned(f) = folded {
                unfolded.insert(f);
            }
            if seen {
                let why = if out.contains_key(&key) {
                    format!("duplicate key `{key}`: parsers differ on which copy they read")
                } else {
                    format!("keys that differ only in case (`{key}`): case-insensitive parsers read them as one")
                };
                *self.found.borrow_mut() = Some(why.clone());
                return Err(serde::de::Error::custom(why));
            }
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ambiguous(body: &str) -> String {
        match parse(body.as_bytes()) {
            Err(ParseError::Ambiguous(why)) => why,
            other => panic!("{body}: expected ambiguous, got {other:?}"),
        }
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let body = r#"{"a": [1, -2, 3.5, "x\u00e9\ud83d\ude00", true, null, {"b": {}}], "A_b": 1e3}"#;
        assert_eq!(parse(body.as_bytes()).unwrap(), serde_json::from_str::<Value>(body).unwrap());
    }

    #[test]
    fn duplicate_keys_are_ambiguous_at_any_depth() {
        assert!(ambiguous(r#"{"role": "user", "role": "system"}"#).contains("duplicate key `role`"));
        assert!(ambiguous(r#"{"messages": [{"content": "hi", "x": 1, "content": "other"}]}"#).contains("`content`"));
        assert!(ambiguous(r#"{"content": "a", "Content": "b"}"#).contains("differ only in case"));
        assert!(ambiguous(r#"{"mesſages": [], "messages": []}"#).contains("differ only in case"));
        // Equal keys in different objects are fine.
        assert!(parse(br#"{"a": {"k": 1}, "b": {"k": 2}, "k": 3}"#).is_ok());
    }

    #[test]
    fn lone_surrogates_are_ambiguous_and_pairs_are_fine() {
        assert!(ambiguous(r#"{"t": "a\ud800b"}"#).contains("\\ud800"));
        assert!(ambiguous(r#"{"t": "\udc00"}"#).contains("\\udc00"));
        assert!(ambiguous(r#"{"t": "\ud800\u0041"}"#).contains("surrogate"));
        assert!(ambiguous(r#"{"t": "\uD83D"}"#).contains("surrogate"));
        assert_eq!(parse(br#"{"t": "\ud83d\ude00 \\ud800"}"#).unwrap()["t"], "\u{1F600} \\ud800");
    }

    #[test]
    fn depth_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(ambiguous(&deep).contains("deeper"));
        // Brackets inside strings do not count.
        let quoted = format!("{{\"t\": \"{}\"}}", "[{".repeat(500));
        assert!(parse(quoted.as_bytes()).is_ok());
    }

    #[test]
    fn invalid_utf8_is_ambiguous_and_bad_syntax_is_invalid() {
        assert!(ambiguous_bytes(b"{\"t\": \"caf\xe9\"}").contains("UTF-8"));
        assert!(matches!(parse(b"\x1f\x8b\x08\x00\xff"), Err(ParseError::Invalid(_))));
        assert!(matches!(parse(b"{\"t\": 1,}"), Err(ParseError::Invalid(_))));
        assert!(matches!(parse(b"{\"t\": 1} trailing"), Err(ParseError::Invalid(_))));
        assert!(matches!(parse("\u{feff}{}".as_bytes()), Err(ParseError::Invalid(_))));
        assert!(matches!(parse(b"{\"t\": NaN}"), Err(ParseError::Invalid(_))));
    }

    /// The byte-by-byte prescan the jumping one replaced, kept as the
    /// reference it must agree with.
    fn prescan_bytewise(body: &[u8]) -> Result<(), ParseError> {
        let mut depth = 0usize;
        let mut in_string = false;
        let mut i = 0;
        while i < body.len() {
            let b = body[i];
            if in_string {
                match b {
                    b'"' => in_string = false,
                    b'\\' if body.get(i + 1) == Some(&b'u') => {
                        if let Some(unit) = hex4(body, i + 2) {
                            if (0xD800..0xDC00).contains(&unit) {
                                let low = (body.get(i + 6) == Some(&b'\\') && body.get(i + 7) == Some(&b'u')).then(|| hex4(body, i + 8)).flatten();
                                if !low.is_some_and(|l| (0xDC00..0xE000).contains(&l)) {
                                    return Err(lone_surrogate(unit, i));
                                }
                                i += 12;
                                continue;
                            }
                            if (0xDC00..0xE000).contains(&unit) {
                                return Err(lone_surrogate(unit, i));
                            }
                        }
                        i += 2;
                        continue;
                    }
                    b'\\' => {
                        i += 2;
                        continue;
                    }
                    _ => {}
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Err(ParseError::Ambiguous(format!("JSON nests deeper than {MAX_DEPTH} levels")));
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// Same verdict and message as the byte-by-byte scan on bodies made of
    /// the bytes that matter to it (quotes, escapes, surrogate halves,
    /// brackets) mixed with plain text, in every length up to a few hundred.
    #[test]
    fn the_jumping_prescan_agrees_with_the_bytewise_one() {
        const PIECES: [&str; 18] =
            ["\"", "\\", "\\u", "d83d", "de00", "D800", "dc00", "0041", "u", "[", "]", "{", "}", "abc ", "é", "x", "\\\"", "["];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for round in 0..20_000 {
            let mut body = String::new();
            let deep = round % 7 == 0;
            for _ in 0..next(if deep { 300 } else { 40 }) {
                body.push_str(if deep && next(2) == 0 { "[" } else { PIECES[next(PIECES.len())] });
            }
            assert_eq!(prescan(body.as_bytes()), prescan_bytewise(body.as_bytes()), "{body:?}");
        }
    }

    fn ambiguous_bytes(body: &[u8]) -> String {
        match parse(body) {
            Err(ParseError::Ambiguous(why)) => why,
            other => panic!("expected ambiguous, got {other:?}"),
        }
    }
}
