//! Trains the injection model's weights (`src/injection/weights.bin`).
//!
//!     scripts/train-injection.sh            # = the command below
//!     cargo run --profile host -p ward-core --example train_injection -- \
//!         ../shared/corpora crates/ward-core/src/injection/weights.bin --eval
//!
//! Without the output path nothing is written (experiments); knobs are
//! read from `WARD_TRAIN_*` environment variables (see `Knobs`).
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
//!
//! Evaluation: `--eval` scores the held-out fifth through the whole
//! detector (lexicon + the weights just trained, default policy, the same
//! origins `ward eval` uses) without writing a build; `--exclude a,b`
//! leaves whole files out of training and scores every one of their rows,
//! the cross-corpus check that the model is not memorising one source.
//!
//! Experiments kept for re-running (docs/detection.md, "Tried and
//! rejected"): `WARD_TRAIN_STAGE2=1` fits a document-level second stage on
//! out-of-fold window statistics and scores `--eval` with it;
//! `WARD_TRAIN_DUMP=path` / `WARD_TRAIN_DUMP_OOF=path` write those
//! statistics per row (evaluated rows / out-of-fold training rows) as TSV.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use ward_core::injection::model::{self, for_each_counted_token, Model, FEATURES, HEADER_LEN, MAGIC, WINDOW};
use ward_core::injection::{normalise, Config, Detector};
use ward_core::Origin;

#[path = "synthetic.rs"]
mod synthetic;

const DIM_BITS: u32 = 19;

/// Files never trained on, whatever the row: their licences do not allow it.
const EXCLUDED_FILES: &[&str] = &["tensortrust", "owasp_llm_top10_en"];
const EXCLUDED_SOURCES: &[&str] = &["stanford_alpaca"];

/// Training knobs; the defaults made the checked-in weights. Each can be
/// overridden by an environment variable of the same name (upper case,
/// `WARD_TRAIN_` prefix) for experiments.
struct Knobs {
    epochs: usize,
    warmup: usize,
    learning_rate: f32,
    l2: f32,
    /// Synthetic rows per template.
    synthetic: usize,
    /// Groups weigh (mean size / size) to this power.
    balance: f32,
    seed: u64,
    /// Probability of dropping each feature occurrence in a training step.
    dropout: f32,
    /// Quantisation scale: this per-mille quantile of weight magnitudes maps to 127.
    quantile: usize,
    /// Average the weights over this many final epochs (0: last iterate).
    average: usize,
}

impl Knobs {
    fn from_env() -> Knobs {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(format!("WARD_TRAIN_{name}")).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
        }
        Knobs {
            epochs: var("EPOCHS", 16),
            warmup: var("WARMUP", 2),
            // Presence features leave fewer active weights per window than
            // counts did, so each step moves the logit less: 0.05 under-fit.
            learning_rate: var("LEARNING_RATE", 0.15),
            l2: var("L2", 1e-5),
            synthetic: var("SYNTHETIC", 40),
            balance: var("BALANCE", 0.5),
            seed: var("SEED", 0x2545_F491_4F6C_DD1D),
            dropout: var("DROPOUT", 0.0),
            quantile: var("QUANTILE", 999),
            average: var("AVERAGE", 0),
        }
    }
}

struct Example {
    group: usize,
    label: f32,
    /// Per token, the feature indices that count (see `model::Novelty`).
    tokens: Vec<[Option<u32>; FEATURES]>,
}

/// A corpus row as the evaluation needs it.
struct Row {
    stem: String,
    text: String,
    label: bool,
    origin: Origin,
    held_out: bool,
    trainable: bool,
}

fn main() {
    let mut positional = Vec::new();
    let mut eval = false;
    let mut exclude: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--eval" => eval = true,
            "--exclude" => exclude = args.next().unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            _ => positional.push(a),
        }
    }
    let corpora = PathBuf::from(positional.first().map(String::as_str).unwrap_or("../shared/corpora"));
    let out = positional.get(1).map(PathBuf::from);
    let knobs = Knobs::from_env();
    let rows = read_rows(&corpora.join("injection"));
    let (examples, groups) = examples(&rows, &exclude, knobs.synthetic, &|_| true);
    let bytes = train(&examples, &groups, &knobs);
    let stage2 = (std::env::var("WARD_TRAIN_STAGE2").is_ok()).then(|| fit_stage2(&rows, &exclude, &knobs));
    if let Some(out) = &out {
        std::fs::File::create(out).and_then(|mut f| f.write_all(&bytes)).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    }
    if eval {
        evaluate(&rows, &exclude, bytes, stage2);
    }
}

fn train(examples: &[Example], groups: &[String], knobs: &Knobs) -> Vec<u8> {
    // Groups are balanced by the square root of their size: the largest
    // file does not decide everything, and a 27-row file does not take
    // steps large enough to swing every weight it touches.
    let mut counts = vec![0usize; groups.len()];
    for e in examples {
        counts[e.group] += 1;
    }
    let group_weight: Vec<f32> = counts.iter().map(|&n| (examples.len() as f32 / (groups.len() as f32 * n.max(1) as f32)).powf(knobs.balance)).collect();
    for (g, name) in groups.iter().enumerate() {
        eprintln!("group {name}: {} rows, weight {:.3}", counts[g], group_weight[g]);
    }

    let dim = 1usize << DIM_BITS;
    let mut w = vec![0f32; dim];
    let mut bias = 0f32;
    let mut rng = knobs.seed | 1;
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut contrib = Vec::new();
    let mut kept = Vec::new();
    let mut drop_rng = (knobs.seed ^ 0x9E37_79B9_7F4A_7C15) | 1;
    let mut avg = vec![0f32; if knobs.average > 0 { dim } else { 0 }];
    let mut avg_bias = 0f32;
    for epoch in 0..knobs.epochs {
        shuffle(&mut order, &mut rng);
        let lr = knobs.learning_rate / (1.0 + epoch as f32 * 0.3);
        let mut loss = 0f64;
        for &i in &order {
            let ex = &examples[i];
            if ex.tokens.is_empty() {
                continue;
            }
            contrib.clear();
            contrib.extend(ex.tokens.iter().map(|f| f.iter().flatten().map(|&x| w[x as usize]).sum::<f32>()));
            let end = if epoch < knobs.warmup { (next(&mut rng) as usize) % ex.tokens.len() } else { best_window_end(&contrib) };
            let start = (end + 1).saturating_sub(WINDOW);
            let weight = group_weight[ex.group];
            if knobs.dropout > 0.0 {
                // Dropout: the step sees a random subset of the window's
                // features (scaled up), so no single n-gram can carry a
                // whole class and the weight spreads over its neighbours.
                let keep = 1.0 - knobs.dropout;
                kept.clear();
                for f in &ex.tokens[start..=end] {
                    for &x in f.iter().flatten() {
                        if (next(&mut drop_rng) >> 40) as f32 / (1u64 << 24) as f32 >= knobs.dropout {
                            kept.push(x as usize);
                        }
                    }
                }
                let z = bias + kept.iter().map(|&x| w[x]).sum::<f32>() / keep;
                let p = 1.0 / (1.0 + (-z).exp());
                loss -= f64::from(weight * if ex.label > 0.5 { p.max(1e-7).ln() } else { (1.0 - p).max(1e-7).ln() });
                let g = (p - ex.label) * weight;
                bias -= lr * g * 0.1;
                for &x in &kept {
                    w[x] -= lr * (g / keep + knobs.l2 * w[x]);
                }
                continue;
            }
            let z = bias + contrib[start..=end].iter().sum::<f32>();
            let p = 1.0 / (1.0 + (-z).exp());
            loss -= f64::from(weight * if ex.label > 0.5 { p.max(1e-7).ln() } else { (1.0 - p).max(1e-7).ln() });
            let g = (p - ex.label) * weight;
            bias -= lr * g * 0.1;
            for f in &ex.tokens[start..=end] {
                for &x in f.iter().flatten() {
                    let x = x as usize;
                    w[x] -= lr * (g + knobs.l2 * w[x]);
                }
            }
        }
        if knobs.average > 0 && epoch + knobs.average >= knobs.epochs {
            for (a, x) in avg.iter_mut().zip(&w) {
                *a += x / knobs.average as f32;
            }
            avg_bias += bias / knobs.average as f32;
        }
        eprintln!("epoch {epoch}: loss {:.4}", loss / examples.len() as f64);
    }

    if knobs.average > 0 {
        w = avg;
        bias = avg_bias;
    }
    // Quantise to signed bytes; the scale maps an integer window sum back.
    // The scale is set by a high percentile, not the maximum: a handful of
    // extreme weights would otherwise round every ordinary one to zero.
    let mut mags: Vec<f32> = w.iter().map(|x| x.abs()).filter(|&x| x > 0.0).collect();
    mags.sort_unstable_by(f32::total_cmp);
    let p999 = mags.get(mags.len().saturating_sub(1).min(mags.len() * knobs.quantile / 1000)).copied().unwrap_or(1e-6).max(1e-6);
    let scale = p999 / 127.0;
    let mut bytes = Vec::with_capacity(HEADER_LEN + dim);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&DIM_BITS.to_le_bytes());
    bytes.extend_from_slice(&(WINDOW as u32).to_le_bytes());
    bytes.extend_from_slice(&scale.to_le_bytes());
    bytes.extend_from_slice(&bias.to_le_bytes());
    bytes.extend(w.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8));
    let nonzero = bytes[HEADER_LEN..].iter().filter(|&&b| b != 0).count();
    eprintln!("{} bytes, {nonzero} non-zero weights, scale {scale:.5}, bias {bias:.3}", bytes.len());
    bytes
}

/// Scores rows through the whole detector with `weights`: the held-out
/// fifth of every file, and every row of the files left out of training.
/// Prints the rates at the default thresholds, then at a sweep of
/// thresholds (user-side origins and data origins moved separately).
fn evaluate(rows: &[(Row, serde_json::Value)], exclude: &[String], weights: Vec<u8>, stage2: Option<[f32; DOC_FEATURES + 1]>) {
    let weights: &'static [u8] = Box::leak(weights.into_boxed_slice());
    let dump = std::env::var("WARD_TRAIN_DUMP").ok().map(|p| std::fs::File::create(p).expect("dump file"));
    let mut dump = dump.map(std::io::BufWriter::new);
    let model = Model::parse(weights).expect("freshly trained weights parse");
    let config = Config::default();
    let detector = Detector::with_model(&config, Some(model));
    // (file, slice) -> (label, untrusted, score, hidden) per row
    let show_errors = std::env::var("WARD_TRAIN_ERRORS").is_ok();
    let mut scored: BTreeMap<(String, &str), Vec<(bool, bool, f32, bool)>> = BTreeMap::new();
    for (r, _) in rows {
        let excluded = exclude.contains(&r.stem);
        // Rows never trained on for their licence (Alpaca prompts, Tensor
        // Trust, OWASP) are unseen outside the held-out fifth too.
        let slice = if excluded { "cross (all rows)" } else if r.held_out { "held-out" } else if !r.trainable { "untrained" } else { continue };
        let mut a = detector.assess(&r.text, r.origin);
        if stage2.is_some() || dump.is_some() {
            let f = doc_features(&window_logits(weights, &r.text));
            if let Some(d) = dump.as_mut() {
                let _ = writeln!(d, "{}\t{}\t{}\t{}\t{}\t{}", r.stem, u8::from(r.label), u8::from(r.origin.is_untrusted()), a.lexicon, a.model, f.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("\t"));
            }
            if let Some(p) = &stage2 {
                a.model = stage2_logit(p, &f).max(-1.5);
                a.score = a.lexicon + a.model;
            }
        }
        let threshold = config.thresholds.get(r.origin);
        if show_errors && r.label != (a.hidden || a.score >= threshold) {
            let head: String = r.text.chars().take(160).collect::<String>().replace('\n', " / ");
            eprintln!("{} label={} score={:.2} model={:.2} {:?}: {head}", r.stem, u8::from(r.label), a.score, a.model, detector.explain(&r.text, r.origin));
        }
        scored.entry((r.stem.clone(), slice)).or_default().push((r.label, r.origin.is_untrusted(), a.score, a.hidden));
    }
    let report = |trusted_t: f32, untrusted_t: f32, header: bool| {
        if header {
            println!("{:<28} {:<16} {:>5} {:>7} {:>5} {:>7}", "file", "rows", "pos", "recall", "neg", "fpr");
        }
        for ((stem, slice), v) in &scored {
            let mut t = [0usize; 4];
            for &(label, untrusted, score, hidden) in v {
                let flagged = hidden || score >= if untrusted { untrusted_t } else { trusted_t };
                let i = if label { 0 } else { 2 };
                t[i] += 1;
                t[i + 1] += usize::from(flagged);
            }
            let rate = |n: usize, d: usize| if d == 0 { "-".to_string() } else { format!("{:.4}", n as f64 / d as f64) };
            println!("{stem:<28} {slice:<16} {:>5} {:>7} {:>5} {:>7}", t[0], rate(t[1], t[0]), t[2], rate(t[3], t[2]));
        }
    };
    println!("default thresholds: user-side {}, data {}", config.thresholds.user, config.thresholds.document);
    report(config.thresholds.user, config.thresholds.document, true);
    // WARD_TRAIN_SWEEP="user,data;user,data;..." re-reports at those thresholds.
    let sweep = std::env::var("WARD_TRAIN_SWEEP").unwrap_or_default();
    let pairs = sweep.split(';').filter_map(|p| p.split_once(',')).filter_map(|(a, b)| Some((a.trim().parse::<f32>().ok()?, b.trim().parse::<f32>().ok()?)));
    {
        for (tt, ut) in pairs {
            println!("\nthresholds: user-side {tt}, data {ut}");
            report(tt, ut, false);
        }
    }
}

/// Where a row's text would arrive; the same mapping as `ward eval`.
fn origin_of(row: &serde_json::Value) -> Origin {
    let kind = row.get("kind").and_then(|v| v.as_str()).unwrap_or("");
    match (kind, row.get("carrier").and_then(|v| v.as_str())) {
        (_, Some("tool_output")) => Origin::ToolResult,
        (_, Some(_)) => Origin::Document,
        ("benign_tool_output", None) => Origin::ToolResult,
        ("indirect_injection" | "benign_document", None) => Origin::Document,
        _ => Origin::User,
    }
}

fn read_rows(dir: &Path) -> Vec<(Row, serde_json::Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".jsonl") || p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    let mut rows = Vec::new();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let stem = name.trim_end_matches(".gz").trim_end_matches(".jsonl").to_string();
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let reader: Box<dyn BufRead> = if name.ends_with(".gz") { Box::new(BufReader::new(flate2::read::GzDecoder::new(file))) } else { Box::new(BufReader::new(file)) };
        for line in reader.lines() {
            let line = line.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let Ok(row) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            let source = row.get("source").and_then(|v| v.as_str()).unwrap_or("");
            let trainable = !EXCLUDED_FILES.contains(&stem.as_str()) && !EXCLUDED_SOURCES.iter().any(|s| source.contains(s));
            let held_out = model::is_holdout(&stem, &model::holdout_group(&row));
            let label = row.get("label").and_then(|v| v.as_i64()) == Some(1);
            let text = row.get("text").and_then(|v| v.as_str()).unwrap_or("").to_string();
            rows.push((Row { stem: stem.clone(), text, label, origin: origin_of(&row), held_out, trainable }, row));
        }
    }
    rows
}

/// The line of `text` holding the start of `goal`, if any.
fn injected_line<'t>(text: &'t str, goal: &str) -> Option<&'t str> {
    let probe: String = goal.chars().take(40).collect();
    let at = text.find(probe.as_str())?;
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    Some(&text[start..end])
}

fn featurise(text: &str) -> Vec<[Option<u32>; FEATURES]> {
    let mut tokens = Vec::new();
    for_each_counted_token(&normalise(text).text, 32 - DIM_BITS, |f| tokens.push(f));
    tokens
}

fn examples(rows: &[(Row, serde_json::Value)], exclude: &[String], synthetic_per_template: usize, keep: &dyn Fn(usize) -> bool) -> (Vec<Example>, Vec<String>) {
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    let mut examples = Vec::new();
    let mut group_of = |key: String| {
        let next_id = groups.len();
        *groups.entry(key).or_insert(next_id)
    };
    let mut held_out = 0usize;
    for (i, (r, row)) in rows.iter().enumerate() {
        if !r.trainable || exclude.contains(&r.stem) || !keep(i) {
            continue;
        }
        if r.held_out {
            held_out += 1;
            continue;
        }
        // A poisoned document is a clean one (also in the corpus, as a
        // negative) plus the inserted attack: training on the attack
        // alone keeps the model from learning the carrier (tables,
        // e-mail headers) as a sign of injection.
        let mut text = r.text.as_str();
        if let Some(attack) = row.get("attack_str").and_then(|v| v.as_str()).filter(|a| r.label && text.contains(*a)) {
            text = attack;
        }
        // The same for a poisoned tool output: the line that carries the
        // injected goal (with the attack's own wrapper around it), not the
        // YAML the tool returns.
        if let Some(line) = row.get("injection_goal").and_then(|v| v.as_str()).filter(|_| r.label).and_then(|goal| injected_line(text, goal)) {
            text = line;
        }
        let group = group_of(format!("{}:{}", r.stem, u8::from(r.label)));
        examples.push(Example { group, label: if r.label { 1.0 } else { 0.0 }, tokens: featurise(text) });
    }
    for (text, positive) in synthetic::rows(0x5EED_1A7E_0F00_D5E1, synthetic_per_template) {
        let group = group_of(format!("synthetic:{}", u8::from(positive)));
        examples.push(Example { group, label: if positive { 1.0 } else { 0.0 }, tokens: featurise(&text) });
    }
    eprintln!("{} training rows, {held_out} held out", examples.len());
    let mut names = vec![String::new(); groups.len()];
    for (k, v) in groups {
        names[v] = k;
    }
    (examples, names)
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

/// Document features for the second stage, from the per-position window
/// logits: the best window, how many windows lean positive, length.
const DOC_FEATURES: usize = 6;

fn window_logits(weights: &[u8], text: &str) -> Vec<f32> {
    let word = |i: usize| -> [u8; 4] { weights[i..i + 4].try_into().expect("header") };
    let scale = f32::from_le_bytes(word(16));
    let bias = f32::from_le_bytes(word(20));
    let body = &weights[HEADER_LEN..];
    let mut ring = [0i32; WINDOW];
    let mut slot = 0;
    let mut sum = 0i32;
    let mut out = Vec::new();
    for_each_counted_token(&normalise(text).text, 32 - DIM_BITS, |f| {
        let c: i32 = f.iter().flatten().map(|&i| i32::from(body[i as usize] as i8)).sum();
        sum += c - ring[slot];
        ring[slot] = c;
        slot = (slot + 1) % WINDOW;
        out.push(bias + scale * sum as f32);
    });
    out
}

fn doc_features(logits: &[f32]) -> [f32; DOC_FEATURES] {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let max = if logits.is_empty() { 0.0 } else { max };
    let above = |l: f32| logits.iter().filter(|&&x| x >= l).count() as f32;
    let n = logits.len() as f32;
    let mean = if logits.is_empty() { 0.0 } else { logits.iter().map(|x| x.max(-12.0)).sum::<f32>() / n };
    // The best window that does not overlap the best one's partner: the
    // best pair of disjoint windows, less the best single window.
    let mut prefix = f32::MIN;
    let mut pair = f32::MIN;
    for i in WINDOW..logits.len() {
        prefix = prefix.max(logits[i - WINDOW]);
        pair = pair.max(prefix + logits[i]);
    }
    let second = if pair == f32::MIN { -8.0 } else { (pair - max).max(-8.0) };
    [max, (1.0 + above(0.0)).ln(), (1.0 + above(-3.0)).ln(), (1.0 + n).ln(), mean, second]
}

fn stage2_logit(p: &[f32; DOC_FEATURES + 1], f: &[f32; DOC_FEATURES]) -> f32 {
    p[0] + f.iter().zip(&p[1..]).map(|(a, b)| a * b).sum::<f32>()
}

/// Fold of a training row for cross-fitting: the held-out hash's grouping
/// with another salt, so one attack's rows share a fold.
fn fold_of(stem: &str, group: &str, folds: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ 0x5bd1_e995;
    for b in stem.bytes().chain([1u8]).chain(group.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    (h >> 17) % folds
}

/// Fits the second stage on out-of-fold first-stage scores: each training
/// row's document features come from a first stage trained without its
/// fold, so the second stage learns how held-out scores behave.
fn fit_stage2(rows: &[(Row, serde_json::Value)], exclude: &[String], knobs: &Knobs) -> [f32; DOC_FEATURES + 1] {
    const FOLDS: u64 = 5;
    let fold: Vec<u64> = rows.iter().map(|(r, row)| fold_of(&r.stem, &model::holdout_group(row), FOLDS)).collect();
    let usable = |i: usize| {
        let r = &rows[i].0;
        r.trainable && !r.held_out && !exclude.contains(&r.stem)
    };
    let mut data: Vec<(usize, [f32; DOC_FEATURES], f32, String)> = Vec::new();
    for k in 0..FOLDS {
        let (examples, groups) = examples(rows, exclude, knobs.synthetic, &|i| fold[i] != k);
        let bytes = train(&examples, &groups, knobs);
        for i in (0..rows.len()).filter(|&i| usable(i) && fold[i] == k) {
            let r = &rows[i].0;
            data.push((i, doc_features(&window_logits(&bytes, &r.text)), if r.label { 1.0 } else { 0.0 }, format!("{}:{}", r.stem, u8::from(r.label))));
        }
    }
    data.sort_by_key(|d| d.0);
    if let Ok(path) = std::env::var("WARD_TRAIN_DUMP_OOF") {
        let config = Config::default();
        let lex = Detector::with_model(&Config { model: false, ..config }, None);
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("dump file"));
        for (i, f, _, _) in &data {
            let r = &rows[*i].0;
            let a = lex.assess(&r.text, r.origin);
            let _ = writeln!(out, "{}\t{}\t{}\t{}\t0\t{}", r.stem, u8::from(r.label), u8::from(r.origin.is_untrusted()), a.lexicon, f.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("\t"));
        }
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &data {
        *counts.entry(d.3.as_str()).or_default() += 1;
    }
    let groups = counts.len() as f32;
    let total = data.len() as f32;
    let weight = |g: &str| (total / (groups * counts[g] as f32)).powf(knobs.balance);
    // Newton's method on the weighted logistic loss with a small ridge.
    const D: usize = DOC_FEATURES + 1;
    let ridge: f32 = std::env::var("WARD_TRAIN_STAGE2_RIDGE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    let mut p = [0f32; D];
    for _ in 0..30 {
        let mut g = [0f64; D];
        let mut h = [[0f64; D]; D];
        for (_, f, y, grp) in &data {
            let x: [f32; D] = std::array::from_fn(|j| if j == 0 { 1.0 } else { f[j - 1] });
            let z = stage2_logit(&p, f);
            let q = 1.0 / (1.0 + (-z).exp());
            let w = f64::from(weight(grp));
            for a in 0..D {
                g[a] += w * f64::from((q - y) * x[a]);
                for b in 0..D {
                    h[a][b] += w * f64::from(q * (1.0 - q) * x[a] * x[b]);
                }
            }
        }
        for a in 1..D {
            g[a] += f64::from(ridge * p[a]);
            h[a][a] += f64::from(ridge);
        }
        let step = solve(h, g);
        for a in 0..D {
            p[a] -= step[a] as f32;
        }
    }
    eprintln!("stage 2 on {} out-of-fold rows: {p:?}", data.len());
    p
}

/// Solves `h x = g` by Gaussian elimination with partial pivoting.
fn solve<const D: usize>(mut h: [[f64; D]; D], mut g: [f64; D]) -> [f64; D] {
    for c in 0..D {
        let piv = (c..D).max_by(|&a, &b| h[a][c].abs().total_cmp(&h[b][c].abs())).unwrap_or(c);
        h.swap(c, piv);
        g.swap(c, piv);
        if h[c][c].abs() < 1e-12 {
            continue;
        }
        for r in c + 1..D {
            let m = h[r][c] / h[c][c];
            for k in c..D {
                h[r][k] -= m * h[c][k];
            }
            g[r] -= m * g[c];
        }
    }
    let mut x = [0f64; D];
    for c in (0..D).rev() {
        let s: f64 = (c + 1..D).map(|k| h[c][k] * x[k]).sum();
        x[c] = if h[c][c].abs() < 1e-12 { 0.0 } else { (g[c] - s) / h[c][c] };
    }
    x
}
