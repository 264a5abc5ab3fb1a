//! Server-sent events framing (the WHATWG EventSource rules), incremental:
//! bytes go in as they arrive, complete events come out, and the raw bytes
//! of each event are kept so an unchanged event can be passed on verbatim.

/// One complete event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `event:` field, empty when absent.
    pub name: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
    /// The event's bytes as received, blank-line terminator included.
    pub raw: Vec<u8>,
}

/// Splits a byte stream into events. Lines may end in `\n`, `\r\n` or `\r`.
#[derive(Clone, Debug, Default)]
pub struct Parser {
    /// Bytes of the event being read, not yet complete.
    pending: Vec<u8>,
    /// How far into `pending` lines have been consumed.
    scanned: usize,
    name: String,
    data: Option<String>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Feeds bytes and returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        loop {
            let rest = &self.pending[self.scanned..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else { break };
            let mut line_end = self.scanned + nl + 1;
            if rest[nl] == b'\r' {
                match rest.get(nl + 1) {
                    Some(b'\n') => line_end += 1,
                    // A lone CR at the very end may be the first half of CRLF.
                    None => break,
                    _ => {}
                }
            }
            let line = &self.pending[self.scanned..self.scanned + nl];
            if line.is_empty() {
                let raw: Vec<u8> = self.pending.drain(..line_end).collect();
                self.scanned = 0;
                let name = std::mem::take(&mut self.name);
                let data = self.data.take();
                // An event with no data field is not dispatched, but its
                // bytes (comments, keep-alives) still belong to the stream.
                events.push(Event { name, data: data.unwrap_or_default(), raw });
                continue;
            }
            let line = String::from_utf8_lossy(line).into_owned();
            self.field(&line);
            self.scanned = line_end;
        }
        events
    }

    /// Bytes received that do not yet form a complete event.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    /// Ends the stream: a final event without its blank line still counts
    /// (many servers omit it on the last event).
    pub fn finish(&mut self) -> Option<Event> {
        if self.pending.is_empty() {
            return None;
        }
        let rest = self.pending[self.scanned..].to_vec();
        if !rest.is_empty() {
            self.field(&String::from_utf8_lossy(&rest).into_owned());
        }
        let raw = std::mem::take(&mut self.pending);
        self.scanned = 0;
        Some(Event { name: std::mem::take(&mut self.name), data: self.data.take().unwrap_or_default(), raw })
    }

    fn field(&mut self, line: &str) {
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "event" => self.name = value.to_string(),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_any_split() {
        let stream = b"event: a\ndata: 1\ndata: 2\n\n: keepalive\n\ndata: x\r\n\r\ndata: last";
        for split in 0..=stream.len() {
            let mut p = Parser::new();
            let mut evs = p.push(&stream[..split]);
            evs.extend(p.push(&stream[split..]));
            evs.extend(p.finish());
            let data: Vec<_> = evs.iter().map(|e| e.data.as_str()).collect();
            assert_eq!(data, ["1\n2", "", "x", "last"], "split at {split}");
            assert_eq!(evs[0].name, "a");
            let raw: Vec<u8> = evs.iter().flat_map(|e| e.raw.clone()).collect();
            assert_eq!(raw, stream.to_vec());
        }
    }
}
