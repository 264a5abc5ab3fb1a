//! Just enough HTTP/1.1 for the collector: one request after another on a
//! connection, bodies framed by Content-Length or chunked encoding, and
//! every size bounded, so a broken or hostile client costs a 4xx, not memory.
//!
//! Small general-purpose HTTP servers read header lines without bound;
//! the collector's only client is the filter, so this reader stays small
//! and strict instead.

use std::io::{self, BufRead, Read, Write};

pub struct Limits {
    /// Request line plus headers, in bytes.
    pub max_head: usize,
    pub max_headers: usize,
    pub max_body: usize,
}

#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub body: Vec<u8>,
    /// The client asked to close after this request (or spoke HTTP/1.0).
    pub close: bool,
}

#[derive(Debug)]
pub enum Error {
    /// The peer closed the connection between requests.
    Closed,
    /// A request this server refuses, with the status to answer.
    Refused(u16, String),
    /// The connection failed, timed out or ended mid-request.
    Io,
}

impl From<io::Error> for Error {
    fn from(_: io::Error) -> Error {
        Error::Io
    }
}

fn refuse<T>(status: u16, why: impl Into<String>) -> Result<T, Error> {
    Err(Error::Refused(status, why.into()))
}

/// Reads one line of at most `budget` bytes, CRLF or LF ended, without the
/// ending. `None` at a clean end of stream.
fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> Result<Option<String>, Error> {
    let mut buf = Vec::new();
    let n = r.take(*budget as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return refuse(431, "request head too large");
    }
    *budget -= n;
    if buf.pop() != Some(b'\n') {
        return Err(Error::Io);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    match String::from_utf8(buf) {
        Ok(s) => Ok(Some(s)),
        Err(_) => refuse(400, "request head is not UTF-8"),
    }
}

/// Reads the next request. `w` receives `100 Continue` when the client
/// waits for it before sending its body.
pub fn read_request<R: BufRead, W: Write>(r: &mut R, w: &mut W, limits: &Limits) -> Result<Request, Error> {
    let mut budget = limits.max_head;
    // RFC 9112 §2.2: ignore empty lines before the request line.
    let line = loop {
        match read_line(r, &mut budget)? {
            None => return Err(Error::Closed),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return refuse(400, "malformed request line");
    };
    let mut close = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return refuse(505, "only HTTP/1.1 and HTTP/1.0 are spoken here"),
    };
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    let mut count = 0;
    loop {
        let Some(h) = read_line(r, &mut budget)? else {
            return Err(Error::Io);
        };
        if h.is_empty() {
            break;
        }
        count += 1;
        if count > limits.max_headers {
            return refuse(431, "too many headers");
        }
        let Some((name, value)) = h.split_once(':') else {
            return refuse(400, "malformed header line");
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return refuse(400, "malformed header name");
        }
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {
                let n: usize = match value.parse() {
                    Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => n,
                    _ => return refuse(400, "bad Content-Length"),
                };
                if content_length.is_some_and(|m| m != n) {
                    return refuse(400, "conflicting Content-Length headers");
                }
                content_length = Some(n);
            }
            "transfer-encoding" => {
                if !value.eq_ignore_ascii_case("chunked") {
                    return refuse(400, "only chunked transfer encoding is accepted");
                }
                chunked = true;
            }
            "connection" => {
                if value.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")) {
                    close = true;
                } else if value.split(',').any(|t| t.trim().eq_ignore_ascii_case("keep-alive")) {
                    close = false;
                }
            }
            "expect" => {
                if !value.eq_ignore_ascii_case("100-continue") {
                    return refuse(417, "unsupported expectation");
                }
                expect_continue = true;
            }
            _ => {}
        }
    }
    if chunked && content_length.is_some() {
        return refuse(400, "both Content-Length and Transfer-Encoding");
    }
    let takes_body = !matches!(method, "GET" | "HEAD" | "DELETE" | "OPTIONS");
    if takes_body && !chunked && content_length.is_none() {
        return refuse(411, "a body needs Content-Length (or chunked encoding)");
    }
    if content_length.is_some_and(|n| n > limits.max_body) {
        return refuse(413, format!("body over the {}-byte limit", limits.max_body));
    }
    if expect_continue && (chunked || content_length.unwrap_or(0) > 0) {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        w.flush()?;
    }
    let body = if chunked {
        read_chunked(r, limits.max_body)?
    } else {
        let n = content_length.unwrap_or(0);
        let mut body = vec![0; n];
        r.read_exact(&mut body)?;
        body
    };
    Ok(Request { method: method.to_string(), target: target.to_string(), body, close })
}

fn read_chunked<R: BufRead>(r: &mut R, max_body: usize) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    loop {
        let mut budget = 1024;
        let Some(line) = read_line(r, &mut budget)? else {
            return Err(Error::Io);
        };
        let size_text = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return refuse(400, "bad chunk size");
        };
        if size == 0 {
            // Trailers, up to the empty line; their content is not used.
            let mut budget = 8192;
            loop {
                match read_line(r, &mut budget)? {
                    Some(l) if l.is_empty() => return Ok(body),
                    Some(_) => continue,
                    None => return Err(Error::Io),
                }
            }
        }
        if body.len().saturating_add(size) > max_body {
            return refuse(413, format!("body over the {max_body}-byte limit"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return refuse(400, "chunk not followed by CRLF");
        }
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

pub fn write_response<W: Write>(w: &mut W, status: u16, body: &str, close: bool) -> io::Result<()> {
    let connection = if close { "close" } else { "keep-alive" };
    write!(
        w,
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: {connection}\r\n\r\n{body}",
        reason(status),
        body.len()
    )?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { max_head: 512, max_headers: 8, max_body: 64 }
    }

    fn read(raw: &[u8]) -> (Result<Request, Error>, Vec<u8>) {
        let mut out = Vec::new();
        let r = read_request(&mut io::BufReader::new(raw), &mut out, &limits());
        (r, out)
    }

    fn status(raw: &[u8]) -> u16 {
        match read(raw).0 {
            Err(Error::Refused(s, _)) => s,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn content_length_and_keep_alive() {
        let raw = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST";
        let mut r = io::BufReader::new(&raw[..]);
        let req = read_request(&mut r, &mut Vec::new(), &limits()).unwrap();
        assert_eq!((req.method.as_str(), req.target.as_str(), req.body.as_slice(), req.close), ("POST", "/v1/events", &b"hello"[..], false));
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "POST");
    }

    #[test]
    fn chunked_and_continue() {
        let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
        let (req, out) = read(raw);
        let req = req.unwrap();
        assert_eq!(req.body, b"abcde");
        assert!(req.close);
        assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn refusals() {
        assert_eq!(status(b"POST / HTTP/1.1\r\n\r\n"), 411);
        assert_eq!(status(b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n"), 413);
        assert_eq!(status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n"), 413);
        assert_eq!(status(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400);
        assert_eq!(status(b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n"), 400);
        assert_eq!(status(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
        assert_eq!(status(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/2\r\n\r\n"), 505);
        assert_eq!(status(b"GET /  HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\n folded\r\n\r\n"), 400);
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(600));
        assert_eq!(status(long.as_bytes()), 431);
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(9));
        assert_eq!(status(many.as_bytes()), 431);
    }

    #[test]
    fn end_of_stream() {
        assert!(matches!(read(b"").0, Err(Error::Closed)));
        assert!(matches!(read(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc").0, Err(Error::Io)));
        assert!(matches!(read(b"GET / HTT").0, Err(Error::Io)));
    }
}
