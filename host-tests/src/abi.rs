//! The proxy-wasm ABI (0.2.1) as the host sees it: status codes, enum
//! values, and the wire form of header maps.

/// What a host call returns to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    BadArgument = 2,
    SerializationFailure = 3,
    ParseFailure = 4,
    Empty = 7,
    CasMismatch = 8,
    InternalFailure = 10,
    Unimplemented = 12,
}

impl Status {
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// Result of a host call before it is turned into a status code.
pub type HostResult<T = ()> = Result<T, Status>;

pub fn status_of(r: HostResult) -> u32 {
    match r {
        Ok(()) => Status::Ok.code(),
        Err(s) => s.code(),
    }
}

/// What an `on_*` callback returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

impl Action {
    pub fn from_code(code: u32) -> Action {
        if code == 0 {
            Action::Continue
        } else {
            Action::Pause
        }
    }
}

pub mod buffer {
    pub const HTTP_REQUEST_BODY: u32 = 0;
    pub const HTTP_RESPONSE_BODY: u32 = 1;
    pub const HTTP_CALL_RESPONSE_BODY: u32 = 4;
    pub const VM_CONFIGURATION: u32 = 6;
    pub const PLUGIN_CONFIGURATION: u32 = 7;
}

pub mod map {
    pub const HTTP_REQUEST_HEADERS: u32 = 0;
    pub const HTTP_REQUEST_TRAILERS: u32 = 1;
    pub const HTTP_RESPONSE_HEADERS: u32 = 2;
    pub const HTTP_RESPONSE_TRAILERS: u32 = 3;
    pub const HTTP_CALL_RESPONSE_HEADERS: u32 = 6;
    pub const HTTP_CALL_RESPONSE_TRAILERS: u32 = 7;
}

pub mod stream {
    pub const HTTP_REQUEST: u32 = 0;
    pub const HTTP_RESPONSE: u32 = 1;
}

pub mod metric {
    pub const COUNTER: u32 = 0;
    pub const GAUGE: u32 = 1;
    pub const HISTOGRAM: u32 = 2;
}

/// A header map: ordered, names lower-case (as Envoy hands them over).
pub type Headers = Vec<(String, String)>;

/// Serialises a header map: a u32 count, then a (name length, value
/// length) u32 pair per entry, then each name and value NUL-terminated.
pub fn encode_map(map: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + map.iter().map(|(k, v)| 10 + k.len() + v.len()).sum::<usize>());
    out.extend_from_slice(&(map.len() as u32).to_le_bytes());
    for (k, v) in map {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in map {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// Reads a map the guest serialised; `None` when the bytes do not hold one.
pub fn decode_map(bytes: &[u8]) -> Option<Headers> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let word = |at: usize| -> Option<usize> { Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize) };
    let count = word(0)?;
    let mut lens = Vec::with_capacity(count.min(1024));
    for n in 0..count {
        lens.push((word(4 + n * 8)?, word(8 + n * 8)?));
    }
    let mut at = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut out = Vec::with_capacity(lens.len());
    for (klen, vlen) in lens {
        let key = bytes.get(at..at.checked_add(klen)?)?;
        at += klen + 1;
        let value = bytes.get(at..at.checked_add(vlen)?)?;
        at += vlen + 1;
        out.push((String::from_utf8_lossy(key).into_owned(), String::from_utf8_lossy(value).into_owned()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip() {
        let m: Headers = vec![(":path".into(), "/v1/x".into()), ("a".into(), "".into())];
        assert_eq!(decode_map(&encode_map(&m)), Some(m));
        assert_eq!(decode_map(&[9, 0, 0, 0, 1]), None);
    }
}
