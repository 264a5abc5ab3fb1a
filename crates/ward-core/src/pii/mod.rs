//! Personal-data detection, EU first.
//!
//! No regex runs over a whole body. Cheap byte passes find candidates
//! (an `@`, a digit group run, two capitals followed by two digits, a
//! dotted or colon-separated number) and every candidate is validated
//! before it becomes a finding: check digits where the identifier has one
//! (cards, IBANs, national ids), registered shapes and ranges where it does
//! not (phone numbers, IP addresses). Identifiers whose check is weak (a
//! bare 9-digit SSN, a Dutch BSN, a bare 10-digit NHS number) also need a
//! context word in front of them.

mod compact;
mod email;
mod marks;
pub mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::detect::{self, Actions, Channel, MaskStyle, Severity};
use crate::finding::{Action, DetectorKind, Finding};
use crate::segment::Segment;
use crate::wire::Direction;
use compact::{group_size, Compact};
use marks::{Mark, Marks, NextMark};

pub use validate::luhn;

/// Every rule: id, mask tag, severity.
const RULES: &[(&str, &str, Severity)] = &[
    ("pii.email", "EMAIL", Severity::Medium),
    ("pii.phone", "PHONE", Severity::Medium),
    ("pii.credit_card", "CREDIT_CARD", Severity::High),
    ("pii.iban", "IBAN", Severity::High),
    ("pii.eu_vat", "VAT_ID", Severity::Low),
    ("pii.us_ssn", "SSN", Severity::High),
    ("pii.uk_nino", "NINO", Severity::High),
    ("pii.uk_nhs", "NHS_NUMBER", Severity::High),
    ("pii.es_dni", "DNI", Severity::High),
    ("pii.es_nie", "NIE", Severity::High),
    ("pii.it_fiscal_code", "FISCAL_CODE", Severity::High),
    ("pii.de_tax_id", "TAX_ID", Severity::High),
    ("pii.pl_pesel", "PESEL", Severity::High),
    ("pii.nl_bsn", "BSN", Severity::High),
    ("pii.fr_nir", "NIR", Severity::High),
    ("pii.ip_address", "IP_ADDRESS", Severity::Low),
];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Personal data in prompts: logged by default (users put their own
    /// details in their prompts on purpose).
    pub request: Action,
    /// Personal data in model output and tool results: redacted.
    pub response: Action,
    /// Tool-call arguments; unset means the action of the direction.
    pub tool_arguments: Option<Action>,
    /// `tag` (`[IBAN]`) or `last4` (`**** **** **** 1111`).
    pub mask: MaskStyle,
    /// Rule ids to switch off.
    pub disable: Vec<String>,
    /// Per-entity overrides by rule id (`pii.iban`): actions and mask.
    pub entities: BTreeMap<String, Actions>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            request: Action::Log,
            response: Action::Redact,
            tool_arguments: None,
            mask: MaskStyle::Tag,
            disable: Vec::new(),
            entities: BTreeMap::new(),
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        for (i, id) in self.disable.iter().enumerate() {
            if !RULES.iter().any(|r| r.0 == id) {
                return Err((format!("disable[{i}]"), format!("unknown PII rule `{id}`")));
            }
        }
        for id in self.entities.keys() {
            if !RULES.iter().any(|r| r.0 == id) {
                return Err(("entities".into(), format!("unknown PII rule `{id}`")));
            }
        }
        Ok(())
    }
}

/// Every rule id this detector can report, with its severity.
pub fn rules() -> Vec<(&'static str, Severity)> {
    RULES.iter().map(|r| (r.0, r.2)).collect()
}

pub struct Detector {
    config: Config,
    enabled: Vec<bool>,
}

struct Hit {
    span: (usize, usize),
    rule: usize,
}

impl Detector {
    pub fn new(config: &Config) -> Detector {
        Detector {
            config: config.clone(),
            enabled: RULES.iter().map(|r| !config.disable.iter().any(|d| d == r.0)).collect(),
        }
    }

    pub fn scan(&self, segment: &Segment, direction: Direction, out: &mut Vec<Finding>) {
        self.scan_where(segment, direction, |_| true, out);
    }

    /// `scan`, reporting only the findings whose span `wanted` accepts
    /// (every hit still takes part in the overlap choice): see
    /// `secrets::Detector::scan_where`.
    pub fn scan_where(&self, segment: &Segment, direction: Direction, wanted: impl Fn((usize, usize)) -> bool, out: &mut Vec<Finding>) {
        if !self.config.enabled {
            return;
        }
        let channel = Channel::of(segment, direction);
        let default_action = channel.default_action(direction, self.config.request, self.config.response, self.config.tool_arguments);
        let any_override = self.config.entities.values().any(|a| a.get(channel).is_some_and(|x| x != Action::Allow));
        if default_action == Action::Allow && !any_override {
            return;
        }
        let text = segment.text.as_str();
        let mut hits = Vec::new();
        let marks = Marks::of(text.as_bytes());
        email::find_all(text, &marks, &mut hits);
        letter_ids(text, &marks, &mut hits);
        digit_ids(text, &marks, &mut hits);
        phones(text, &marks, &mut hits);
        ip_addresses(text, &marks, &mut hits);
        // Earlier passes are more specific: keep the first of overlaps.
        let mut kept: Vec<Hit> = Vec::new();
        for h in hits {
            if self.enabled[h.rule] && !kept.iter().any(|k| h.span.0 < k.span.1 && k.span.0 < h.span.1) {
                kept.push(h);
            }
        }
        kept.sort_by_key(|h| h.span.0);
        for h in kept {
            if !wanted(h.span) {
                continue;
            }
            let (id, label, severity) = RULES[h.rule];
            let over = self.config.entities.get(id);
            let action = over.and_then(|a| a.get(channel)).unwrap_or(default_action);
            if action == Action::Allow {
                continue;
            }
            let style = over.and_then(|a| a.mask).unwrap_or(self.config.mask);
            let matched = text.get(h.span.0..h.span.1).unwrap_or("");
            let message = format!("{label} ({}) in {}", severity.as_str(), segment.origin.as_str());
            out.push(Finding::new(DetectorKind::Pii, id, segment, Some(h.span), 1.0, action, message).with_mask(detect::mask(style, label, matched)));
        }
    }
}

impl Detector {
    /// Where text still to arrive could complete or change a finding this
    /// detector would rewrite or refuse in `segment`: the start of a trailing
    /// run that could still become an e-mail address (at most 64 bytes of
    /// local part before an `@`, as `scan` reads) or one of the number-like
    /// identifiers (at most 48 bytes back: the longest IBAN with its
    /// spaces). `segment.text.len()` when nothing is open. Streams hold text
    /// back from here.
    pub fn pending_from(&self, segment: &Segment, direction: Direction) -> usize {
        let text = segment.text.as_str();
        let b = text.as_bytes();
        let channel = Channel::of(segment, direction);
        let default_action = channel.default_action(direction, self.config.request, self.config.response, self.config.tool_arguments);
        let rewrites = |a: Action| a >= Action::Redact;
        if !self.config.enabled || !(rewrites(default_action) || self.config.entities.values().any(|a| a.get(channel).is_some_and(rewrites))) {
            return b.len();
        }
        let run_start = |member: fn(u8) -> bool| b.iter().rposition(|&c| !member(c)).map_or(0, |i| i + 1);
        let mut open = b.len();
        let email = run_start(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-' | b'@'));
        if email < b.len() {
            let at = b[email..].iter().position(|&c| c == b'@').map_or(b.len(), |i| email + i);
            open = open.min(email.max(at.saturating_sub(64)));
        }
        let id = run_start(|c| c.is_ascii_alphanumeric() || matches!(c, b' ' | b'-' | b'.' | b':' | b'+' | b'(' | b')' | b'/' | b'%'));
        if b[id..].iter().any(u8::is_ascii_digit) {
            open = open.min(id.max(b.len().saturating_sub(48)));
        }
        // Letters at the very end may be the country code of what follows.
        let word = run_start(|c| c.is_ascii_alphanumeric());
        open = open.min(word.max(b.len().saturating_sub(4)));
        detect::floor_char_boundary(text, open)
    }
}

fn rule(id: &str) -> usize {
    RULES.iter().position(|r| r.0 == id).unwrap_or(0)
}

fn alnum_at(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_alphanumeric)
}

/// Whether one of `words` appears in the 40 bytes before `start`.
fn context(text: &str, start: usize, words: &[&str]) -> bool {
    let lo = detect::floor_char_boundary(text, start.saturating_sub(40));
    let before = text[lo..start].to_ascii_lowercase();
    words.iter().any(|w| before.contains(w))
}

/// The longest identifier `collect` is asked for: an IBAN (33 for RU).
const COLLECT_MAX: usize = 34;

/// Collects up to `want` letters/digits from `start`, allowing single
/// separators from `seps` between them. Returns the compact string (case
/// kept) and the end of the last character taken.
fn collect(b: &[u8], start: usize, want: usize, seps: &[u8]) -> (Compact<COLLECT_MAX>, usize) {
    let mut s = Compact::new();
    let want = want.min(COLLECT_MAX);
    let mut i = start;
    let mut end = start;
    while i < b.len() && s.len() < want {
        if b[i].is_ascii_alphanumeric() {
            s.push(b[i]);
            i += 1;
            end = i;
        } else if seps.contains(&b[i]) && i > start && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) && b[i - 1].is_ascii_alphanumeric() {
            i += 1;
        } else {
            break;
        }
    }
    (s, end)
}

/// Identifiers that start with letters: IBAN, EU VAT numbers, UK NINO,
/// Spanish NIE, Italian codice fiscale; and Spanish DNI (digits then a
/// letter).
fn letter_ids(text: &str, marks: &Marks, hits: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let mut next = NextMark::new(marks, b, Mark::DigitOrUpper);
    let mut i = 0;
    while i + 1 < b.len() {
        // A start needs an upper-case letter on it or a digit within its
        // first five bytes (`may_start_letter_id`).
        i = i.max(next.from(i).saturating_sub(4));
        if i + 1 >= b.len() {
            break;
        }
        if !b[i].is_ascii_alphanumeric() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        if !may_start_letter_id(b, start) {
            i += 1;
            continue;
        }
        if let Some(h) = letter_id_at(text, b, start) {
            i = h.span.1;
            hits.push(h);
        } else {
            i += 1;
        }
    }
}

/// Whether `letter_id_at` can find anything at `s`, decided from a few
/// bytes so that ordinary words cost no more than this test. Every
/// identifier it knows has a digit among its first five bytes (IBAN and
/// VAT country codes, NINO and NIE prefixes, DNI digits) except the
/// codice fiscale, whose digits may all be written as letters: that one
/// needs an upper-case, exactly 16-character token.
fn may_start_letter_id(b: &[u8], s: usize) -> bool {
    let head = &b[s..b.len().min(s + 5)];
    if head.iter().any(u8::is_ascii_digit) {
        return true;
    }
    b[s].is_ascii_uppercase() && b.len() - s >= 16 && b[s..s + 16].iter().all(u8::is_ascii_alphanumeric) && !alnum_at(b, s + 16)
}

fn letter_id_at(text: &str, b: &[u8], s: usize) -> Option<Hit> {
    let upper2 = b[s].is_ascii_uppercase() && b.get(s + 1).is_some_and(u8::is_ascii_uppercase);
    // IBAN: country, check digits, BBAN in groups of four (or none).
    if upper2 && b.get(s + 2).is_some_and(u8::is_ascii_digit) && b.get(s + 3).is_some_and(u8::is_ascii_digit) {
        if let Some(len) = validate::iban_length(&text[s..s + 2]) {
            let (iban, end) = collect(b, s, len, b" -");
            if !alnum_at(b, end) && validate::iban(iban.as_str()) {
                return Some(Hit { span: (s, end), rule: rule("pii.iban") });
            }
        }
    }
    let letters2 = b[s].is_ascii_alphabetic() && b.get(s + 1).is_some_and(u8::is_ascii_alphabetic);
    if letters2 {
        let cc = [b[s].to_ascii_uppercase(), b[s + 1].to_ascii_uppercase()];
        // EU VAT numbers that carry a check digit: DE, IT, FR.
        let mut j = s + 2;
        while j < b.len() && j < s + 4 && matches!(b[j], b' ' | b'-' | b'.') {
            j += 1;
        }
        let vat = match &cc {
            b"DE" => Some((9, validate::de_vat as fn(&str) -> bool)),
            b"IT" => Some((11, validate::it_vat as fn(&str) -> bool)),
            b"FR" => Some((11, validate::fr_vat as fn(&str) -> bool)),
            _ => None,
        };
        if let Some((n, check)) = vat {
            if b.get(j).is_some_and(u8::is_ascii_digit) {
                let (digits, end) = collect(b, j, n, b" -.");
                if digits.len() == n && !alnum_at(b, end) && check(digits.as_str()) {
                    return Some(Hit { span: (s, end), rule: rule("pii.eu_vat") });
                }
            }
        }
        // UK NINO: `AB123456C` or `AB 12 34 56 C`.
        let (nino, end) = collect(b, s, 9, b" ");
        if nino.len() == 9 && !alnum_at(b, end) && validate::uk_nino(nino.to_ascii_uppercase().as_str()) {
            return Some(Hit { span: (s, end), rule: rule("pii.uk_nino") });
        }
    }
    // Spanish NIE: X/Y/Z, 7 digits, optional dash, letter.
    if matches!(b[s].to_ascii_uppercase(), b'X' | b'Y' | b'Z') {
        let (nie, end) = collect(b, s, 9, b"-");
        if nie.len() == 9 && !alnum_at(b, end) && validate::es_nie(nie.to_ascii_uppercase().as_str()) {
            return Some(Hit { span: (s, end), rule: rule("pii.es_nie") });
        }
    }
    // Spanish DNI: 7 or 8 digits, optional dash, letter.
    if b[s].is_ascii_digit() {
        for n in [9, 8] {
            let (dni, end) = collect(b, s, n, b"-");
            if dni.len() == n && !alnum_at(b, end) && dni.as_bytes()[n - 1].is_ascii_alphabetic() && validate::es_dni(dni.to_ascii_uppercase().as_str()) {
                return Some(Hit { span: (s, end), rule: rule("pii.es_dni") });
            }
        }
    }
    // Italian codice fiscale: one 16-character token.
    let (cf, end) = collect(b, s, 16, b"");
    if cf.len() == 16 && !alnum_at(b, end) && text[s..end].bytes().all(|c| !c.is_ascii_lowercase()) && validate::it_fiscal_code(cf.as_str()) {
        return Some(Hit { span: (s, end), rule: rule("pii.it_fiscal_code") });
    }
    None
}

/// The most digit groups one run is read as.
const MAX_GROUPS: usize = 12;

/// The longest identifier made of digit groups: a 19-digit card.
const MAX_DIGITS: usize = 19;

/// Runs of digit groups joined by single separators: cards, SSNs, NHS
/// numbers, German tax ids, PESEL, Italian VAT numbers, BSN, NIR.
fn digit_ids(text: &str, marks: &Marks, hits: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let mut next = NextMark::new(marks, b, Mark::Digit);
    let mut i = 0;
    while i < b.len() {
        i = next.from(i);
        if i >= b.len() {
            break;
        }
        if !b[i].is_ascii_digit() || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'+')) || continues_code(b, i) {
            i += 1;
            continue;
        }
        // Groups: (start, end) of each digit group, with the separator
        // that preceded it.
        let mut groups = [(0usize, 0usize, 0u8); MAX_GROUPS];
        let mut n_groups = 0;
        let mut j = i;
        let mut sep = 0u8;
        loop {
            let gs = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            groups[n_groups] = (gs, j, sep);
            n_groups += 1;
            if j + 1 < b.len() && matches!(b[j], b' ' | b'-' | b'.') && b[j + 1].is_ascii_digit() && n_groups < MAX_GROUPS {
                sep = b[j];
                j += 1;
            } else {
                break;
            }
        }
        let run_end = j;
        let groups = &groups[..n_groups];
        let mut g = 0;
        while g < groups.len() {
            match digit_window(text, &groups[g..]) {
                Some((used, h)) => {
                    hits.push(h);
                    g += used;
                }
                None => g += 1,
            }
        }
        i = run_end.max(i + 1);
    }
}

/// Whether the digits at `i` are a later group of a longer code that began
/// with letters (`RS35 2600 …`): those belong to that code, not to a card
/// or phone number of their own.
fn continues_code(b: &[u8], i: usize) -> bool {
    if i < 2 || !matches!(b[i - 1], b' ' | b'-') || !b[i - 2].is_ascii_alphanumeric() {
        return false;
    }
    let token_start = b[..i - 1].iter().rposition(|c| !c.is_ascii_alphanumeric()).map_or(0, |k| k + 1);
    let token = &b[token_start..i - 1];
    // `RS35 2600`, `NL91 ABNA 0417`: an upper-case code group with a digit,
    // or one that itself continues such a code (not `PESEL 9002…`).
    token.iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()) && (token.iter().any(u8::is_ascii_digit) || continues_code(b, token_start))
}

/// The longest valid identifier made of the leading groups of `groups`.
fn digit_window(text: &str, groups: &[(usize, usize, u8)]) -> Option<(usize, Hit)> {
    let b = text.as_bytes();
    let start = groups[0].0;
    let mut best: Option<(usize, Hit)> = None;
    let mut digits = Compact::<MAX_DIGITS>::new();
    let mut sizes = Compact::<MAX_GROUPS>::new();
    for (k, &(gs, ge, sep)) in groups.iter().enumerate() {
        // All separators inside one identifier are the same character.
        if k > 1 && sep != groups[1].2 {
            break;
        }
        if digits.len() + (ge - gs) > MAX_DIGITS {
            break;
        }
        for &d in &b[gs..ge] {
            digits.push(d);
        }
        sizes.push(group_size(ge - gs));
        let end = ge;
        // The digits right after must not continue a word (`123abc`).
        if alnum_at(b, end) && !b[end].is_ascii_digit() {
            continue;
        }
        let n = k + 1;
        let found = classify(text, start, digits.as_str(), sizes.as_bytes(), sep_of(groups, n));
        if let Some(id) = found {
            best = Some((n, Hit { span: (start, end), rule: rule(id) }));
        }
    }
    best
}

fn sep_of(groups: &[(usize, usize, u8)], n: usize) -> u8 {
    if n > 1 {
        groups[1].2
    } else {
        0
    }
}

fn classify(text: &str, start: usize, d: &str, sizes: &[u8], sep: u8) -> Option<&'static str> {
    let bare = sizes.len() == 1;
    match d.len() {
        13..=19 if sep != b'.' && validate::card(d) => Some("pii.credit_card"),
        15 if validate::fr_nir(d) => Some("pii.fr_nir"),
        11 if bare && validate::pl_pesel(d) => Some("pii.pl_pesel"),
        11 if bare && validate::de_tax_id(d) => Some("pii.de_tax_id"),
        11 if bare && validate::it_vat(d) => Some("pii.it_vat_bare").map(|_| "pii.eu_vat"),
        10 if validate::uk_nhs(d) && (sizes == [3, 3, 4] || context(text, start, &["nhs"])) => Some("pii.uk_nhs"),
        9 if validate::us_ssn(d) && ssn_shape(sizes, text, start) => Some("pii.us_ssn"),
        9 if validate::nl_bsn(d) && context(text, start, &["bsn", "burgerservicenummer", "sofinummer"]) => Some("pii.nl_bsn"),
        _ => None,
    }
}

/// `123-45-6789` and its space/dot forms (and Presidio's partial forms
/// `123-456789`, `12345-6789`); a bare nine-digit run needs a context word.
fn ssn_shape(sizes: &[u8], text: &str, start: usize) -> bool {
    matches!(sizes, [3, 2, 4] | [3, 6] | [5, 4]) || sizes == [9] && context(text, start, &["ssn", "social security", "social sec"])
}

/// Phone numbers: E.164 (`+` and 8 to 15 digits), North American numbers
/// with separators or a parenthesised area code, and national numbers with
/// a trunk `0` and separators.
fn phones(text: &str, marks: &Marks, hits: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let mut next = NextMark::new(marks, b, Mark::Digit);
    let mut i = 0;
    while i < b.len() {
        // Every start is a digit or the `+` or `(` right before one.
        let digit = next.from(i);
        if digit >= b.len() {
            break;
        }
        i = i.max(digit.saturating_sub(1));
        let c = b[i];
        let starts =
            (c == b'+' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) || (c == b'(' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) || c.is_ascii_digit();
        let glued = i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1].is_ascii_uppercase() || matches!(b[i - 1], b'+' | b'-' | b'.' | b'/'));
        if !starts || glued || c.is_ascii_digit() && continues_code(b, i) {
            i += 1;
            continue;
        }
        let mut j = i + usize::from(c == b'+');
        // The first digits (a longer run is never a phone number) and
        // how many there are.
        let mut digits = Compact::<16>::new();
        let mut n_digits = 0usize;
        let mut seps = 0;
        let mut paren = false;
        let mut last_digit_end = j;
        // Sizes of the digit groups, to tell `415-555-0132` from `078-05-1123`.
        // At most 16: a group starts only after the count was checked.
        let mut sizes = Compact::<16>::new();
        let mut in_group = false;
        while j < b.len() {
            match b[j] {
                d if d.is_ascii_digit() => {
                    digits.push(d);
                    n_digits += 1;
                    if in_group {
                        sizes.bump_last();
                    } else {
                        sizes.push(1);
                        in_group = true;
                    }
                    j += 1;
                    last_digit_end = j;
                    continue;
                }
                b'(' | b')' => {
                    paren = true;
                    seps += 1;
                    j += 1;
                }
                b' ' | b'-' | b'.' if b.get(j + 1).is_some_and(|x| x.is_ascii_digit() || *x == b'(') && !matches!(b[j - 1], b' ' | b'-' | b'.') => {
                    seps += 1;
                    j += 1;
                }
                _ => break,
            }
            in_group = false;
            if n_digits > 15 {
                break;
            }
        }
        let end = last_digit_end;
        let ok = !alnum_at(b, end) && (b.get(end) != Some(&b'.') || !b.get(end + 1).is_some_and(u8::is_ascii_digit)) && {
            let n = n_digits;
            // All the digits whenever `n` is small enough to matter.
            let d = digits.as_bytes();
            let sizes = sizes.as_bytes();
            let nanp = |d: &[u8]| d.len() == 10 && (b'2'..=b'9').contains(&d[0]) && (b'2'..=b'9').contains(&d[3]);
            let tail = |k: usize| sizes.len() >= k && sizes[sizes.len() - k..].ends_with(&[3, 4]);
            if c == b'+' {
                (8..=15).contains(&n) && d.first() != Some(&b'0')
            } else if d.starts_with(b"0") {
                // National numbers with a trunk 0; `046 454 286` (3-3-3) is
                // the shape of other identifiers.
                (9..=11).contains(&n) && seps >= 1 && !d.starts_with(b"00") && !sizes.iter().all(|&s| s == 3) && sizes != [3, 2, 4]
            } else {
                let nanp_shape = sizes == [3, 3, 4] || paren && sizes.len() >= 2 && tail(2);
                (n == 10 && nanp(d) && nanp_shape)
                    || (n == 11 && d.starts_with(b"1") && sizes == [1, 3, 3, 4] && nanp(&d[1..]))
                    || (n == 12 && sizes.len() == 4 && tail(3) && sizes[1] == 3 && nanp(&d[2..]))
            }
        };
        if ok && n_digits >= 8 {
            hits.push(Hit { span: (i, end), rule: rule("pii.phone") });
            i = end;
        } else {
            i += 1;
        }
    }
}

/// IPv4 and IPv6 addresses (with an optional `/prefix` or `%zone`), parsed
/// by the standard library after a byte pass finds the candidates.
fn ip_addresses(text: &str, marks: &Marks, hits: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let hexish = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let mut next = NextMark::new(marks, b, Mark::DigitOrColon);
    let mut i = 0;
    while i < b.len() {
        // An address has a digit or a colon: start from the beginning of
        // the hex-ish run that holds the next one.
        let mark = next.from(i);
        if mark >= b.len() {
            break;
        }
        let mut run_start = mark;
        while run_start > i && hexish(b[run_start - 1]) {
            run_start -= 1;
        }
        i = run_start;
        if !hexish(b[i]) || (i > 0 && (hexish(b[i - 1]) || b[i - 1].is_ascii_alphanumeric())) {
            // Every later start up to the mark follows a hex-ish byte.
            i = mark + 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && hexish(b[j]) {
            j += 1;
        }
        // Without a colon only an IPv4 address is possible, and that starts
        // with a digit: words such as `bed` or `face` stop here.
        if !b[i].is_ascii_digit() && !b[i..j].contains(&b':') {
            i = j;
            continue;
        }
        let mut cand = &text[i..j];
        cand = cand.trim_end_matches('.');
        let mut end = i + cand.len();
        let found = if cand.contains(':') {
            ipv6(cand).then_some(end)
        } else {
            ipv4_prefix(cand).map(|n| {
                end = i + n;
                end
            })
        };
        if let Some(mut end) = found {
            let tail_ok = !alnum_at(b, end) || b[end] == b'%';
            if tail_ok {
                // `/24` prefix length or `%eth0` zone.
                if b.get(end) == Some(&b'/') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
                    end += 1;
                    while end < b.len() && b[end].is_ascii_digit() {
                        end += 1;
                    }
                } else if b.get(end) == Some(&b'%') && alnum_at(b, end + 1) {
                    end += 1;
                    while end < b.len() && b[end].is_ascii_alphanumeric() {
                        end += 1;
                    }
                }
                hits.push(Hit { span: (i, end), rule: rule("pii.ip_address") });
                i = end;
                continue;
            }
        }
        i = j.max(i + 1);
    }
    // IPv4 addresses glued to other text by a colon (`::ffff:192.0.2.1`
    // after a word): the dotted part on its own.
    let mut next = NextMark::new(marks, b, Mark::Digit);
    let mut i = 0;
    while i < b.len() {
        i = next.from(i);
        if i >= b.len() {
            break;
        }
        let starts = b[i].is_ascii_digit() && i > 0 && b[i - 1] == b':' && !b.get(i.wrapping_sub(2)).is_some_and(u8::is_ascii_digit);
        if starts && !hits.iter().any(|h| h.span.0 <= i && i < h.span.1) {
            let j = (i..b.len()).find(|&k| !(b[k].is_ascii_digit() || b[k] == b'.')).unwrap_or(b.len());
            if let Some(n) = ipv4_prefix(text[i..j].trim_end_matches('.')) {
                if !alnum_at(b, i + n) {
                    hits.push(Hit { span: (i, i + n), rule: rule("pii.ip_address") });
                    i += n;
                    continue;
                }
            }
        }
        i += 1;
    }
}

fn ipv6(s: &str) -> bool {
    let colons = s.matches(':').count();
    s.len() >= 2 && (s.contains("::") || colons >= 7 || colons == 6 && s.contains('.')) && s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Length of the IPv4 address that starts `s` (four octets, no leading
/// zeros), if there is one; a fifth dotted number is left out.
fn ipv4_prefix(s: &str) -> Option<usize> {
    let mut parts = s.split('.');
    let mut len = 0;
    for k in 0..4 {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p.starts_with('0')) || !p.bytes().all(|c| c.is_ascii_digit()) || p.parse::<u16>().ok()? > 255 {
            return None;
        }
        len += p.len() + usize::from(k > 0);
    }
    Some(len)
}

#[cfg(test)]
mod tests;
