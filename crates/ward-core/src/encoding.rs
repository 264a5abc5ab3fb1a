//! `Content-Encoding` bodies: gzip and deflate are decoded before
//! inspection, within a size cap and a compression-ratio cap, so a small
//! compressed body cannot expand into a memory bomb. Everything else is an
//! encoding Ward cannot read.

use std::borrow::Cow;
use std::io::Read;

/// Why a body could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// An encoding Ward does not decode (br, zstd, compress, unknown).
    Unsupported(String),
    /// The decoded body would exceed `limit` bytes, `ratio` times the
    /// encoded size: a decompression bomb.
    Ratio { encoded: usize, limit: usize, ratio: u32 },
    /// The decoded body would exceed the policy's body limit.
    Oversize { limit: usize },
    /// The bytes are not valid for their declared encoding.
    Corrupt { encoding: String, why: String },
}

/// Most encodings a `Content-Encoding` list may stack; more is refused as
/// corrupt rather than decoded layer after layer.
const MAX_LAYERS: usize = 4;

/// The encodings of a header value, outermost last, lower-cased, without
/// `identity`.
fn layers(header: &str) -> Vec<String> {
    header.split(',').map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty() && e != "identity").collect()
}

/// True when the header names no encoding or only ones Ward decodes.
pub fn is_supported(header: &str) -> bool {
    layers(header).iter().all(|e| matches!(e.as_str(), "gzip" | "x-gzip" | "deflate"))
}

/// True when the header names an encoding at all.
pub fn is_encoded(header: &str) -> bool {
    !layers(header).is_empty()
}

/// Decodes `body` as `header` says. The output is at most `max_bytes`
/// and at most `max_ratio` times the encoded size.
pub fn decode<'a>(header: &str, body: &'a [u8], max_bytes: usize, max_ratio: u32) -> Result<Cow<'a, [u8]>, DecodeError> {
    let layers = layers(header);
    if let Some(other) = layers.iter().find(|e| !matches!(e.as_str(), "gzip" | "x-gzip" | "deflate")) {
        return Err(DecodeError::Unsupported(other.clone()));
    }
    if layers.len() > MAX_LAYERS {
        return Err(DecodeError::Corrupt { encoding: header.trim().to_string(), why: format!("more than {MAX_LAYERS} stacked encodings") });
    }
    let ratio_limit = body.len().saturating_mul(max_ratio as usize);
    let cap = ratio_limit.min(max_bytes);
    let mut current: Cow<'a, [u8]> = Cow::Borrowed(body);
    // Encodings apply in the order listed, so they come off in reverse.
    for encoding in layers.iter().rev() {
        let mut out = Vec::new();
        let read = match encoding.as_str() {
            "deflate" => read_deflate(&current, cap, &mut out),
            _ => flate2::read::MultiGzDecoder::new(&current[..]).take(cap as u64 + 1).read_to_end(&mut out),
        };
        if let Err(e) = read {
            return Err(DecodeError::Corrupt { encoding: encoding.clone(), why: e.to_string() });
        }
        if out.len() > cap {
            return Err(if cap == ratio_limit && ratio_limit < max_bytes {
                DecodeError::Ratio { encoded: body.len(), limit: ratio_limit, ratio: max_ratio }
            } else {
                DecodeError::Oversize { limit: max_bytes }
            });
        }
        current = Cow::Owned(out);
    }
    Ok(current)
}

/// HTTP `deflate` is zlib-wrapped (RFC 9110), but some servers send raw
/// deflate; a zlib header decides which.
fn read_deflate(data: &[u8], cap: usize, out: &mut Vec<u8>) -> std::io::Result<usize> {
    let zlib = data.len() >= 2 && data[0] & 0x0f == 8 && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
    if zlib {
        flate2::read::ZlibDecoder::new(data).take(cap as u64 + 1).read_to_end(out)
    } else {
        flate2::read::DeflateDecoder::new(data).take(cap as u64 + 1).read_to_end(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    const TEXT: &[u8] = b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}";

    #[test]
    fn gzip_and_deflate_round_trip() {
        assert_eq!(&*decode("gzip", &gzip(TEXT), 1 << 20, 100).unwrap(), TEXT);
        assert_eq!(&*decode("X-Gzip", &gzip(TEXT), 1 << 20, 100).unwrap(), TEXT);
        assert_eq!(&*decode("deflate", &zlib(TEXT), 1 << 20, 100).unwrap(), TEXT);
        assert_eq!(&*decode("deflate", &raw_deflate(TEXT), 1 << 20, 100).unwrap(), TEXT);
        assert_eq!(&*decode("deflate, gzip", &gzip(&zlib(TEXT)), 1 << 20, 100).unwrap(), TEXT);
        assert_eq!(&*decode("identity", TEXT, 1 << 20, 100).unwrap(), TEXT);
    }

    #[test]
    fn bombs_stop_at_the_ratio() {
        let bomb = gzip(&vec![b'a'; 1 << 20]);
        assert!(bomb.len() * 100 < 1 << 20);
        assert!(matches!(decode("gzip", &bomb, 8 << 20, 100), Err(DecodeError::Ratio { ratio: 100, .. })));
        // A generous ratio still stops at the body limit.
        assert_eq!(decode("gzip", &bomb, 1000, 1_000_000), Err(DecodeError::Oversize { limit: 1000 }));
    }

    #[test]
    fn unknown_and_corrupt_encodings_are_named() {
        assert_eq!(decode("br", TEXT, 1 << 20, 100), Err(DecodeError::Unsupported("br".into())));
        assert_eq!(decode("gzip, zstd", TEXT, 1 << 20, 100), Err(DecodeError::Unsupported("zstd".into())));
        assert!(matches!(decode("gzip", TEXT, 1 << 20, 100), Err(DecodeError::Corrupt { .. })));
        let mut cut = gzip(TEXT);
        cut.truncate(cut.len() / 2);
        assert!(matches!(decode("gzip", &cut, 1 << 20, 100), Err(DecodeError::Corrupt { .. })));
        assert!(matches!(decode("gzip,gzip,gzip,gzip,gzip", TEXT, 1 << 20, 100), Err(DecodeError::Corrupt { .. })));
    }

    #[test]
    fn support_is_judged_per_layer() {
        assert!(is_supported("") && is_supported("gzip") && is_supported("identity, deflate"));
        assert!(!is_supported("br") && !is_supported("gzip, br"));
        assert!(!is_encoded(" identity ") && is_encoded("gzip"));
    }
}
