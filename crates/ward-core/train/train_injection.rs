//! Trains the injection model's weights (`src/injection/weights.bin`).
//!
//!     scripts/train-injection.sh            # = the command below
//!     cargo run --release -p ward-core --example train_injection -- \
//!         ../shared/corpora crates/ward-core/src/injection/weights.bin
//!
//! Deterministic: fixed seed, single thread, same output for the same
//! corpora. Trains only on rows whose licence allows it (MIT, Apache-2.0,
//! CC0): Tensor Trust (no licence), OWASP (CC BY-SA) and the Alpaca seed
//! tasks (CC BY-NC) are skipped, and so is every row in the held-out fifth
//! (`model::is_holdout`), grouped so one attack's rows all fall on one side.
//!
//! The model scores the best window of `model::WINDOW` tokens. Training is
//! multiple-instance: each epoch a text is represented by its currently
//! best-scoring window (a random one during warm-up), so a poisoned e-mail
//! teaches the model about its injected sentence, not about the e-mail.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use ward_core::injection::model::{self, for_each_token, HEADER_LEN, MAGIC, WINDOW};
use ward_core::injection::normalise;

#[path = "synthetic.rs"]
mod synthetic;

/// Synthetic rows per template (see `synthetic.rs`).
const SYNTHETIC_PER_TEMPLATE: usize = 40;

const DIM_BITS: u32 = 18;
const EPOCHS: usize = 20;
const WARMUP: usize = 2;
const LEARNING_RATE: f32 = 0.08;
const L2: f32 = 2e-5;

/// Files never trained on, whatever the row: their licences do not allow it.
const EXCLUDED_FILES: &[&str] = &["tensortrust", "owasp_llm_top10_en"];
const EXCLUDED_SOURCES: &[&str] = &["stanford_alpaca"];

struct Example {
    group: usize,
    label: f32,
    /// (unigram, bigram) per token.
    tokens: Vec<(u32, u32)>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let corpora = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("../shared/corpora"));
    let out = PathBuf::from(args.get(2).map(String::as_str).unwrap_or("crates/ward-core/src/injection/weights.bin"));
    let (examples, groups) = load(&corpora.join("injection"));
    // Groups are balanced by the square root of their size: the largest
    // file does not decide everything, and a 27-row file does not take
    // steps large enough to swing every weight it touches.
    let mut counts = vec![0usize; groups.len()];
    for e in &examples {
        counts[e.group] += 1;
    }
    let group_weight: Vec<f32> = counts.iter().map(|&n| (examples.len() as f32 / (groups.len() as f32 * n.max(1) as f32)).sqrt()).collect();
    for (g, name) in groups.iter().enumerate() {
        eprintln!("group {name}: {} rows, weight {:.3}", counts[g], group_weight[g]);
    }

    let dim = 1usize << DIM_BITS;
    let mut w = vec![0f32; dim];
    let mut bias = 0f32;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut contrib = Vec::new();
    for epoch in 0..EPOCHS {
        shuffle(&mut order, &mut rng);
        let lr = LEARNING_RATE / (1.0 + epoch as f32 * 0.3);
        let mut loss = 0f64;
        for &i in &order {
            let ex = &examples[i];
            if ex.tokens.is_empty() {
                continue;
            }
            contrib.clear();
            contrib.extend(ex.tokens.iter().map(|&(u, b)| w[u as usize] + w[b as usize]));
            let end = if epoch < WARMUP { (next(&mut rng) as usize) % ex.tokens.len() } else { best_window_end(&contrib) };
            let start = (end + 1).saturating_sub(WINDOW);
            let z = bias + contrib[start..=end].iter().sum::<f32>();
            let p = 1.0 / (1.0 + (-z).exp());
            let weight = group_weight[ex.group];
            loss -= f64::from(weight * if ex.label > 0.5 { p.max(1e-7).ln() } else { (1.0 - p).max(1e-7).ln() });
            let g = (p - ex.label) * weight;
            bias -= lr * g * 0.1;
            for &(u, b) in &ex.tokens[start..=end] {
                for f in [u as usize, b as usize] {
                    w[f] -= lr * (g + L2 * w[f]);
                }
            }
        }
        eprintln!("epoch {epoch}: loss {:.4}", loss / examples.len() as f64);
    }

    // Quantise to signed bytes; the scale maps an integer window sum back.
    let max = w.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
    let scale = max / 127.0;
    let mut bytes = Vec::with_capacity(HEADER_LEN + dim);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&DIM_BITS.to_le_bytes());
    bytes.extend_from_slice(&(WINDOW as u32).to_le_bytes());
    bytes.extend_from_slice(&scale.to_le_bytes());
    bytes.extend_from_slice(&bias.to_le_bytes());
    bytes.extend(w.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8));
    std::fs::File::create(&out).and_then(|mut f| f.write_all(&bytes)).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let nonzero = bytes[HEADER_LEN..].iter().filter(|&&b| b != 0).count();
    eprintln!("wrote {} ({} bytes, {nonzero} non-zero weights, scale {scale:.5}, bias {bias:.3})", out.display(), bytes.len());
}

/// The end index of the best window, the same rule `Model::score` applies.
fn best_window_end(contrib: &[f32]) -> usize {
    let mut sum = 0f32;
    let mut best = f32::MIN;
    let mut at = 0;
    for (i, c) in contrib.iter().enumerate() {
        sum += c;
        if i >= WINDOW {
            sum -= contrib[i - WINDOW];
        }
        if sum > best {
            best = sum;
            at = i;
        }
    }
    at
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn shuffle(v: &mut [usize], rng: &mut u64) {
    for i in (1..v.len()).rev() {
        let j = (next(rng) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

fn load(dir: &Path) -> (Vec<Example>, Vec<String>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".jsonl") || p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    let mut examples = Vec::new();
    let mut held_out = 0usize;
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let stem = name.trim_end_matches(".gz").trim_end_matches(".jsonl").to_string();
        if EXCLUDED_FILES.contains(&stem.as_str()) {
            eprintln!("skip {name}: licence does not allow training");
            continue;
        }
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let reader: Box<dyn BufRead> = if name.ends_with(".gz") { Box::new(BufReader::new(flate2::read::GzDecoder::new(file))) } else { Box::new(BufReader::new(file)) };
        for line in reader.lines() {
            let line = line.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let Ok(row) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            let source = row.get("source").and_then(|v| v.as_str()).unwrap_or("");
            if EXCLUDED_SOURCES.iter().any(|s| source.contains(s)) {
                continue;
            }
            if model::is_holdout(&stem, &model::holdout_group(&row)) {
                held_out += 1;
                continue;
            }
            let label = if row.get("label").and_then(|v| v.as_i64()) == Some(1) { 1.0 } else { 0.0 };
            let mut text = row.get("text").and_then(|v| v.as_str()).unwrap_or("");
            // A poisoned document is a clean one (also in the corpus, as a
            // negative) plus the inserted attack: training on the attack
            // alone keeps the model from learning the carrier (tables,
            // e-mail headers) as a sign of injection.
            if let Some(attack) = row.get("attack_str").and_then(|v| v.as_str()).filter(|a| label > 0.5 && text.contains(*a)) {
                text = attack;
            }
            let key = format!("{stem}:{}", label as u8);
            let next_id = groups.len();
            let group = *groups.entry(key).or_insert(next_id);
            let mut tokens = Vec::new();
            for_each_token(&normalise(text).text, 32 - DIM_BITS, |u, b| tokens.push((u, b)));
            examples.push(Example { group, label, tokens });
        }
    }
    for (text, positive) in synthetic::rows(0x5EED_1A7E_0F00_D5E1, SYNTHETIC_PER_TEMPLATE) {
        let key = format!("synthetic:{}", u8::from(positive));
        let next_id = groups.len();
        let group = *groups.entry(key).or_insert(next_id);
        let mut tokens = Vec::new();
        for_each_token(&normalise(&text).text, 32 - DIM_BITS, |u, b| tokens.push((u, b)));
        examples.push(Example { group, label: if positive { 1.0 } else { 0.0 }, tokens });
    }
    eprintln!("{} training rows, {held_out} held out", examples.len());
    let mut names = vec![String::new(); groups.len()];
    for (k, v) in groups {
        names[v] = k;
    }
    (examples, names)
}
