//! `ward keygen` and `ward sign`: the operator's side of signed policies
//! (docs/security.md). Key generation lives here, not in the engine: only
//! the CLI reads OS randomness.

use std::path::PathBuf;
use std::process::ExitCode;

use ward_core::signing::{self, Instant};

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key (secret, base64 seed, mode 0600) and PREFIX.pub (base64 public key).
    #[arg(long, default_value = "ward-policy")]
    out: PathBuf,
}

#[derive(clap::Args)]
pub struct SignArgs {
    /// Secret key file (base64 of the 32-byte Ed25519 seed, from `ward keygen`).
    #[arg(long)]
    key: PathBuf,
    /// Policy version; hosts refuse a version lower than the highest they accepted.
    #[arg(long)]
    version: u64,
    /// Start of validity: unix milliseconds or RFC 3339.
    #[arg(long)]
    not_before: Option<String>,
    /// End of validity (exclusive): unix milliseconds or RFC 3339.
    #[arg(long)]
    not_after: Option<String>,
    /// Key name recorded in the envelope (informational).
    #[arg(long, default_value = "")]
    key_id: String,
    /// Policy file (JSON).
    policy: PathBuf,
}

fn instant(text: Option<String>) -> Option<Instant> {
    text.map(|t| match t.parse::<u64>() {
        Ok(ms) => Instant::UnixMs(ms),
        Err(_) => Instant::Rfc3339(t),
    })
}

pub fn keygen(args: KeygenArgs) -> Result<ExitCode, String> {
    use base64::Engine as _;
    let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let secret = base64::engine::general_purpose::STANDARD.encode(key.to_bytes());
    let key_path = args.out.with_extension("key");
    let pub_path = args.out.with_extension("pub");
    write_secret(&key_path, format!("{secret}\n").as_bytes())?;
    std::fs::write(&pub_path, format!("{}\n", signing::public_key_b64(&key))).map_err(|e| format!("{}: {e}", pub_path.display()))?;
    println!("{} {}", key_path.display(), pub_path.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
fn write_secret(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(not(unix))]
fn write_secret(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn sign(args: SignArgs) -> Result<ExitCode, String> {
    let secret = String::from_utf8(crate::read(&args.key)?).map_err(|_| format!("{}: not base64 text", args.key.display()))?;
    let key = signing::secret_key(&secret).map_err(|e| format!("{}: {e}", args.key.display()))?;
    let text = crate::read(&args.policy)?;
    let envelope = signing::sign(&text, &key, &args.key_id, args.version, instant(args.not_before), instant(args.not_after))
        .map_err(|e| format!("{}:{e}", args.policy.display()))?;
    println!("{envelope}");
    Ok(ExitCode::SUCCESS)
}

/// Reads a base64 public key file.
pub(crate) fn read_public_key(path: &std::path::Path) -> Result<ed25519_dalek::VerifyingKey, String> {
    let text = String::from_utf8(crate::read(path)?).map_err(|_| format!("{}: not base64 text", path.display()))?;
    signing::public_key(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
