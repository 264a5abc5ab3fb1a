//! Calls one stage of the injection pass N times on a text, for callgrind
//! instruction counts per stage (docs/detection.md, "Throughput"):
//!
//!     cargo build --release -p ward-benches --example injection_stages
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!         $CARGO_TARGET_DIR/release/examples/injection_stages STAGE TEXT N
//!
//! STAGE: `normalise`; `tokens` (the token pass alone over normalised
//! text); `model` (token pass + model windows); `lexicon` (token pass +
//! candidate filter + verification); `assess` (all of it); `scan`
//! (`Detector::scan` as User: assess plus any finding); `none` (setup only:
//! subtract its count, divide by N).

use ward_core::injection::{lexicon::Lexicon, model, normalise, Config, Detector};
use ward_core::{Direction, Origin, Segment};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [stage, path, n] = args.as_slice() else {
        eprintln!("usage: injection_stages STAGE TEXT N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let text = std::fs::read_to_string(path).expect("read text");
    let detector = Detector::new(&Config::default());
    let lexicon = Lexicon::new();
    let m = model::Model::builtin().expect("built-in model");
    let norm = normalise(&text).text;
    let segment = Segment::new(text.clone(), Origin::User, "/messages/0/content");
    let mut sink = 0u64;
    for _ in 0..n {
        match stage.as_str() {
            "normalise" => sink += std::hint::black_box(normalise(std::hint::black_box(&text))).text.len() as u64,
            "tokens" => model::tokens(std::hint::black_box(norm.as_bytes()), |t| sink = sink.wrapping_add(u64::from(t.hash ^ t.bigram ^ t.skip ^ t.stem))),
            "model" => sink += m.score(std::hint::black_box(&norm)).to_bits() as u64,
            "lexicon" => {
                let mut hits = Vec::new();
                lexicon.scan(std::hint::black_box(&norm), false, &mut hits);
                sink += hits.len() as u64;
            }
            "assess" => sink += detector.assess(std::hint::black_box(&text), Origin::User).score.to_bits() as u64,
            "scan" => {
                let mut out = Vec::new();
                detector.scan(std::hint::black_box(&segment), Direction::Request, &mut out);
                sink += out.len() as u64;
            }
            "none" => {}
            other => {
                eprintln!("unknown STAGE `{other}`");
                std::process::exit(2);
            }
        }
    }
    println!("{stage}: {sink}");
}
