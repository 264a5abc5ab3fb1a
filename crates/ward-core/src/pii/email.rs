//! E-mail addresses: a local part of `[A-Za-z0-9._%+-]`, `@`, labels of
//! `[A-Za-z0-9-]` joined by single dots, the last of them taken up to its
//! leading letters (at least two): the top-level domain. That is the
//! leftmost-first match of
//! `[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.(?:[A-Za-z]{2,}|xn--[A-Za-z0-9\-]+)`
//! (the `xn--` branch never wins: its first two letters already satisfy
//! the first), walked by hand from each `@` instead of run as a regex over
//! the text around it. As before, only the 64 bytes before an `@` and the
//! 255 after it are read.

use super::marks::{Mark, Marks, NextMark};
use super::{rule, Hit};
use crate::detect;

const LOCAL_BEFORE: usize = 64;
const DOMAIN_AFTER: usize = 255;

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_label(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

pub(super) fn find_all(text: &str, marks: &Marks, hits: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let mut next = NextMark::new(marks, b, Mark::At);
    let mut last_end = 0;
    let mut previous_at: Option<usize> = None;
    let mut i = 0;
    loop {
        let at = next.from(i);
        if at >= b.len() {
            break;
        }
        i = at + 1;
        let earlier_at = previous_at;
        previous_at = Some(at);
        if at < last_end {
            continue;
        }
        let (lo, hi) = detect::window(text, at, at + 1, LOCAL_BEFORE, DOMAIN_AFTER);
        let found = if earlier_at.is_some_and(|p| p >= lo) { through_window(b, lo, hi, at) } else { around(b, lo, hi, at) };
        if let Some(span) = found {
            last_end = span.1;
            hits.push(Hit { span, rule: rule("pii.email") });
        }
    }
}

/// The address whose `@` is at `at` when no other `@` lies in
/// `lo..at`: then no earlier address in the window can end inside this
/// one's local part, which starts where the run of local-part bytes
/// before `at` (or the window) starts.
fn around(b: &[u8], lo: usize, hi: usize, at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > lo && is_local(b[start - 1]) {
        start -= 1;
    }
    if start == at {
        return None;
    }
    domain_end(b, at + 1, hi).map(|end| (start, end))
}

/// The address holding `at` among the successive leftmost matches from
/// `lo`: an earlier address in the window may end inside the local part
/// of this one and so cut it.
fn through_window(b: &[u8], lo: usize, hi: usize, at: usize) -> Option<(usize, usize)> {
    let mut from = lo;
    loop {
        let (start, end) = first_address(b, from, hi)?;
        if start > at {
            return None;
        }
        if at < end {
            return Some((start, end));
        }
        from = end;
    }
}

/// The leftmost address in `from..hi`. Every start inside one run of
/// local-part bytes leads to the same `@` (the byte ending the run) or to
/// none, so runs are tried whole.
fn first_address(b: &[u8], from: usize, hi: usize) -> Option<(usize, usize)> {
    let mut start = from;
    while start < hi {
        if !is_local(b[start]) {
            start += 1;
            continue;
        }
        let mut run_end = start;
        while run_end < hi && is_local(b[run_end]) {
            run_end += 1;
        }
        if run_end < hi && b[run_end] == b'@' {
            if let Some(end) = domain_end(b, run_end + 1, hi) {
                return Some((start, end));
            }
        }
        start = run_end;
    }
    None
}

/// The end of the domain that starts at `from`: labels joined by single
/// dots, the match ending after the leading letters of the last label
/// that has two or more of them (never the first label).
fn domain_end(b: &[u8], from: usize, hi: usize) -> Option<usize> {
    let label_end = |k: usize| (k..hi).find(|&e| !is_label(b[e])).unwrap_or(hi.max(k));
    let mut end = label_end(from);
    if end == from {
        return None;
    }
    let mut found = None;
    while end + 1 < hi && b[end] == b'.' && is_label(b[end + 1]) {
        let label = end + 1;
        let letters = (label..hi).find(|&e| !b[e].is_ascii_alphabetic()).unwrap_or(hi) - label;
        if letters >= 2 {
            found = Some(label + letters);
        }
        end = label_end(label);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<&str> {
        let marks = Marks::of(text.as_bytes());
        let mut hits = Vec::new();
        find_all(text, &marks, &mut hits);
        hits.iter().map(|h| &text[h.span.0..h.span.1]).collect()
    }

    #[test]
    fn addresses_end_after_the_letters_of_the_last_label() {
        assert_eq!(spans("write to jo.doe+x@mail.example.org."), ["jo.doe+x@mail.example.org"]);
        assert_eq!(spans("a@b.co1 and a@b.c and a@b..com and @x.org and a@.org"), ["a@b.co"]);
        assert_eq!(spans("a@host.xn--p1ai.x"), ["a@host.xn"]);
        assert_eq!(spans("a@b.com.x"), ["a@b.com"]);
        assert_eq!(spans("a@b-c.d9.e"), Vec::<&str>::new());
        assert_eq!(spans("é@x.org, ü.a@x.org"), [".a@x.org"]);
    }

    #[test]
    fn the_local_part_is_read_64_bytes_back_and_the_domain_255_on() {
        let long_local = format!("{}@x.org", "a".repeat(100));
        assert_eq!(spans(&long_local), [&long_local[36..]]);
        let long_domain = format!("a@{}.org", "b".repeat(300));
        assert_eq!(spans(&long_domain), Vec::<&str>::new());
        let fits = format!("a@{}.org", "b".repeat(250));
        assert_eq!(spans(&fits), [fits.as_str()]);
    }

    #[test]
    fn an_earlier_address_cuts_the_next_local_part() {
        // The first address ends after `com`; the search for the next one
        // starts there, so its local part is `.x`, not `b.com.x`.
        assert_eq!(spans("a@b.com.x@y.org"), ["a@b.com", ".x@y.org"]);
        // A failed `@` does not cut anything.
        assert_eq!(spans("a@b c.d@y.org"), ["c.d@y.org"]);
        assert_eq!(spans("a@@b.org x@y@z.org"), ["y@z.org"]);
    }
}
