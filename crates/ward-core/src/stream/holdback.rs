//! "Could a match still start here?" Helpers the detectors use to answer
//! it for a stream (their `pending_from`), so a stream holds back only the
//! tail that more text could still turn into a finding.
//!
//! The answers are conservative: they may report a candidate as open when
//! no continuation would complete it (costing a little latency), never the
//! other way round (which would let a secret's first bytes through).

/// The bytes a match of a pattern can contain: the union of every literal,
/// class and escape in its source. A pattern with `.`, a negated class or
/// `\S`/`\W`/`\D` can contain (almost) anything and counts as `any`.
#[derive(Clone, Debug)]
pub struct Alphabet {
    bytes: [bool; 256],
    any: bool,
}

impl Alphabet {
    pub fn any() -> Alphabet {
        Alphabet { bytes: [true; 256], any: true }
    }

    /// Reads a regex source (the regex-lite syntax the detectors use).
    /// Anything it does not understand makes the alphabet `any`.
    pub fn of_pattern(pattern: &str) -> Alphabet {
        let mut a = Alphabet { bytes: [false; 256], any: false };
        let p = pattern.as_bytes();
        let nocase = pattern.contains("(?i");
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                b'\\' => {
                    let Some(set) = escape(p.get(i + 1).copied()) else { return Alphabet::any() };
                    a.add_set(&set);
                    i += 2;
                }
                b'[' => {
                    let Some((set, next)) = class(p, i) else { return Alphabet::any() };
                    a.add_set(&set);
                    i = next;
                }
                b'.' => return Alphabet::any(),
                b'(' => {
                    // Group syntax: `(?:`, `(?i:`, `(?P<name>`, `(?<name>`.
                    i += 1;
                    if p.get(i) == Some(&b'?') {
                        while i < p.len() && !matches!(p[i], b':' | b'>' | b')') {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                b'{' => {
                    while i < p.len() && p[i] != b'}' {
                        i += 1;
                    }
                    i += 1;
                }
                b')' | b'|' | b'*' | b'+' | b'?' | b'^' | b'$' => i += 1,
                c => {
                    a.bytes[c as usize] = true;
                    i += 1;
                }
            }
        }
        if nocase {
            for c in b'a'..=b'z' {
                let up = c.to_ascii_uppercase();
                let either = a.bytes[c as usize] || a.bytes[up as usize];
                a.bytes[c as usize] = either;
                a.bytes[up as usize] = either;
            }
        }
        a
    }

    /// Adds the bytes of `s` (a literal such as a keyword).
    pub fn with(mut self, s: &str) -> Alphabet {
        for &b in s.as_bytes() {
            self.bytes[b as usize] = true;
        }
        self
    }

    pub fn is_any(&self) -> bool {
        self.any
    }

    pub fn contains(&self, b: u8) -> bool {
        self.bytes[b as usize]
    }

    fn add_set(&mut self, set: &[bool; 256]) {
        for (dst, src) in self.bytes.iter_mut().zip(set) {
            *dst |= *src;
        }
    }
}

fn set_of(f: impl Fn(u8) -> bool) -> [bool; 256] {
    let mut s = [false; 256];
    for (b, slot) in s.iter_mut().enumerate() {
        *slot = f(b as u8);
    }
    s
}

/// The set an escape outside a class stands for; `None` for the negated
/// shorthands and anything unknown (treated as `any`).
fn escape(c: Option<u8>) -> Option<[bool; 256]> {
    let c = c?;
    Some(match c {
        b'd' => set_of(|b| b.is_ascii_digit()),
        b'w' => set_of(|b| b.is_ascii_alphanumeric() || b == b'_'),
        b's' => set_of(|b| b.is_ascii_whitespace() || b == 0x0b),
        // Assertions match no byte.
        b'b' | b'B' | b'A' | b'z' => [false; 256],
        b'n' => set_of(|b| b == b'\n'),
        b'r' => set_of(|b| b == b'\r'),
        b't' => set_of(|b| b == b'\t'),
        c if c.is_ascii_punctuation() => set_of(|b| b == c),
        _ => return None,
    })
}

/// Parses `[...]` starting at `open`; returns its set and the index after
/// the closing bracket. `None` for negated classes and unknown syntax.
fn class(p: &[u8], open: usize) -> Option<([bool; 256], usize)> {
    let mut i = open + 1;
    if p.get(i) == Some(&b'^') {
        return None;
    }
    let mut set = [false; 256];
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == b']' && !first {
            return Some((set, i + 1));
        }
        first = false;
        if c == b'[' {
            // POSIX classes (`[:alpha:]`) and nesting: not used by the rules.
            return None;
        }
        let (lo, next) = if c == b'\\' {
            let e = *p.get(i + 1)?;
            match e {
                b'd' | b'w' | b's' => {
                    let s = escape(Some(e))?;
                    for (dst, src) in set.iter_mut().zip(s.iter()) {
                        *dst |= *src;
                    }
                    i += 2;
                    continue;
                }
                b'n' => (b'\n', i + 2),
                b'r' => (b'\r', i + 2),
                b't' => (b'\t', i + 2),
                e if e.is_ascii_punctuation() => (e, i + 2),
                _ => return None,
            }
        } else {
            (c, i + 1)
        };
        if p.get(next) == Some(&b'-') && p.get(next + 1).is_some_and(|&h| h != b']') {
            let hi = *p.get(next + 1)?;
            let hi = if hi == b'\\' { *p.get(next + 2)? } else { hi };
            for b in lo..=hi {
                set[b as usize] = true;
            }
            i = next + if p[next + 1] == b'\\' { 3 } else { 2 };
        } else {
            set[lo as usize] = true;
            i = next;
        }
    }
}

/// Whether a candidate whose keyword was hit at `hit` is still open: its
/// rule reads at most `reach` bytes from the hit, and a match can only
/// contain bytes of `alphabet`. Open means more text could create or change
/// a match there.
pub fn open_at_hit(text: &[u8], hit: usize, alphabet: &Alphabet, reach: usize) -> bool {
    let Some(rest) = text.get(hit..) else { return false };
    // `>=`: the byte right after the reach is the edge a rule may check.
    if rest.len() > reach {
        return false;
    }
    alphabet.is_any() || rest.iter().all(|&b| alphabet.contains(b))
}

/// How many bytes at the end of `text` are a proper prefix of `keyword`
/// (the keyword may still be completed by the next event); 0 when none.
pub fn partial_at_end(text: &[u8], keyword: &[u8], nocase: bool) -> usize {
    let longest = keyword.len().saturating_sub(1).min(text.len());
    let Some(&last) = text.last() else { return 0 };
    let same = |a: &[u8], b: &[u8]| if nocase { a.eq_ignore_ascii_case(b) } else { a == b };
    // Called for every keyword after every event: a prefix can only end
    // where the keyword holds the text's last byte, so only those compare.
    (1..=longest)
        .rev()
        .filter(|&n| same(&keyword[n - 1..n], std::slice::from_ref(&last)))
        .find(|&n| same(&text[text.len() - n..], &keyword[..n]))
        .unwrap_or(0)
}

/// Keywords a text may end inside of (the next event may complete them),
/// looked up by the text's last byte: after every event a stream asks
/// this of every keyword, and comparing each one's prefixes costs more
/// than the rest of the hold-back question.
#[derive(Clone, Debug)]
pub struct KeywordEnds {
    /// (keyword, ASCII case-insensitive, bytes a match may begin before it).
    keywords: Vec<(&'static [u8], bool, usize)>,
    /// For each byte, the (keyword, n) whose proper prefix of n bytes ends
    /// in that byte.
    by_last: Vec<Vec<(u32, u32)>>,
}

impl KeywordEnds {
    pub fn new(keywords: impl IntoIterator<Item = (&'static str, bool, usize)>) -> KeywordEnds {
        let keywords: Vec<(&'static [u8], bool, usize)> = keywords.into_iter().map(|(k, nocase, before)| (k.as_bytes(), nocase, before)).collect();
        let mut by_last = vec![Vec::new(); 256];
        for (i, &(k, nocase, _)) in keywords.iter().enumerate() {
            for n in 1..k.len() {
                let c = k[n - 1];
                let entry = (i as u32, n as u32);
                if nocase && c.is_ascii_alphabetic() {
                    by_last[usize::from(c.to_ascii_lowercase())].push(entry);
                    by_last[usize::from(c.to_ascii_uppercase())].push(entry);
                } else {
                    by_last[usize::from(c)].push(entry);
                }
            }
        }
        KeywordEnds { keywords, by_last }
    }

    /// Where a match may begin whose keyword the text ends inside of: the
    /// least `len - n - before` over the keywords (`counts(i)` of them)
    /// whose first `n` bytes end the text, as [`partial_at_end`] finds
    /// them one keyword at a time. `None` when no keyword is cut off.
    pub fn open_from(&self, text: &[u8], counts: impl Fn(usize) -> bool) -> Option<usize> {
        let &last = text.last()?;
        let len = text.len();
        let mut open: Option<usize> = None;
        for &(i, n) in &self.by_last[usize::from(last)] {
            let (i, n) = (i as usize, n as usize);
            let (keyword, nocase, before) = self.keywords[i];
            if n > len || !counts(i) {
                continue;
            }
            let tail = &text[len - n..];
            let same = if nocase { tail.eq_ignore_ascii_case(&keyword[..n]) } else { tail == &keyword[..n] };
            if same {
                let at = (len - n).saturating_sub(before);
                open = Some(open.map_or(at, |o| o.min(at)));
            }
        }
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_of_token_patterns() {
        let a = Alphabet::of_pattern(r"sk-(?:proj-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ");
        for b in b"sk-projAZaz09_T3BlbkFJ".iter() {
            assert!(a.contains(*b), "{}", *b as char);
        }
        assert!(!a.contains(b' ') && !a.contains(b'.') && !a.is_any());
        assert!(Alphabet::of_pattern(r"-----BEGIN[\s\S]*?-----END").contains(b'Q'));
        assert!(Alphabet::of_pattern(r"x[^ ]+").is_any());
        assert!(Alphabet::of_pattern(r"a.b").is_any());
        let ci = Alphabet::of_pattern(r"(?i:secret)=\d");
        assert!(ci.contains(b'S') && ci.contains(b'7') && ci.contains(b'='));
    }

    #[test]
    fn open_until_a_byte_outside_the_alphabet_or_the_reach() {
        let a = Alphabet::of_pattern(r"ghp_[A-Za-z0-9]{36}");
        assert!(open_at_hit(b"see ghp_abc", 4, &a, 40));
        assert!(!open_at_hit(b"see ghp_abc done", 4, &a, 40));
        assert!(!open_at_hit(b"see ghp_abcdefgh", 4, &a, 5));
        assert!(open_at_hit(b"x -----BEGIN anything at all", 2, &Alphabet::any(), 100));
    }

    #[test]
    fn keyword_ends_agree_with_partial_at_end() {
        let keywords = [("sk-", false, 0), ("password", true, 2), ("AKIA", false, 0), ("ss", false, 1), ("x", false, 0)];
        let ends = KeywordEnds::new(keywords);
        let texts = ["", "s", "use the sk", "my PASS", "my passwor", "akia", "xAKI", "ss", "s", "sk-", "PasSwOrD", "é", "tails", "x"];
        for text in texts {
            for mask in 0..32usize {
                let counts = |i: usize| mask & (1 << i) != 0;
                let expected = keywords
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| counts(*i))
                    .filter_map(|(_, &(k, nocase, before))| {
                        let n = partial_at_end(text.as_bytes(), k.as_bytes(), nocase);
                        (n > 0).then(|| (text.len() - n).saturating_sub(before))
                    })
                    .min();
                assert_eq!(ends.open_from(text.as_bytes(), counts), expected, "{text:?} {mask}");
            }
        }
    }

    #[test]
    fn partial_keywords_at_the_end() {
        assert_eq!(partial_at_end(b"use the s", b"sk-", false), 1);
        assert_eq!(partial_at_end(b"use the sk", b"sk-", false), 2);
        assert_eq!(partial_at_end(b"use the sk-", b"sk-", false), 0);
        assert_eq!(partial_at_end(b"my PASS", b"password", true), 4);
        assert_eq!(partial_at_end(b"", b"sk-", false), 0);
    }
}
