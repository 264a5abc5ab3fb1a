//! `ward keygen`, `ward sign` and `ward check --require-signed` end to end.

use std::path::PathBuf;
use std::process::Command;

fn ward(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ward")).args(args).output().expect("run ward");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ward-sign-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// Two key pairs and a policy in a fresh directory.
fn setup(test: &str) -> PathBuf {
    let dir = scratch(test);
    for name in ["ops", "other"] {
        let (code, _, err) = ward(&["keygen", "--out", s(&dir.join(name))]);
        assert_eq!(code, 0, "{err}");
    }
    std::fs::write(dir.join("policy.json"), "{\"mode\": \"enforce\", \"limits\": {\"max_request_bytes\": 2048}}").unwrap();
    dir
}

fn sign(dir: &std::path::Path, extra: &[&str]) -> PathBuf {
    let mut args: Vec<String> = vec!["sign".into(), "--key".into(), s(&dir.join("ops.key")).into(), "--key-id".into(), "ops".into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(s(&dir.join("policy.json")).into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = ward(&args);
    assert_eq!(code, 0, "{err}");
    let path = dir.join("signed.json");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn keygen_makes_distinct_keys_and_a_private_secret() {
    let dir = setup("keygen");
    let a = std::fs::read_to_string(dir.join("ops.pub")).unwrap();
    let b = std::fs::read_to_string(dir.join("other.pub")).unwrap();
    assert_ne!(a, b);
    assert_eq!(a.trim().len(), 44, "base64 of 32 bytes");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.join("ops.key")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Never overwrites an existing secret.
    let (code, _, _) = ward(&["keygen", "--out", s(&dir.join("ops"))]);
    assert_ne!(code, 0);
}

#[test]
fn signed_policy_checks_with_its_key_only() {
    let dir = setup("verify");
    let signed = sign(&dir, &["--version", "4", "--not-after", "2999-01-01T00:00:00Z"]);
    let (code, out, _) = ward(&["check", "--require-signed", s(&dir.join("ops.pub")), s(&signed)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK ") && out.contains("version 4 signed"), "{out}");
    // The digest is the policy's own (what audit events carry).
    let (_, plain, _) = ward(&["check", s(&dir.join("policy.json"))]);
    let digest = plain.split_whitespace().nth(2).unwrap();
    assert!(out.contains(digest), "{out} vs {plain}");

    let (code, out, _) = ward(&["check", "--require-signed", s(&dir.join("other.pub")), s(&signed)]);
    assert_eq!(code, 1);
    assert!(out.contains("does not verify"), "{out}");

    let (code, out, _) = ward(&["check", "--require-signed", s(&dir.join("ops.pub")), "--min-version", "5", s(&signed)]);
    assert_eq!(code, 1);
    assert!(out.contains("rollback"), "{out}");
}

#[test]
fn tampered_expired_and_unsigned_policies_fail() {
    let dir = setup("fail");
    let signed = sign(&dir, &["--version", "1"]);
    let text = std::fs::read_to_string(&signed).unwrap().replace("2048", "999999");
    std::fs::write(&signed, text).unwrap();
    let (code, out, _) = ward(&["check", "--require-signed", s(&dir.join("ops.pub")), s(&signed)]);
    assert_eq!(code, 1);
    assert!(out.contains("does not verify"), "{out}");

    let expired = sign(&dir, &["--version", "1", "--not-after", "1000"]);
    let (code, out, _) = ward(&["check", "--require-signed", s(&dir.join("ops.pub")), s(&expired)]);
    assert_eq!(code, 1);
    assert!(out.contains("expired"), "{out}");

    let (code, out, _) = ward(&["check", "--require-signed", s(&dir.join("ops.pub")), s(&dir.join("policy.json"))]);
    assert_eq!(code, 1);
    assert!(out.contains("not a signed policy"), "{out}");
}

#[test]
fn sign_refuses_an_invalid_policy() {
    let dir = setup("invalid");
    std::fs::write(dir.join("policy.json"), "{\"limits\": {\"max_request_bytes\": 0}}").unwrap();
    let (code, _, err) = ward(&["sign", "--key", s(&dir.join("ops.key")), "--version", "1", s(&dir.join("policy.json"))]);
    assert_ne!(code, 0);
    assert!(err.contains("limits.max_request_bytes"), "{err}");
}
