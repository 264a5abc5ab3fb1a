use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Policy file (JSON).
    policy: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode, String> {
    let text = crate::read(&args.policy)?;
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
