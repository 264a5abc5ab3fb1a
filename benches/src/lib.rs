//! Shared by the benches and the measuring examples: the one generated
//! chat text every figure in docs/performance.md is taken on, so a bench
//! and a callgrind driver never measure two different texts.

const OPENERS: &[&str] = &["Could you help me", "I was wondering how to", "Please explain how to", "Can you show me a way to", "What is the best way to", "I need to", "My team wants to", "Is it possible to"];
const VERBS: &[&str] = &["plan", "write", "summarise", "organise", "compare", "cook", "budget for", "translate", "review", "improve", "schedule", "debug"];
const OBJECTS: &[&str] = &["a weekend trip to the coast", "the quarterly sales report", "a birthday dinner for eight people", "my resume for a design job", "a Python script that parses logs", "the meeting notes from Tuesday", "a short story about a lighthouse keeper", "our garden watering schedule", "the differences between two phone plans", "a polite email to my landlord"];
const TAILS: &[&str] = &["Thanks a lot!", "Keep it short, please.", "I have about an hour.", "It should be friendly but professional.", "Bullet points would be great.", "We're on a tight budget.", "Any tips are welcome.", ""];

/// About `size` bytes of chat-like English, deterministic.
pub fn chat_text(size: usize) -> String {
    let mut s = String::with_capacity(size + 200);
    let mut pick = picker(0x9E37_79B9_7F4A_7C15);
    while s.len() < size {
        s.push_str(OPENERS[pick(OPENERS.len())]);
        s.push(' ');
        s.push_str(VERBS[pick(VERBS.len())]);
        s.push(' ');
        s.push_str(OBJECTS[pick(OBJECTS.len())]);
        s.push_str(if pick(3) == 0 { "? " } else { ". " });
        s.push_str(TAILS[pick(TAILS.len())]);
        s.push(if pick(5) == 0 { '\n' } else { ' ' });
    }
    s
}

/// A deterministic index picker (xorshift64) from `seed`: `pick(n)` is in
/// `0..n`. Generated inputs stay the same from run to run and build to build.
pub fn picker(seed: u64) -> impl FnMut(usize) -> usize {
    let mut x = seed;
    move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    }
}
