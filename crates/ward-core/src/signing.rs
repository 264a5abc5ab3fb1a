//! Signed policies: an Ed25519 signature over the policy digest, a version
//! that only goes up, and a validity window.
//!
//! A signed policy is an envelope:
//!
//! ```json
//! {"policy": {...},
//!  "signature": {"key_id": "ops-2026", "version": 7,
//!                "not_before": 1767225600000, "not_after": "2027-01-01T00:00:00Z",
//!                "sig": "base64"}}
//! ```
//!
//! The signature covers [`signed_message`]: the digest of the policy (so
//! formatting does not matter but every setting does), the version and the
//! window. The engine has no clock: hosts pass the time in.

use base64::Engine as _;
use ed25519_dalek::{Signature as DalekSignature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::audit::{AuditEvent, AuditFinding, SCHEMA_VERSION};
use crate::engine::WARD_VERSION;
use crate::finding::{Action, DetectorKind};
use crate::policy::{Policy, PolicyError};
use crate::segment::Origin;

/// The domain tag that starts every signed message, so a Ward policy
/// signature can never be mistaken for a signature over anything else.
pub const MESSAGE_TAG: &str = "ward-policy-v1";

/// A point in time: unix milliseconds or an RFC 3339 string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Instant {
    UnixMs(u64),
    Rfc3339(String),
}

impl Instant {
    /// Milliseconds since the Unix epoch, or why the string is not a time.
    pub fn to_unix_ms(&self) -> Result<u64, String> {
        match self {
            Instant::UnixMs(ms) => Ok(*ms),
            Instant::Rfc3339(text) => {
                let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| format!("`{text}` is neither unix milliseconds nor an RFC 3339 time: {e}"))?;
                u64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("`{text}` is before 1970"))
            }
        }
    }
}

/// The `signature` member of a signed policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySignature {
    /// Names the key for operators; not trusted (the configured key is).
    #[serde(default)]
    pub key_id: String,
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Instant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Instant>,
    /// Base64 of the 64-byte Ed25519 signature.
    pub sig: String,
}

/// What a host demands of the policy it loads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    /// Lowest version accepted (anti-rollback across restarts).
    #[serde(default)]
    pub min_version: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    policy: &'a RawValue,
    signature: PolicySignature,
    /// Present in a plugin configuration; `verify` ignores it and checks
    /// against the key it is given.
    #[serde(default)]
    #[allow(dead_code)]
    require_signed: Option<Requirement>,
}

/// A policy that passed every check, with the version to remember.
#[derive(Debug)]
pub struct Verified {
    pub policy: Policy,
    pub version: u64,
    pub key_id: String,
}

/// A loaded plugin configuration: `version` is `None` for an unsigned policy
/// (allowed only when the configuration does not ask for a signature).
#[derive(Debug)]
pub struct Loaded {
    pub policy: Policy,
    pub version: Option<u64>,
}

/// The bytes the signature covers. Bounds are in unix milliseconds, empty
/// when absent, so "no bound" and "bound at 0" sign differently.
pub fn signed_message(policy_digest: &str, version: u64, not_before_ms: Option<u64>, not_after_ms: Option<u64>) -> Vec<u8> {
    let bound = |b: Option<u64>| b.map(|ms| ms.to_string()).unwrap_or_default();
    format!("{MESSAGE_TAG}\n{policy_digest}\n{version}\n{}\n{}", bound(not_before_ms), bound(not_after_ms)).into_bytes()
}

fn whole(reason: impl Into<String>) -> PolicyError {
    PolicyError { path: String::new(), line: 0, column: 0, reason: reason.into() }
}

fn decode_key(b64: &str, len: usize, what: &str) -> Result<Vec<u8>, PolicyError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| whole(format!("{what} is not base64: {e}")))?;
    if bytes.len() != len {
        return Err(whole(format!("{what} must be {len} bytes, got {}", bytes.len())));
    }
    Ok(bytes)
}

/// Parses a base64 Ed25519 public key.
pub fn public_key(b64: &str) -> Result<VerifyingKey, PolicyError> {
    let bytes = decode_key(b64, 32, "public key")?;
    let mut raw = [0u8; 32];
    raw.copy_from_slice(&bytes);
    VerifyingKey::from_bytes(&raw).map_err(|_| whole("public key is not a valid Ed25519 point"))
}

/// Parses a base64 Ed25519 secret key (the 32-byte seed).
pub fn secret_key(b64: &str) -> Result<SigningKey, PolicyError> {
    let bytes = decode_key(b64, 32, "secret key")?;
    let mut raw = [0u8; 32];
    raw.copy_from_slice(&bytes);
    Ok(SigningKey::from_bytes(&raw))
}

/// Base64 of a key's public half.
pub fn public_key_b64(key: &SigningKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes())
}

/// Wraps `policy_text` (validated first) in a signed envelope.
pub fn sign(policy_text: &[u8], key: &SigningKey, key_id: &str, version: u64, not_before: Option<Instant>, not_after: Option<Instant>) -> Result<String, PolicyError> {
    let policy = Policy::from_json(policy_text)?;
    let nb = not_before.as_ref().map(Instant::to_unix_ms).transpose().map_err(whole)?;
    let na = not_after.as_ref().map(Instant::to_unix_ms).transpose().map_err(whole)?;
    if let (Some(a), Some(b)) = (nb, na) {
        if a >= b {
            return Err(whole("not_before must be earlier than not_after"));
        }
    }
    let sig = key.sign(&signed_message(&policy.digest(), version, nb, na));
    let value: serde_json::Value = serde_json::from_slice(policy_text).map_err(|e| whole(e.to_string()))?;
    let signature = PolicySignature {
        key_id: key_id.to_string(),
        version,
        not_before,
        not_after,
        sig: base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
    };
    let envelope = serde_json::json!({ "policy": value, "signature": signature });
    serde_json::to_string_pretty(&envelope).map_err(|e| whole(e.to_string()))
}

/// Checks a signed envelope against `key` at `now_ms`, refusing versions
/// below `min_version`. Every failure names its reason.
pub fn verify(text: &[u8], key: &VerifyingKey, min_version: u64, now_ms: u64) -> Result<Verified, PolicyError> {
    let text = std::str::from_utf8(text).map_err(|e| whole(format!("signed policy is not UTF-8: {e}")))?;
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| whole(format!("not a signed policy envelope: {e}")))?;
    let policy = Policy::from_json(envelope.policy.get().as_bytes()).map_err(|e| PolicyError {
        path: if e.path.is_empty() { "policy".into() } else { format!("policy.{}", e.path) },
        line: 0,
        column: 0,
        reason: e.reason,
    })?;
    let s = &envelope.signature;
    let nb = s.not_before.as_ref().map(Instant::to_unix_ms).transpose().map_err(|r| PolicyError { path: "signature.not_before".into(), ..whole(r) })?;
    let na = s.not_after.as_ref().map(Instant::to_unix_ms).transpose().map_err(|r| PolicyError { path: "signature.not_after".into(), ..whole(r) })?;
    let sig_bytes = decode_key(&s.sig, 64, "signature").map_err(|e| PolicyError { path: "signature.sig".into(), ..e })?;
    let mut raw = [0u8; 64];
    raw.copy_from_slice(&sig_bytes);
    let sig = DalekSignature::from_bytes(&raw);
    // Strict verification refuses malleable and small-order encodings.
    key.verify_strict(&signed_message(&policy.digest(), s.version, nb, na), &sig)
        .map_err(|_| whole("signature does not verify with the configured public key (policy altered after signing, or signed with another key)"))?;
    if let Some(nb) = nb {
        if now_ms < nb {
            return Err(whole(format!("signed policy is not valid yet: not_before {nb} ms is after now {now_ms} ms")));
        }
    }
    if let Some(na) = na {
        if now_ms >= na {
            return Err(whole(format!("signed policy expired: not_after {na} ms is not after now {now_ms} ms")));
        }
    }
    if s.version < min_version {
        return Err(whole(format!("signed policy version {} is older than the lowest acceptable version {min_version} (rollback refused)", s.version)));
    }
    Ok(Verified { policy, version: s.version, key_id: s.key_id.clone() })
}

/// Loads a plugin configuration: a bare policy, or (when it carries
/// `require_signed`) a signed envelope checked against that key, at
/// `now_ms`, at a version no lower than `min_version` nor `highest_seen`
/// (the host's anti-rollback floor).
pub fn load_config(text: &[u8], now_ms: u64, highest_seen: u64) -> Result<Loaded, PolicyError> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        require_signed: Option<Requirement>,
        #[serde(default)]
        signature: Option<serde::de::IgnoredAny>,
    }
    let probe: Option<Probe> = serde_json::from_slice(text).ok();
    match probe {
        Some(Probe { require_signed: Some(req), .. }) => {
            let key = public_key(&req.public_key).map_err(|e| PolicyError { path: "require_signed.public_key".into(), ..e })?;
            let v = verify(text, &key, req.min_version.max(highest_seen), now_ms)?;
            Ok(Loaded { policy: v.policy, version: Some(v.version) })
        }
        Some(Probe { signature: Some(_), .. }) => {
            Err(whole("configuration is a signed policy but has no `require_signed` key to check it with"))
        }
        _ => Policy::from_json(text).map(|policy| Loaded { policy, version: None }),
    }
}

/// The audit event a host records when it refuses a policy.
pub fn rejection_event(reason: &str, time_ms: u64) -> AuditEvent {
    AuditEvent {
        v: SCHEMA_VERSION,
        time_ms,
        action: Action::Block,
        findings: vec![AuditFinding {
            detector: DetectorKind::Policy,
            rule: "policy.rejected".into(),
            origin: Origin::System,
            path: String::new(),
            action: Action::Block,
            score: 1.0,
            content_sha256: crate::audit::sha256_hex(reason.as_bytes()),
        }],
        ward_version: WARD_VERSION.to_string(),
        ..AuditEvent::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"mode": "enforce", "limits": {"max_request_bytes": 4096}}"#;
    const NOW: u64 = 1_800_000_000_000;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn signed(version: u64, nb: Option<Instant>, na: Option<Instant>) -> String {
        sign(POLICY.as_bytes(), &key(7), "test", version, nb, na).unwrap()
    }

    #[test]
    fn good_signature_loads_the_policy() {
        let v = verify(signed(3, None, None).as_bytes(), &key(7).verifying_key(), 0, NOW).unwrap();
        assert_eq!(v.version, 3);
        assert_eq!(v.policy.limits.max_request_bytes, 4096);
        assert_eq!(v.key_id, "test");
    }

    #[test]
    fn tampered_policy_is_refused() {
        let text = signed(3, None, None).replace("4096", "4097");
        let e = verify(text.as_bytes(), &key(7).verifying_key(), 0, NOW).unwrap_err();
        assert!(e.reason.contains("does not verify"), "{e}");
    }

    #[test]
    fn reformatting_keeps_the_signature_valid() {
        let text = signed(3, None, None).replace("\n", "\n  ");
        assert!(verify(text.as_bytes(), &key(7).verifying_key(), 0, NOW).is_ok());
    }

    #[test]
    fn tampered_version_or_window_is_refused() {
        let text = signed(3, None, Some(Instant::UnixMs(NOW + 10))).replace("\"version\": 3", "\"version\": 4");
        assert!(verify(text.as_bytes(), &key(7).verifying_key(), 0, NOW).unwrap_err().reason.contains("does not verify"));
        let text = signed(3, None, Some(Instant::UnixMs(NOW + 10))).replace(&(NOW + 10).to_string(), &(NOW + 99_999).to_string());
        assert!(verify(text.as_bytes(), &key(7).verifying_key(), 0, NOW).unwrap_err().reason.contains("does not verify"));
    }

    #[test]
    fn wrong_key_is_refused() {
        let e = verify(signed(3, None, None).as_bytes(), &key(8).verifying_key(), 0, NOW).unwrap_err();
        assert!(e.reason.contains("does not verify"), "{e}");
    }

    #[test]
    fn expired_policy_is_refused() {
        let text = signed(3, None, Some(Instant::Rfc3339("2020-01-01T00:00:00Z".into())));
        let e = verify(text.as_bytes(), &key(7).verifying_key(), 0, NOW).unwrap_err();
        assert!(e.reason.contains("expired"), "{e}");
        // The same document is fine while it is valid.
        assert!(verify(text.as_bytes(), &key(7).verifying_key(), 0, 1_500_000_000_000).is_ok());
    }

    #[test]
    fn not_yet_valid_policy_is_refused() {
        let text = signed(3, Some(Instant::UnixMs(NOW + 1)), None);
        let e = verify(text.as_bytes(), &key(7).verifying_key(), 0, NOW).unwrap_err();
        assert!(e.reason.contains("not valid yet"), "{e}");
        assert!(verify(text.as_bytes(), &key(7).verifying_key(), 0, NOW + 1).is_ok());
    }

    #[test]
    fn older_version_is_refused() {
        let e = verify(signed(3, None, None).as_bytes(), &key(7).verifying_key(), 4, NOW).unwrap_err();
        assert!(e.reason.contains("rollback"), "{e}");
        assert!(verify(signed(4, None, None).as_bytes(), &key(7).verifying_key(), 4, NOW).is_ok());
    }

    #[test]
    fn unsigned_or_garbled_envelopes_are_refused() {
        let k = key(7).verifying_key();
        assert!(verify(POLICY.as_bytes(), &k, 0, NOW).is_err());
        let text = signed(3, None, None);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut bad = v.clone();
        bad["signature"]["sig"] = "AAAA".into();
        assert!(verify(bad.to_string().as_bytes(), &k, 0, NOW).unwrap_err().reason.contains("64 bytes"));
        let mut bad = v.clone();
        bad["signature"]["extra"] = 1.into();
        assert!(verify(bad.to_string().as_bytes(), &k, 0, NOW).is_err());
    }

    fn config(text: &str, req: serde_json::Value) -> String {
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["require_signed"] = req;
        v.to_string()
    }

    #[test]
    fn plugin_configuration_requires_what_it_says() {
        let pk = public_key_b64(&key(7));
        let ok = config(&signed(5, None, None), serde_json::json!({"public_key": pk}));
        assert_eq!(load_config(ok.as_bytes(), NOW, 0).unwrap().version, Some(5));
        // The host's highest accepted version is a floor.
        assert!(load_config(ok.as_bytes(), NOW, 6).unwrap_err().reason.contains("rollback"));
        let pinned = config(&signed(5, None, None), serde_json::json!({"public_key": pk, "min_version": 9}));
        assert!(load_config(pinned.as_bytes(), NOW, 0).is_err());
        // An unsigned policy next to require_signed fails.
        let unsigned = config(POLICY, serde_json::json!({"public_key": pk}));
        assert!(load_config(unsigned.as_bytes(), NOW, 0).is_err());
        // A signed policy with nothing to check it against fails too.
        assert!(load_config(signed(5, None, None).as_bytes(), NOW, 0).is_err());
        // A bare policy still loads.
        assert_eq!(load_config(POLICY.as_bytes(), NOW, 0).unwrap().version, None);
    }

    #[test]
    fn rejection_event_is_a_policy_finding() {
        let e = rejection_event("bad", 1);
        assert_eq!(e.findings[0].rule, "policy.rejected");
        assert_eq!(e.action, Action::Block);
    }
}
