//! Where the bytes sit that some identifier needs near its start: digits
//! (every number-like identifier, and a digit in the first five bytes of
//! the letter-led ones), colons (IPv6), `@` (e-mail addresses), and two
//! upper-case letters that start a word (the codice fiscale, the one
//! identifier that can begin with a letter and have no digit for six
//! bytes). One pass over the text collects them and the recognizers jump
//! from mark to mark, so prose costs that one pass.
//!
//! The pass reads eight bytes at a time and tests them together for the
//! range `0`..=`Z` (digits, `:;<=>?@`, upper-case letters); in English
//! text most words hold no such byte and cost a few instructions each.
//! The few that do (mostly a capital at a sentence start) are sorted out
//! one byte at a time.

/// Ascending positions of the marks in one text.
pub(super) struct Marks {
    at: Vec<usize>,
    len: usize,
}

/// Which marks a recognizer jumps between.
#[derive(Clone, Copy)]
pub(super) enum Mark {
    Digit,
    /// A digit, or the two upper-case letters at a word start.
    DigitOrUpper,
    DigitOrColon,
    At,
}

impl Mark {
    fn holds(self, c: u8) -> bool {
        match self {
            Mark::Digit => c.is_ascii_digit(),
            Mark::DigitOrUpper => c.is_ascii_digit() || c.is_ascii_uppercase(),
            Mark::DigitOrColon => c.is_ascii_digit() || c == b':',
            Mark::At => c == b'@',
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `w` in `b'0'..=b'Z'`. Adding to the low
/// seven bits of each byte never carries into the next one, so the two
/// comparisons are two additions.
fn in_digit_to_upper(w: u64) -> u64 {
    let low7 = w & !HIGH;
    let at_least_0 = low7 + ONES * (0x80 - b'0' as u64);
    let above_z = low7 + ONES * (0x7F - b'Z' as u64);
    at_least_0 & !above_z & !w & HIGH
}

impl Marks {
    pub(super) fn of(b: &[u8]) -> Marks {
        let mut marks = Marks { at: Vec::new(), len: b.len() };
        // Sixteen bytes a round: one test and branch for both halves.
        let mut blocks = b.chunks_exact(16);
        let mut base = 0;
        for block in &mut blocks {
            let block = u128::from_le_bytes(block.try_into().unwrap_or([0; 16]));
            let (low, high) = (in_digit_to_upper(block as u64), in_digit_to_upper((block >> 64) as u64));
            if low | high != 0 {
                marks.note_all(b, base, low);
                marks.note_all(b, base + 8, high);
            }
            base += 16;
        }
        for i in base..b.len() {
            marks.note(b, i);
        }
        marks
    }

    /// Notes the bytes of the word at `base` whose high bit `hits` has.
    fn note_all(&mut self, b: &[u8], base: usize, mut hits: u64) {
        while hits != 0 {
            self.note(b, base + (hits.trailing_zeros() / 8) as usize);
            hits &= hits - 1;
        }
    }

    fn note(&mut self, b: &[u8], i: usize) {
        let keep = match b[i] {
            b'0'..=b':' | b'@' => true,
            b'A'..=b'Z' => b.get(i + 1).is_some_and(u8::is_ascii_uppercase) && (i == 0 || !b[i - 1].is_ascii_alphanumeric()),
            _ => false,
        };
        if keep {
            self.at.push(i);
        }
    }
}

/// The marks of one kind, for a scan that moves forward.
pub(super) struct NextMark<'a> {
    marks: &'a Marks,
    b: &'a [u8],
    kind: Mark,
    /// Index in `marks.at` of the first mark not yet passed.
    k: usize,
    last_from: usize,
}

impl<'a> NextMark<'a> {
    pub(super) fn new(marks: &'a Marks, b: &'a [u8], kind: Mark) -> NextMark<'a> {
        NextMark { marks, b, kind, k: 0, last_from: 0 }
    }

    /// The first mark at or after `i`, or the text's length.
    pub(super) fn from(&mut self, i: usize) -> usize {
        if i < self.last_from {
            // Scans only move forward; stay right if one ever steps back.
            self.k = self.marks.at.partition_point(|&p| p < i);
        }
        self.last_from = i;
        while let Some(&p) = self.marks.at.get(self.k) {
            if p >= i && self.b.get(p).is_some_and(|&c| self.kind.holds(c)) {
                return p;
            }
            self.k += 1;
        }
        self.marks.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marks as the definition says, one byte at a time.
    fn slow(b: &[u8]) -> Vec<usize> {
        (0..b.len())
            .filter(|&i| {
                let c = b[i];
                c.is_ascii_digit()
                    || c == b':'
                    || c == b'@'
                    || c.is_ascii_uppercase() && b.get(i + 1).is_some_and(u8::is_ascii_uppercase) && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            })
            .collect()
    }

    #[test]
    fn the_word_pass_finds_what_the_byte_pass_finds() {
        let alphabet: &[u8] = b"aZ09:;?@AB[`/ \n\x80\xc3\xa9\x7f\xff.-";
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for len in 0..200 {
            for _ in 0..50 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize]
                    })
                    .collect();
                assert_eq!(Marks::of(&b).at, slow(&b), "{b:?}");
            }
        }
        // Every byte value at every offset in a word.
        for c in 0..=255u8 {
            for at in 0..16 {
                let mut b = vec![b' '; 16];
                b[at] = c;
                assert_eq!(Marks::of(&b).at, slow(&b), "byte {c} at {at}");
            }
        }
    }

    #[test]
    fn next_mark_moves_forward_and_back() {
        let b = b"ab1 CD: x@y 22";
        let marks = Marks::of(b);
        let mut digits = NextMark::new(&marks, b, Mark::Digit);
        assert_eq!(digits.from(0), 2);
        assert_eq!(digits.from(2), 2);
        assert_eq!(digits.from(3), 12);
        assert_eq!(digits.from(14), 14);
        assert_eq!(digits.from(1), 2, "a step back finds the earlier mark again");
        let mut upper = NextMark::new(&marks, b, Mark::DigitOrUpper);
        assert_eq!(upper.from(3), 4);
        assert_eq!(NextMark::new(&marks, b, Mark::DigitOrColon).from(3), 6);
        assert_eq!(NextMark::new(&marks, b, Mark::At).from(0), 9);
    }
}
