use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Policy file (JSON); with --require-signed, a signed envelope.
    policy: PathBuf,
    /// Public key file (base64, from `ward keygen`): the policy must be a
    /// signed envelope that verifies with it, valid now.
    #[arg(long, value_name = "PUBKEY")]
    require_signed: Option<PathBuf>,
    /// With --require-signed: refuse versions below this one.
    #[arg(long, default_value_t = 0, requires = "require_signed")]
    min_version: u64,
}

pub fn run(args: Args) -> Result<ExitCode, String> {
    let text = crate::read(&args.policy)?;
    if let Some(key_path) = &args.require_signed {
        let key = crate::sign::read_public_key(key_path)?;
        return Ok(match ward_core::signing::verify(&text, &key, args.min_version, crate::sign::now_ms()) {
            Ok(v) => {
                println!("OK {} sha256:{} version {} signed", args.policy.display(), v.policy.digest(), v.version);
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("{}:{e}", args.policy.display());
                ExitCode::from(1)
            }
        });
    }
    match ward_core::Policy::from_json(&text) {
        Ok(policy) => {
            println!("OK {} sha256:{}", args.policy.display(), policy.digest());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{}:{e}", args.policy.display());
            Ok(ExitCode::from(1))
        }
    }
}
