//! One pass that turns a segment into the text the lexicon and the model
//! read: compatibility and confusable folding, lower case, leetspeak folded
//! inside words, invisible characters removed (and counted, because hiding
//! text is itself a signal), HTML entities and `%XX` escapes decoded, runs of
//! whitespace and punctuation squeezed to one separator.
//!
//! The output keeps only a few structural characters (`< > | [ ] # { } ( ) :`)
//! and line breaks, so chat-template tokens and fake role labels survive
//! while ordinary punctuation cannot split a phrase.

/// What the normaliser saw besides the text itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hidden {
    /// Unicode tag characters outside emoji flag sequences ("ASCII
    /// smuggling": invisible text a model still reads). They are decoded
    /// into the output.
    pub tag_chars: usize,
    /// Zero-width characters sitting between two letters: splitting a word
    /// invisibly so a filter misses it.
    pub zero_width_in_words: usize,
    /// Bidi override and isolate controls, which reorder what a reader sees.
    pub bidi_overrides: usize,
    /// Variation selectors from the supplementary block, usable to smuggle
    /// bytes behind an innocent character.
    pub variation_selectors: usize,
}

impl Hidden {
    pub fn any(&self) -> bool {
        self.tag_chars >= 4 || self.zero_width_in_words >= 3 || self.bidi_overrides >= 1 || self.variation_selectors >= 8
    }
}

/// The normalised form of one text.
#[derive(Clone, Debug, Default)]
pub struct Normalised {
    /// Starts with `\n` so "start of text" and "start of line" look alike.
    pub text: String,
    pub hidden: Hidden,
    /// Byte ranges of the *input* that look like an encoded payload (a long
    /// run of base64 / hex alphabet): decoded and scanned separately.
    pub encoded_runs: Vec<(usize, usize)>,
}

/// Shortest run of base64/hex alphabet worth trying to decode: below this a
/// run is an ordinary long word or identifier.
const MIN_ENCODED_RUN: usize = 24;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Sep {
    None,
    Space,
    Line,
}

struct Writer {
    /// Only ever receives whole UTF-8 encodings, so it is valid UTF-8.
    out: Vec<u8>,
    sep: Sep,
    /// Last emitted byte, to squeeze repeated structural characters.
    last: u8,
    /// Whether the last emitted char was a letter (of any script), to decide
    /// whether a digit or an apostrophe sits inside a word.
    last_alpha: bool,
}

impl Writer {
    #[inline(always)]
    fn separator(&mut self, s: Sep) {
        if s > self.sep {
            self.sep = s;
        }
    }

    #[inline(always)]
    fn flush_sep(&mut self) {
        match self.sep {
            Sep::None => return,
            Sep::Space => {
                if self.last != b' ' && self.last != b'\n' {
                    self.out.push(b' ');
                    self.last = b' ';
                }
            }
            Sep::Line => {
                if self.last == b' ' {
                    self.out.pop();
                }
                if self.last != b'\n' || self.out.is_empty() {
                    self.out.push(b'\n');
                }
                self.last = b'\n';
            }
        }
        self.last_alpha = false;
        self.sep = Sep::None;
    }

    #[inline(always)]
    fn ascii_letter(&mut self, b: u8) {
        self.flush_sep();
        self.out.push(b);
        self.last = b;
        self.last_alpha = b.is_ascii_alphabetic();
    }

    #[inline(always)]
    fn letter(&mut self, c: char) {
        if c.is_ascii() {
            return self.ascii_letter(c as u8);
        }
        self.flush_sep();
        let mut buf = [0u8; 4];
        self.out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        self.last = 0x80;
        self.last_alpha = c.is_alphabetic();
    }

    #[inline(always)]
    fn structural(&mut self, c: char) {
        let b = c as u8;
        if self.sep == Sep::None && self.last == b {
            return;
        }
        self.flush_sep();
        self.out.push(b);
        self.last = b;
        self.last_alpha = false;
    }
}

/// ASCII byte classes, looked up once per byte.
const LOWER: u8 = 1;
const UPPER: u8 = 2;
const DIGIT: u8 = 4;
const SPACE: u8 = 8;
const NEWLINE: u8 = 16;
const STRUCT: u8 = 32;
const B64: u8 = 64;
const LETTER: u8 = LOWER | UPPER;

const fn ascii_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        let mut k = 0;
        if c.is_ascii_lowercase() {
            k |= LOWER | B64;
        }
        if c.is_ascii_uppercase() {
            k |= UPPER | B64;
        }
        if c.is_ascii_digit() {
            k |= DIGIT | B64;
        }
        if c == b' ' || c == b'\t' || c == 0x0b || c == 0x0c {
            k |= SPACE;
        }
        if c == b'\n' || c == b'\r' {
            k |= NEWLINE;
        }
        if matches!(c, b'<' | b'>' | b'|' | b'[' | b']' | b'#' | b'{' | b'}' | b'(' | b')' | b':') {
            k |= STRUCT;
        }
        if matches!(c, b'+' | b'/' | b'=' | b'-' | b'_') {
            k |= B64;
        }
        t[i] = k;
        i += 1;
    }
    t
}

/// Indexed by any byte (non-ASCII bytes are class 0), so a lookup needs no
/// range check.
static CLASS: [u8; 256] = ascii_classes();

#[inline(always)]
fn class(b: u8) -> u8 {
    CLASS[b as usize]
}

/// Digits and symbols that stand for letters in leetspeak.
#[inline]
fn leet(c: u8) -> Option<char> {
    Some(match c {
        b'0' => 'o',
        b'1' => 'i',
        b'3' => 'e',
        b'4' => 'a',
        b'5' => 's',
        b'7' => 't',
        b'@' => 'a',
        b'$' => 's',
        _ => return None,
    })
}

/// Normalises `input`. Work is linear in its length.
pub fn normalise(input: &str) -> Normalised {
    normalise_with(input, true)
}

/// `word_fast_path: false` sends every byte through the general path: the
/// tests check the fast path against it, output for output.
#[inline(always)]
fn normalise_with(input: &str, word_fast_path: bool) -> Normalised {
    let bytes = input.as_bytes();
    let mut w = Writer { out: Vec::with_capacity(bytes.len() + 1), sep: Sep::Line, last: 0, last_alpha: false };
    let mut hidden = Hidden::default();
    let mut encoded_runs = Vec::new();
    let mut run_start = 0usize;
    let mut run_len = 0usize;
    // Set by U+1F3F4 (black flag): the tag characters after it spell a
    // subdivision flag, not hidden text.
    let mut in_flag = false;
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        let k = class(b);
        // Fast path: a span of ASCII words split by single spaces (most of
        // any chat text) comes out lower-cased and otherwise unchanged, so
        // it is found eight bytes at a time and copied in one piece, not fed
        // through the writer char by char.
        if word_fast_path && k & LETTER != 0 {
            let start = i;
            let mut word_start = i;
            if run_len == 0 {
                run_start = i;
            }
            i += 1;
            let mut ended = false;
            // Eight bytes a step: a byte belongs to the span when it is a
            // letter or a space before a letter. Of the spaces in a step only
            // the first can end a word long enough to be an encoded run.
            while let Some(chunk) = bytes.get(i..i + 9) {
                let word = u64::from_le_bytes(chunk.get(..8).and_then(|c| c.try_into().ok()).unwrap_or([0; 8]));
                let letters = !non_letters(word) & HIGH;
                let after = if chunk.get(8).is_some_and(|&c| class(c) & LETTER != 0) { 1 << 63 } else { 0 };
                let spaces = spaces(word) & ((letters >> 8) | after);
                let outside = !(letters | spaces) & HIGH;
                let taken = if outside == 0 { 8 } else { (outside.trailing_zeros() / 8) as usize };
                let breaks = if taken == 8 { spaces } else { spaces & ((1u64 << (taken * 8)) - 1) };
                if breaks != 0 {
                    let first = i + (breaks.trailing_zeros() / 8) as usize;
                    if run_len + (first - word_start) >= MIN_ENCODED_RUN {
                        encoded_runs.push((run_start, first));
                    }
                    let last = i + ((63 - breaks.leading_zeros()) / 8) as usize;
                    run_len = 0;
                    run_start = last + 1;
                    word_start = last + 1;
                }
                i += taken;
                if taken < 8 {
                    ended = true;
                    break;
                }
            }
            if !ended {
                i = letters_from(bytes, i);
                while bytes.get(i) == Some(&b' ') && class(next_byte(bytes, i + 1)) & LETTER != 0 {
                    if run_len + (i - word_start) >= MIN_ENCODED_RUN {
                        encoded_runs.push((run_start, i));
                    }
                    run_len = 0;
                    run_start = i + 1;
                    word_start = i + 1;
                    i = letters_from(bytes, i + 2);
                }
            }
            run_len += i - word_start;
            in_flag = false;
            w.flush_sep();
            let copied = w.out.len();
            w.out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
            // `b | 0x20` lower-cases an ASCII letter and leaves a space as is.
            if let Some(span) = w.out.get_mut(copied..) {
                for c in span {
                    *c |= 0x20;
                }
            }
            w.last = w.out.last().copied().unwrap_or(0);
            w.last_alpha = true;
            continue;
        }
        if b == b' ' {
            if run_len >= MIN_ENCODED_RUN {
                encoded_runs.push((run_start, i));
            }
            run_len = 0;
            w.separator(Sep::Space);
            i += 1;
            continue;
        }
        if k & B64 != 0 {
            if run_len == 0 {
                run_start = i;
            }
            run_len += 1;
        } else if run_len > 0 {
            if run_len >= MIN_ENCODED_RUN {
                encoded_runs.push((run_start, i));
            }
            run_len = 0;
        }
        if b < 128 {
            in_flag = false;
            i += 1;
            // `%XX` and `&...;` escapes: decoded in place when well formed.
            if b == b'%' {
                if let Some(d) = percent_escape(bytes, i) {
                    ascii(&mut w, d, class(d), bytes, i + 2);
                    i += 2;
                    continue;
                }
            } else if b == b'&' {
                if let Some((c, used)) = html_entity(bytes, i) {
                    i += used;
                    let next = next_byte(bytes, i);
                    let letter_before = is_letter_before(&w);
                    push_char(&mut w, &mut hidden, c, letter_before, next);
                    continue;
                }
            }
            ascii(&mut w, b, k, bytes, i);
            continue;
        }
        let Some(c) = input.get(i..).and_then(|s| s.chars().next()) else { break };
        i += c.len_utf8();
        let cp = c as u32;
        if (0xE0000..=0xE007F).contains(&cp) {
            if !in_flag {
                hidden.tag_chars += 1;
                if (0xE0020..=0xE007E).contains(&cp) {
                    let a = (cp - 0xE0000) as u8;
                    ascii(&mut w, a, class(a), bytes, i);
                }
            }
            continue;
        }
        in_flag = cp == 0x1F3F4;
        let letter_before = is_letter_before(&w);
        push_char(&mut w, &mut hidden, c, letter_before, next_byte(bytes, i));
    }
    if run_len >= MIN_ENCODED_RUN {
        encoded_runs.push((run_start, bytes.len()));
    }
    let text = String::from_utf8(w.out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Normalised { text, hidden, encoded_runs }
}

/// The end of the run of ASCII letters starting at `i`, found eight bytes
/// at a time: words are short, so most take one step.
#[inline(always)]
fn letters_from(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let others = non_letters(word);
        if others != 0 {
            return i + (others.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && class(bytes[i]) & LETTER != 0 {
        i += 1;
    }
    i
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = ONES * 0x80;

/// The high bit of each byte of `word` that is a space.
#[inline(always)]
fn spaces(word: u64) -> u64 {
    let x = word ^ (ONES * b' ' as u64);
    !(((x & !HIGH) + !HIGH) | x) & HIGH
}

/// The high bit of each byte of `word` that is not an ASCII letter. Bytes
/// are folded to 7 bits first so no per-byte sum carries into the next.
#[inline(always)]
fn non_letters(word: u64) -> u64 {
    let folded = (word | ONES * 0x20) & !HIGH;
    let from_a = (folded + ONES * (0x80 - b'a' as u64)) & HIGH;
    let past_z = (folded + ONES * (0x80 - b'z' as u64 - 1)) & HIGH;
    let letters = from_a & !past_z & !(word & HIGH);
    !letters & HIGH
}

#[inline]
fn next_byte(bytes: &[u8], i: usize) -> u8 {
    bytes.get(i).copied().unwrap_or(b' ')
}

#[inline]
fn is_letter_before(w: &Writer) -> bool {
    w.sep == Sep::None && w.last_alpha
}

/// The ASCII path: `next` is the index of the byte after `b` in the input.
#[inline(always)]
fn ascii(w: &mut Writer, b: u8, k: u8, bytes: &[u8], next: usize) {
    if k & (LOWER | UPPER) != 0 {
        w.ascii_letter(b | 0x20);
    } else if k & DIGIT != 0 || b == b'@' || b == b'$' {
        let folded = leet(b).filter(|_| is_letter_before(w) || class(next_byte(bytes, next)) & (LOWER | UPPER) != 0);
        match folded {
            Some(c) => w.letter(c),
            None if k & DIGIT != 0 => w.ascii_letter(b),
            None => w.separator(Sep::Space),
        }
    } else if k & SPACE != 0 {
        w.separator(Sep::Space);
    } else if k & NEWLINE != 0 {
        w.separator(Sep::Line);
    } else if k & STRUCT != 0 {
        w.structural(b as char);
    } else if b == b'\'' || b == b'`' {
        // "don't" reads as "dont": an apostrophe inside a word is dropped.
        if !is_letter_before(w) || class(next_byte(bytes, next)) & (LOWER | UPPER) == 0 {
            w.separator(Sep::Space);
        }
    } else if b < 0x20 || b == 0x7f {
        // Control characters are invisible; drop them without a separator.
    } else {
        w.separator(Sep::Space);
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `%XX` at `bytes[i..]` (after the `%`) encoding printable ASCII.
fn percent_escape(bytes: &[u8], i: usize) -> Option<u8> {
    let hi = hex_val(*bytes.get(i)?)?;
    let lo = hex_val(*bytes.get(i + 1)?)?;
    let d = hi * 16 + lo;
    (d == b'\n' || (0x20..0x7f).contains(&d)).then_some(d)
}

/// An HTML entity at `bytes[i..]` (after the `&`): the char and the bytes
/// it used up to and including `;`.
fn html_entity(bytes: &[u8], i: usize) -> Option<(char, usize)> {
    let end = bytes.get(i..)?.iter().take(12).position(|&b| b == b';')?;
    let name = std::str::from_utf8(bytes.get(i..i + end)?).ok()?;
    let c = if let Some(num) = name.strip_prefix('#') {
        let cp = match num.strip_prefix(['x', 'X']) {
            Some(h) => u32::from_str_radix(h, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        char::from_u32(cp)?
    } else {
        match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => ' ',
            _ => return None,
        }
    };
    Some((c, end + 1))
}

/// Everything outside ASCII (and decoded entities).
fn push_char(w: &mut Writer, hidden: &mut Hidden, c: char, letter_before: bool, next: u8) {
    if c.is_ascii() {
        let b = c as u8;
        let k = class(b);
        if k & (LOWER | UPPER) != 0 {
            w.letter((b | 0x20) as char);
        } else if k & STRUCT != 0 {
            w.structural(c);
        } else if k & NEWLINE != 0 {
            w.separator(Sep::Line);
        } else if k & DIGIT != 0 {
            w.letter(c);
        } else {
            w.separator(Sep::Space);
        }
        return;
    }
    let cp = c as u32;
    match cp {
        // Zero-width characters and soft hyphen: invisible, removed.
        0x200B | 0x200C | 0x200D | 0x2060 | 0xFEFF | 0x00AD | 0x034F | 0x180E | 0x2061..=0x2064 => {
            if letter_before && class(next) & (LOWER | UPPER) != 0 {
                hidden.zero_width_in_words += 1;
            }
        }
        0x202A..=0x202E | 0x2066..=0x2069 => {
            if matches!(cp, 0x202D | 0x202E | 0x2066..=0x2069) {
                hidden.bidi_overrides += 1;
            }
        }
        0x200E | 0x200F | 0x061C | 0xFE00..=0xFE0F => {}
        0xE0100..=0xE01EF => hidden.variation_selectors += 1,
        0x2028 | 0x2029 | 0x0085 => w.separator(Sep::Line),
        0x00A0 | 0x1680 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => w.separator(Sep::Space),
        // Right single quote is an apostrophe as often as a quote.
        0x2019 | 0x02BC => {
            if !letter_before || class(next) & (LOWER | UPPER) == 0 {
                w.separator(Sep::Space);
            }
        }
        // Fullwidth ASCII.
        0xFF01..=0xFF5E => {
            if let Some(a) = char::from_u32(cp - 0xFEE0) {
                push_char(w, hidden, a, letter_before, next);
            }
        }
        _ => match fold(cp) {
            Some(Folded::One(a)) => w.letter(a),
            Some(Folded::Two(a, b)) => {
                w.letter(a);
                w.letter(b);
            }
            Some(Folded::Three(a, b, d)) => {
                w.letter(a);
                w.letter(b);
                w.letter(d);
            }
            None => {
                if c.is_alphanumeric() {
                    if c.is_uppercase() {
                        for l in c.to_lowercase() {
                            w.letter(l);
                        }
                    } else {
                        w.letter(c);
                    }
                } else if c.is_whitespace() {
                    w.separator(Sep::Space);
                } else if c.is_control() || is_format(cp) {
                    // Invisible: drop without a separator.
                } else {
                    w.separator(Sep::Space);
                }
            }
        },
    }
}

/// Unicode format characters not handled above (Cf): invisible.
fn is_format(cp: u32) -> bool {
    matches!(cp, 0x0600..=0x0605 | 0x06DD | 0x070F | 0x110BD | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A)
}

enum Folded {
    One(char),
    Two(char, char),
    Three(char, char, char),
}

/// Compatibility and confusable folding to ASCII for the characters used to
/// disguise English text: accented Latin, mathematical alphanumerics,
/// enclosed and squared letters, ligatures, and Cyrillic/Greek lookalikes.
fn fold(cp: u32) -> Option<Folded> {
    use Folded::*;
    let letter = |i: u32| char::from_u32('a' as u32 + i);
    let r = match cp {
        0xC0..=0xFF => return latin1(cp).map(One),
        0x100..=0x17F => return latin_ext_a(cp).map(One),
        // Mathematical alphanumeric symbols: 13 alphabets of 52 letters.
        0x1D400..=0x1D6A3 => letter((cp - 0x1D400) % 52 % 26).map(One),
        0x1D7CE..=0x1D7FF => char::from_u32('0' as u32 + (cp - 0x1D7CE) % 10).map(One),
        // Circled, parenthesised, squared, negative squared, regional indicators.
        0x24B6..=0x24CF => letter(cp - 0x24B6).map(One),
        0x24D0..=0x24E9 => letter(cp - 0x24D0).map(One),
        0x249C..=0x24B5 => letter(cp - 0x249C).map(One),
        0x1F130..=0x1F149 => letter(cp - 0x1F130).map(One),
        0x1F150..=0x1F169 => letter(cp - 0x1F150).map(One),
        0x1F170..=0x1F189 => letter(cp - 0x1F170).map(One),
        0x1F1E6..=0x1F1FF => letter(cp - 0x1F1E6).map(One),
        0xFB00 => Some(Two('f', 'f')),
        0xFB01 => Some(Two('f', 'i')),
        0xFB02 => Some(Two('f', 'l')),
        0xFB03 => Some(Three('f', 'f', 'i')),
        0xFB04 => Some(Three('f', 'f', 'l')),
        0xFB05 | 0xFB06 => Some(Two('s', 't')),
        _ => confusable(cp).map(One),
    };
    r
}

fn latin1(cp: u32) -> Option<char> {
    Some(match cp {
        0xC0..=0xC5 | 0xE0..=0xE5 => 'a',
        0xC7 | 0xE7 => 'c',
        0xC8..=0xCB | 0xE8..=0xEB => 'e',
        0xCC..=0xCF | 0xEC..=0xEF => 'i',
        0xD1 | 0xF1 => 'n',
        0xD2..=0xD6 | 0xD8 | 0xF2..=0xF6 | 0xF8 => 'o',
        0xD9..=0xDC | 0xF9..=0xFC => 'u',
        0xDD | 0xFD | 0xFF => 'y',
        _ => return None,
    })
}

fn latin_ext_a(cp: u32) -> Option<char> {
    Some(match cp {
        0x100..=0x105 => 'a',
        0x106..=0x10D => 'c',
        0x10E..=0x111 => 'd',
        0x112..=0x11B => 'e',
        0x11C..=0x123 => 'g',
        0x124..=0x127 => 'h',
        0x128..=0x131 => 'i',
        0x134 | 0x135 => 'j',
        0x136 | 0x137 => 'k',
        0x139..=0x142 => 'l',
        0x143..=0x148 => 'n',
        0x14C..=0x151 => 'o',
        0x154..=0x159 => 'r',
        0x15A..=0x161 => 's',
        0x162..=0x167 => 't',
        0x168..=0x173 => 'u',
        0x174 | 0x175 => 'w',
        0x176..=0x178 => 'y',
        0x179..=0x17E => 'z',
        _ => return None,
    })
}

/// Letters from other scripts that render like Latin ones.
fn confusable(cp: u32) -> Option<char> {
    Some(match cp {
        0x0430 | 0x0410 | 0x03B1 | 0x0391 | 0x1D00 | 0x0251 => 'a',
        0x0412 | 0x0392 | 0x0299 | 0x0432 => 'b',
        0x0441 | 0x0421 | 0x03F2 | 0x1D04 | 0x217D => 'c',
        0x0501 | 0x217E => 'd',
        0x0435 | 0x0415 | 0x0395 | 0x1D07 | 0x0454 => 'e',
        0x0261 | 0x0262 => 'g',
        0x041D | 0x0397 | 0x04BB | 0x029C => 'h',
        0x0456 | 0x0406 | 0x03B9 | 0x0399 | 0x0131 | 0x026A | 0x2170 | 0x2139 => 'i',
        0x0458 | 0x0408 | 0x03F3 => 'j',
        0x041A | 0x039A | 0x03BA | 0x1D0B | 0x043A => 'k',
        0x2113 | 0x217C | 0x029F | 0x04CF => 'l',
        0x041C | 0x039C | 0x1D0D | 0x217F => 'm',
        0x039D | 0x0274 | 0x03B7 => 'n',
        0x043E | 0x041E | 0x03BF | 0x039F | 0x1D0F | 0x03C3 => 'o',
        0x0440 | 0x0420 | 0x03C1 | 0x03A1 | 0x1D18 => 'p',
        0x051B => 'q',
        0x0280 | 0x0433 => 'r',
        0x0455 | 0x0405 | 0xA731 => 's',
        0x0422 | 0x03A4 | 0x1D1B | 0x03C4 => 't',
        0x03C5 | 0x1D1C | 0x057D => 'u',
        0x03BD | 0x1D20 | 0x2174 | 0x0475 => 'v',
        0x0461 | 0x051D | 0x1D21 | 0x03C9 => 'w',
        0x0445 | 0x0425 | 0x03A7 | 0x03C7 | 0x2179 => 'x',
        0x0443 | 0x0423 | 0x03A5 | 0x04AF | 0x028F | 0x03B3 => 'y',
        0x0396 | 0x1D22 => 'z',
        0x2102 => 'c',
        0x210D => 'h',
        0x2115 => 'n',
        0x2119 => 'p',
        0x211A => 'q',
        0x211D => 'r',
        0x2124 => 'z',
        0x212F | 0x2130 => 'e',
        0x210A => 'g',
        0x210B | 0x210C | 0x210E => 'h',
        0x2110 | 0x2111 => 'i',
        0x2112 => 'l',
        0x2133 => 'm',
        0x2134 => 'o',
        0x211B | 0x211C => 'r',
        0x212C => 'b',
        0x2131 => 'f',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pieces the differential test strings are built from: everything the
    /// normaliser treats specially, next to plain chat text.
    const PIECES: &[&str] = &[
        "a", "Z", "ignore", "Previous", "INSTRUCTIONS", " ", "  ", "\t", "\n", "\r\n", "\u{b}", ".", ",", "!", "?", "-", "_", "+", "/", "=",
        "'", "`", "\"", ";", "&", "%", "0", "1", "3", "4", "5", "7", "9", "@", "$", "<", ">", "|", "[", "]", "#", "{", "}", "(", ")", ":",
        "%20", "%41", "%4", "%zz", "%0a", "%00", "&lt;", "&gt;", "&amp;", "&quot;", "&apos;", "&nbsp;", "&#105;", "&#x69;", "&#X49;", "&#1114112;",
        "&#0;", "&bogus;", "&#", "&;", "\u{0}", "\u{7f}", "\u{1f}", "\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{AD}",
        "\u{202E}", "\u{202C}", "\u{2066}", "\u{200E}", "\u{FE0F}", "\u{E0101}", "\u{E0069}", "\u{E0020}", "\u{E007F}", "\u{E0001}",
        "\u{1F3F4}", "\u{1F468}", "\u{2028}", "\u{85}", "\u{A0}", "\u{3000}", "\u{2019}", "\u{2BC}", "\u{FF29}", "\u{FF47}", "\u{FF01}",
        "\u{FF5E}", "\u{1D422}", "\u{1D7CF}", "\u{24D8}", "\u{24BE}", "\u{1F170}", "\u{1F1EE}", "\u{FB01}", "\u{FB03}", "\u{43E}",
        "\u{435}", "\u{410}", "\u{3BF}", "\u{2134}", "\u{C9}", "\u{EF}", "\u{131}", "\u{130}", "\u{17D}", "\u{DF}", "\u{3A3}",
        "\u{4E2D}", "\u{661}", "\u{600}", "\u{1F600}", "\u{10FFFF}", "aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM=", "69676e6f7265",
        "1gn0r3", "pr3v10us", "h4ck", "p@$$", "don't", "it\u{2019}s", "Abcdefghi", "abcdefghijklmnopqrstuvwxyzABCD", "Q29kZVJldmlld1Rhc2tSZXBvcnQx",
    ];

    fn assert_same(input: &str) {
        let new = normalise(input);
        let old = normalise_with(input, false);
        assert_eq!(new.text, old.text, "text of {input:?}");
        assert_eq!(new.hidden, old.hidden, "hidden of {input:?}");
        assert_eq!(new.encoded_runs, old.encoded_runs, "encoded runs of {input:?}");
    }

    fn pieces() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(PIECES), 0..48).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn fast_path_agrees_with_the_general_path_on_special_pieces(s in pieces()) {
            assert_same(&s);
        }

        #[test]
        fn fast_path_agrees_with_the_general_path_on_any_string(s in any::<String>()) {
            assert_same(&s);
        }

        #[test]
        fn fast_path_agrees_with_the_general_path_on_ascii(s in "[ -~\t\n]{0,200}") {
            assert_same(&s);
        }
    }

    /// Every row of the evaluation corpora (`$WARD_CORPORA`, else
    /// `../shared/corpora` beside the repository), when they are there:
    /// real text of every kind the detectors meet.
    #[test]
    fn fast_path_agrees_with_the_general_path_on_the_corpora() {
        use std::io::{BufRead, BufReader, Read};
        let root = std::env::var_os("WARD_CORPORA").map(std::path::PathBuf::from).unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"));
        let Ok(folders) = std::fs::read_dir(&root) else { return };
        let mut rows = 0usize;
        for folder in folders.flatten() {
            let Ok(files) = std::fs::read_dir(folder.path()) else { continue };
            for file in files.flatten() {
                let path = file.path();
                let name = path.to_string_lossy().to_string();
                let Ok(f) = std::fs::File::open(&path) else { continue };
                let reader: Box<dyn Read> = if name.ends_with(".jsonl.gz") {
                    Box::new(flate2::read::GzDecoder::new(f))
                } else if name.ends_with(".jsonl") {
                    Box::new(f)
                } else {
                    continue;
                };
                for line in BufReader::new(reader).lines() {
                    let line = line.expect("readable corpus");
                    let Ok(row) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                    if let Some(text) = row.get("text").and_then(|t| t.as_str()) {
                        assert_same(text);
                        rows += 1;
                    }
                }
            }
        }
        eprintln!("normaliser fast path agrees with the general path on {rows} corpus rows");
    }

    #[test]
    fn word_scan_agrees_with_the_byte_classes() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut chunk = *b"abcdefgh";
                chunk[pos] = b;
                let expected = if b.is_ascii_alphabetic() { 8 } else { pos };
                assert_eq!(letters_from(&chunk, 0), expected, "byte {b:#x} at {pos}");
            }
        }
        assert_eq!(letters_from(b"Hello, world", 0), 5);
        assert_eq!(letters_from(b"abc", 1), 3);
    }

    #[test]
    fn fast_path_agrees_with_the_general_path_on_every_pair_of_pieces() {
        for a in PIECES {
            for b in PIECES {
                assert_same(&format!("{a}{b}"));
                assert_same(&format!("x{a}{b}x"));
            }
        }
    }

    fn n(s: &str) -> String {
        normalise(s).text
    }

    #[test]
    fn lower_cases_and_squeezes_whitespace_and_punctuation() {
        assert_eq!(n("Ignore   ALL,  previous...instructions!"), "\nignore all previous instructions");
        assert_eq!(n("a\n\n\nb"), "\na\nb");
    }

    #[test]
    fn keeps_structural_characters_squeezed() {
        assert_eq!(n("<|im_start|>system"), "\n<|im start|>system");
        assert_eq!(n("###### System:"), "\n# system:");
    }

    #[test]
    fn folds_leetspeak_inside_words_only() {
        assert_eq!(n("1gn0r3 pr3v10us"), "\nignore previous");
        assert_eq!(n("call 555 1234"), "\ncall 555 1234");
    }

    #[test]
    fn drops_apostrophes_inside_words() {
        assert_eq!(n("don't you're"), "\ndont youre");
        assert_eq!(n("don\u{2019}t"), "\ndont");
    }

    #[test]
    fn folds_compatibility_forms_and_confusables() {
        // Fullwidth, mathematical bold, circled letters, ligature.
        assert_eq!(n("ＩＧＮＯＲＥ"), "\nignore");
        assert_eq!(n("\u{1D422}\u{1D420}\u{1D427}\u{1D428}\u{1D42B}\u{1D41E}"), "\nignore");
        assert_eq!(n("ⓘⓖⓝⓞⓡⓔ"), "\nignore");
        assert_eq!(n("\u{FB01}nal"), "\nfinal");
        // Cyrillic о and е inside a Latin word.
        assert_eq!(n("ign\u{043E}r\u{0435}"), "\nignore");
        assert_eq!(n("Ïgnörè"), "\nignore");
    }

    #[test]
    fn removes_and_counts_zero_width_inside_words() {
        let r = normalise("ig\u{200B}no\u{200B}re pre\u{200C}vious");
        assert_eq!(r.text, "\nignore previous");
        assert_eq!(r.hidden.zero_width_in_words, 3);
        assert!(r.hidden.any());
        // A zero-width joiner inside an emoji sequence is not hiding anything.
        assert_eq!(normalise("\u{1F468}\u{200D}\u{1F469}").hidden.zero_width_in_words, 0);
    }

    #[test]
    fn decodes_and_flags_unicode_tag_smuggling() {
        let hidden: String = "ignore".chars().map(|c| char::from_u32(0xE0000 + c as u32).unwrap()).collect();
        let r = normalise(&format!("hello {hidden}"));
        assert_eq!(r.text, "\nhello ignore");
        assert_eq!(r.hidden.tag_chars, 6);
        assert!(r.hidden.any());
        // Subdivision flags (black flag + tags) are emoji, not smuggling.
        let flag = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";
        assert_eq!(normalise(flag).hidden.tag_chars, 0);
    }

    #[test]
    fn counts_bidi_overrides() {
        let r = normalise("abc\u{202E}cba\u{202C}");
        assert_eq!(r.hidden.bidi_overrides, 1);
        assert_eq!(r.text, "\nabccba");
    }

    #[test]
    fn decodes_entities_and_percent_escapes() {
        assert_eq!(n("&#105;gnore &lt;system&gt;"), "\nignore <system>");
        assert_eq!(n("ignore%20previous"), "\nignore previous");
        assert_eq!(n("&#x69;gnore"), "\nignore");
    }

    #[test]
    fn records_long_encoded_runs() {
        let r = normalise("payload: aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM= end");
        assert_eq!(r.encoded_runs.len(), 1);
        let (a, b) = r.encoded_runs[0];
        assert!("payload: aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM= end"[a..b].starts_with("aWdub3"));
        assert!(normalise("short words only here").encoded_runs.is_empty());
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in ["&", "&#", "&#xZZ;", "%", "%4", "\u{E0000}", "\u{10FFFF}", "\0\u{7f}", "&#1114112;"] {
            let _ = normalise(s);
        }
    }
}
