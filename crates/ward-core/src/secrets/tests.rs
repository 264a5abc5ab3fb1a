//! Per-rule tests. Every token here is fake and built for the test; where a
//! format has structure (JWT JSON, base64 credentials) it is built, not
//! pasted.

use super::*;
use crate::Origin;

fn scan_with(config: &Config, text: &str, origin: Origin, direction: Direction) -> Vec<Finding> {
    let d = Detector::new(config);
    let mut out = Vec::new();
    d.scan(&Segment::new(text, origin, "/x"), direction, &mut out);
    out
}

/// Scans with the default policy's detector, built once: a build compiles
/// every rule, which unoptimised test code would otherwise repeat per text.
fn scan(text: &str) -> Vec<Finding> {
    static DEFAULT: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
    let mut out = Vec::new();
    DEFAULT.get_or_init(|| Detector::new(&Config::default())).scan(&Segment::new(text, Origin::Assistant, "/x"), Direction::Response, &mut out);
    out
}

/// Rule ids and matched texts.
fn hits(text: &str) -> Vec<(String, String)> {
    scan(text)
        .into_iter()
        .map(|f| {
            let (a, b) = f.span.unwrap();
            (f.rule, text[a..b].to_string())
        })
        .collect()
}

fn assert_rule(text: &str, rule: &str, matched: &str) {
    let h = hits(text);
    assert!(h.iter().any(|(r, m)| r == rule && m == matched), "expected {rule} on {matched:?} in {text:?}, got {h:?}");
}

fn assert_none(text: &str) {
    let h = hits(text);
    assert!(h.is_empty(), "expected nothing in {text:?}, got {h:?}");
}

/// A deterministic pseudo-random string over `alphabet` (xorshift), so the
/// fake tokens look random without being anyone's real token.
fn fake(seed: u64, len: usize, alphabet: &str) -> String {
    let a: Vec<char> = alphabet.chars().collect();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            a[(x % a.len() as u64) as usize]
        })
        .collect()
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEX: &str = "0123456789abcdef";

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn anthropic_and_openai_keys() {
    let ant = format!("sk-ant-api03-{}AA", fake(1, 93, &(ALNUM.to_string() + "-_")));
    assert_rule(&format!("key {ant} end"), "secrets.anthropic_api_key", &ant);
    let oai = format!("sk-proj-{}T3BlbkFJ{}", fake(2, 20, ALNUM), fake(3, 20, ALNUM));
    assert_rule(&format!("OPENAI={oai}"), "secrets.openai_api_key", &oai);
    let wrong_marker = format!("sk-{}T4BlbkFJ{}", fake(2, 20, ALNUM), fake(3, 20, ALNUM));
    assert!(!hits(&wrong_marker).iter().any(|(r, _)| r == "secrets.openai_api_key"));
}

#[test]
fn aws_key_id_and_secret_pair() {
    let id = format!("AKIA{}", fake(4, 16, UPPER32));
    let secret = fake(5, 40, &(ALNUM.to_string() + "+/"));
    let text = format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n");
    assert_rule(&text, "secrets.aws_access_key_id", &id);
    assert_rule(&text, "secrets.aws_secret_access_key", &secret);
    // The pair without key names: an id followed by a 40-character secret.
    let text = format!("creds: {id} {secret}");
    assert_rule(&text, "secrets.aws_secret_access_key", &secret);
    assert_none("AKIAIOSFODNN7EXAMPLE and AKIAXXXXXXXXXXXXXXXX");
}

#[test]
fn github_tokens_all_prefixes() {
    for (i, p) in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"].iter().enumerate() {
        let t = format!("{p}{}", fake(10 + i as u64, 36, ALNUM));
        assert_rule(&format!("token: {t}"), "secrets.github_token", &t);
    }
    let fine = format!("github_pat_{}_{}", fake(20, 22, ALNUM), fake(21, 59, ALNUM));
    assert_rule(&fine, "secrets.github_token", &fine);
    assert_none("ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

#[test]
fn gitlab_tokens_respect_lengths() {
    let t = format!("glpat-{}", fake(30, 20, &(ALNUM.to_string() + "_-")));
    assert_rule(&t, "secrets.gitlab_token", &t);
    let ptt = format!("glptt-{}", fake(31, 40, ALNUM));
    assert_rule(&ptt, "secrets.gitlab_token", &ptt);
    let too_long = format!("glptt-{}", fake(31, 41, ALNUM));
    assert!(!hits(&too_long).iter().any(|(r, _)| r == "secrets.gitlab_token"));
}

#[test]
fn slack_stripe_sendgrid_twilio_hf_npm_pypi() {
    let slack = format!("xoxb-{}-{}-{}", fake(40, 12, "0123456789"), fake(41, 13, "0123456789"), fake(42, 24, ALNUM));
    assert_rule(&slack, "secrets.slack_token", &slack);
    let hook = format!("https://hooks.slack.com/services/T{}/B{}/{}", fake(43, 8, UPPER32), fake(44, 8, UPPER32), fake(45, 24, ALNUM));
    assert_rule(&hook, "secrets.slack_webhook", &hook["https://".len()..]);
    let stripe = format!("sk_live_{}", fake(46, 24, ALNUM));
    assert_rule(&stripe, "secrets.stripe_key", &stripe);
    assert_none(&format!("pk_live_{}", fake(46, 24, ALNUM)));
    let sg = format!("SG.{}.{}", fake(47, 22, ALNUM), fake(48, 43, ALNUM));
    assert_rule(&sg, "secrets.sendgrid_api_key", &sg);
    let tw = format!("SK{}", fake(49, 32, HEX));
    assert_rule(&tw, "secrets.twilio_key", &tw);
    let hf = format!("hf_{}", fake(50, 34, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"));
    assert_rule(&hf, "secrets.huggingface_token", &hf);
    assert_none("hf_requiredCharacteristicTypesForDisplayMetadata");
    let npm = format!("npm_{}", fake(51, 36, ALNUM));
    assert_rule(&npm, "secrets.npm_token", &npm);
    let pypi = format!("pypi-AgEIcHlwaS5vcmc{}", fake(52, 80, ALNUM));
    assert_rule(&pypi, "secrets.pypi_token", &pypi);
}

#[test]
fn google_and_azure() {
    let key = format!("AIzaSy{}", fake(60, 33, &(ALNUM.to_string() + "_-")));
    assert_rule(&format!("google_maps = \"{key}\""), "secrets.gcp_api_key", &key);
    // Browser keys are public by design: a bare key is not reported.
    assert_none(&format!("<script src=\"https://maps.example/js?k={key}\">"));
    assert_none("AIzaSyabcdefghijklmnopqrstuvwxyz1234567");
    let sa = r#"{"type": "service_account", "project_id": "demo"}"#;
    assert_rule(sa, "secrets.gcp_service_account", r#""type": "service_account""#);
    let azure = format!("{}8Q~{}", fake(61, 3, ALNUM), fake(62, 34, ALNUM));
    assert_rule(&format!("client_secret={azure}"), "secrets.azure_ad_client_secret", &azure);
    let account_key = format!("{}==", fake(63, 86, &(ALNUM.to_string() + "+/")));
    assert_rule(&format!("DefaultEndpointsProtocol=https;AccountName=demo;AccountKey={account_key};"), "secrets.azure_storage_key", &account_key);
}

#[test]
fn private_keys_need_key_material() {
    let body: Vec<String> = (0..4).map(|i| fake(70 + i, 64, &(ALNUM.to_string() + "+/"))).collect();
    let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----", body.join("\n"));
    assert_rule(&format!("here:\n{pem}\nbye"), "secrets.private_key", &pem);
    let ssh = format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----", body.join("\n"));
    assert_rule(&ssh, "secrets.private_key", &ssh);
    assert_none("-----BEGIN PRIVATE KEY-----\nplaceholder\n-----END PRIVATE KEY-----");
    assert_none("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----");
}

#[test]
fn jwt_needs_json_header_and_payload() {
    let h = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let p = b64url(br#"{"sub":"user-17","iat":1700000000}"#);
    let jwt = format!("{h}.{p}.{}", fake(80, 43, &(ALNUM.to_string() + "-_")));
    assert_rule(&format!("Bearer-less {jwt} done"), "secrets.jwt", &jwt);
    let not_json = format!("{h}.eyJ{}.sig", fake(81, 30, ALNUM));
    assert!(!hits(&not_json).iter().any(|(r, _)| r == "secrets.jwt"));
}

#[test]
fn credentials_in_urls_and_command_lines() {
    assert_rule("DATABASE_URL=postgres://app:Xk2v9LqP7z@db.internal:5432/prod", "secrets.url_password", "postgres://app:Xk2v9LqP7z@db.internal:5432");
    assert_none("amqp://user:*****@broker.local");
    assert_none("mysql://user:$PASSWORD@localhost/db");
    assert_rule("curl -u deploy:Qm7xT2vR9k https://ci.local", "secrets.cli_password", "deploy:Qm7xT2vR9k");
    assert_none("curl -u username:password https://ci.local");
    assert_none("curl -u \"${USER}:${PASS}\" https://ci.local");
}

#[test]
fn authorization_headers() {
    let basic = base64::engine::general_purpose::STANDARD.encode("svc:Qm7xT2vR9k");
    assert_rule(&format!("curl -H 'Authorization: Basic {basic}' https://x"), "secrets.http_authorization", &basic);
    assert_none("curl -H \"Authorization: Bearer $TOKEN\" https://x");
    assert_none("curl -H \"Authorization: Bearer <your token>\" https://x");
}

#[test]
fn generic_assignments_and_vendor_prefixes() {
    let v = fake(90, 32, ALNUM);
    assert_rule(&format!("MYVENDOR_API_KEY=\"{v}\""), GENERIC_RULE, &v);
    assert_rule(&format!("db_password = 'Tr0ub4dor&3x'"), GENERIC_RULE, "Tr0ub4dor&3x");
    let p = format!("pnu_{}", fake(91, 36, ALNUM));
    assert_rule(&format!("prefect token {p}"), VENDOR_RULE, &p);
    assert_none("api_version = 2024-01-01");
    assert_none("public_key = \"MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE\"");
}

#[test]
fn prefix_alone_is_not_a_secret() {
    assert_none("AKIA is a prefix; sk- too; ghp_short; the key to success; password: (see vault)");
}

#[test]
fn most_specific_rule_wins_an_overlap() {
    let t = format!("GITHUB_TOKEN={}", format!("ghp_{}", fake(92, 36, ALNUM)));
    let h = hits(&t);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].0, "secrets.github_token");
}

#[test]
fn actions_follow_channel_and_overrides() {
    let t = format!("ghp_{}", fake(93, 36, ALNUM));
    let c = Config::default();
    assert_eq!(scan_with(&c, &t, Origin::User, Direction::Request)[0].action, Action::Block);
    assert_eq!(scan_with(&c, &t, Origin::Assistant, Direction::Response)[0].action, Action::Redact);
    let mut c = Config { tool_arguments: Some(Action::Log), ..Config::default() };
    assert_eq!(scan_with(&c, &t, Origin::ToolCall, Direction::Response)[0].action, Action::Log);
    c.rules.insert("secrets.github_token".into(), Actions { request: Some(Action::Redact), mask: Some(MaskStyle::Last4), ..Actions::default() });
    let f = &scan_with(&c, &t, Origin::User, Direction::Request)[0];
    assert_eq!(f.action, Action::Redact);
    assert!(f.mask.as_deref().unwrap().ends_with(&t[t.len() - 4..]));
    assert!(f.mask.as_deref().unwrap().starts_with("***_"));
}

#[test]
fn disabled_rule_is_skipped_and_unknown_rule_rejected() {
    let key = format!("AKIA{}", fake(94, 16, UPPER32));
    let c = Config { disable: vec!["secrets.aws_access_key_id".into()], ..Config::default() };
    assert!(scan_with(&c, &key, Origin::User, Direction::Request).is_empty());
    let bad = Config { disable: vec!["secrets.nope".into()], ..Config::default() };
    assert_eq!(bad.validate().unwrap_err().0, "disable[0]");
    let mut bad = Config::default();
    bad.rules.insert("secrets.nope".into(), Actions::default());
    assert!(bad.validate().is_err());
}

#[test]
fn min_severity_drops_lower_rules() {
    let c = Config { min_severity: Severity::High, ..Config::default() };
    let v = fake(95, 32, ALNUM);
    assert!(scan_with(&c, &format!("api_key=\"{v}\""), Origin::User, Direction::Request).is_empty());
}

#[test]
fn never_panics_and_spans_are_char_boundaries() {
    let pieces = [
        "é",
        "€",
        "😀",
        "sk-ant-",
        "AKIA",
        "ghp_",
        "-----BEGIN",
        "eyJ",
        "://",
        ":",
        "@",
        "=",
        "key",
        "password",
        " ",
        "\n",
        "Q~",
        "AP",
        ".",
        "xox",
        "A",
        "7",
        "\"",
        "AIza",
        "-u ",
        "Authorization: Basic ",
        ".okta.com",
        ".blob.core.windows.net",
        "dev.azure.com/",
        "algolia_app_id",
        "REACT_APP_",
        "_user",
        "age1",
        "-",
        "'",
    ];
    let mut x: u64 = 0x1234_5678;
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..(x % 40) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(pieces[(x % pieces.len() as u64) as usize]);
        }
        for f in scan(&s) {
            let (a, b) = f.span.unwrap();
            assert!(a < b && s.is_char_boundary(a) && s.is_char_boundary(b), "{s:?}");
        }
    }
}

// --- Provider formats added from the providers' documented token shapes ----

const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#[test]
fn nvidia_segment_clickup_stackhawk() {
    let nv = format!("nvapi-{}", fake(21, 64, &(ALNUM.to_string() + "-_")));
    assert_rule(&format!("NVIDIA_API_KEY={nv}"), "secrets.nvidia_api_key", &nv);
    assert!(!hits(&format!("nvapi-{}", fake(21, 40, ALNUM))).iter().any(|(r, _)| r == "secrets.nvidia_api_key"));

    let seg = format!("sgp_{}", fake(22, 64, ALNUM));
    assert_rule(&format!("token: {seg}"), "secrets.segment_token", &seg);
    // Sourcegraph's hex `sgp_` tokens stay Sourcegraph's.
    let sg = format!("sgp_{}", fake(23, 40, HEX));
    assert_rule(&format!("SRC_ACCESS_TOKEN={sg}"), "secrets.sourcegraph_token", &sg);

    let cu = format!("pk_{}_{}", fake(24, 8, "123456789"), fake(25, 32, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
    assert_rule(&format!("clickup: {cu}"), "secrets.clickup_token", &cu);
    assert!(!hits(&format!("pk_{}_{}", "1234567", "A".repeat(32))).iter().any(|(r, _)| r == "secrets.clickup_token"));

    let hawk = format!("hawk.{}.{}", fake(26, 20, ALNUM), fake(27, 20, ALNUM));
    assert_rule(&format!("HAWK_API_KEY=\"{hawk}\""), "secrets.stackhawk_api_key", &hawk);
    assert!(!hits("the hawk.flies.over the hill").iter().any(|(r, _)| r == "secrets.stackhawk_api_key"));
}

#[test]
fn telegram_token_named_by_its_line() {
    let token = format!("{}:{}", fake(28, 10, "123456789"), fake(29, 35, &(ALNUM.to_string() + "_-")));
    assert_rule(&format!("telegram bot: {token}"), "secrets.telegram_bot_token", &token);
    assert_rule(&format!("notify: tgram://{token}/12345"), "secrets.telegram_bot_token", &token);
    // Without Telegram on the line a `digits:chars` pair is not claimed.
    assert!(!hits(&format!("ratio {token}")).iter().any(|(r, _)| r == "secrets.telegram_bot_token"));
}

#[test]
fn salesforce_fullstory_grafana() {
    let sf = format!("00D{}!{}.{}", fake(30, 12, ALNUM), fake(31, 60, ALNUM), fake(32, 30, ALNUM));
    assert_rule(&format!("Access Token      {sf}\n"), "secrets.salesforce_token", &sf);
    assert!(!hits(&format!("00D{}!{}", fake(30, 12, ALNUM), "EXAMPLE".repeat(14))).iter().any(|(r, _)| r == "secrets.salesforce_token"));

    let fs = format!("na1.{}", fake(33, 96, B64));
    assert_rule(&format!("FULLSTORY_API_KEY={fs}"), "secrets.fullstory_api_key", &fs);
    assert!(!hits("see na1.example.com for the docs").iter().any(|(r, _)| r == "secrets.fullstory_api_key"));

    let key = format!(r#"{{"k":"{}","n":"ci-bot","id":7}}"#, fake(34, 32, ALNUM));
    let b64 = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
    assert!(b64.starts_with("eyJrIjoi"), "{b64}");
    assert_rule(&format!("GrafanaClient(\"{b64}\")"), "secrets.grafana_api_key", &b64);
    // Same prefix, but not a Grafana key object.
    let other = base64::engine::general_purpose::STANDARD.encode(br#"{"k":1,"x":"not a grafana key at all"}"#);
    assert!(!hits(&other).iter().any(|(r, _)| r == "secrets.grafana_api_key"));
}

#[test]
fn truenas_and_thingsboard_tokens_in_their_api_shapes() {
    let key = format!("12-{}", fake(35, 64, ALNUM));
    let msg = format!(r#"{{"id":"a1","msg":"method","method":"auth.login_with_api_key","params":["{key}"]}}"#);
    assert_rule(&msg, "secrets.truenas_api_key", &key);
    let other = format!(r#"{{"method":"auth.login","params":["{key}"]}}"#);
    assert!(!hits(&other).iter().any(|(r, _)| r == "secrets.truenas_api_key"));

    let tb = fake(36, 20, &(ALNUM.to_string() + "0123456789"));
    assert_rule(&format!("POST https://tb.example.net/api/v1/{tb}/telemetry"), "secrets.thingsboard_token", &tb);
    assert!(!hits("GET /api/v1/organizations/telemetry").iter().any(|(r, _)| r == "secrets.thingsboard_token"));
}

#[test]
fn netrc_and_powershell_plaintext_passwords() {
    let pw = fake(37, 14, &(ALNUM.to_string() + "!#%"));
    assert_rule(&format!("machine git.corp.test login deploy password {pw}\n"), "secrets.netrc_password", &pw);
    assert_rule(&format!("machine git.corp.test\n  login deploy\n  password {pw}\n"), "secrets.netrc_password", &pw);
    assert!(!hits("machine git.corp.test login deploy password $NETRC_PASSWORD").iter().any(|(r, _)| r == "secrets.netrc_password"));
    assert!(!hits("the machine learning login page has a password field").iter().any(|(r, _)| r == "secrets.netrc_password"));

    let ps = fake(38, 18, ALNUM);
    assert_rule(&format!("$p = ConvertTo-SecureString \"{ps}\" -AsPlainText -Force"), "secrets.powershell_plaintext_password", &ps);
    assert!(!hits("$p = ConvertTo-SecureString $env:PW -AsPlainText -Force").iter().any(|(r, _)| r == "secrets.powershell_plaintext_password"));
}

#[test]
fn cloudflare_and_square_bodies() {
    let cf = format!("v1.0-{}-{}", fake(39, 24, HEX), fake(40, 146, HEX));
    assert_rule(&format!("CF_ORIGIN_CA_KEY={cf}"), "secrets.cloudflare_origin_ca_key", &cf);
    let cf_groups = format!("v1.0-{}-{}", fake(41, 64, HEX), fake(42, 128, HEX));
    assert_rule(&format!("service_key: \"{cf_groups}\""), "secrets.cloudflare_origin_ca_key", &cf_groups);
    assert!(!hits("upgrade to v1.0-beta today").iter().any(|(r, _)| r == "secrets.cloudflare_origin_ca_key"));

    // An OAuth secret whose body holds `_` and `-` is judged on all of it.
    let sq = format!("sq0csp-{}_{}-{}", fake(43, 20, ALNUM), fake(44, 12, ALNUM), fake(45, 9, ALNUM));
    assert_rule(&format!("SQUARE_SECRET={sq}"), "secrets.square_token", &sq);
}

#[test]
fn legacy_sonar_tokens_by_their_property_name() {
    let t = fake(46, 40, HEX);
    assert_rule(&format!("mvn sonar:sonar -Dsonar.login={t}"), "secrets.sonar_token", &t);
    assert_rule(&format!("$sonarLogin = \"{t}\""), "secrets.sonar_token", &t);
    assert_rule(&format!("SONAR_TOKEN: {t}"), "secrets.sonar_token", &t);
    assert!(!hits(&format!("sonar.login={}", "0".repeat(40))).iter().any(|(r, _)| r == "secrets.sonar_token"));
}

#[test]
fn a_rejected_notion_literal_inside_a_name_leaves_the_value_to_key_rules() {
    let v = fake(47, 32, HEX);
    let h = hits(&format!("acme_secret_key={v}"));
    assert!(h.iter().any(|(r, m)| r == GENERIC_RULE && *m == v), "{h:?}");
}

#[test]
fn mapbox_nightfall_tailscale_pubnub() {
    let payload = b64url(br#"{"u":"someone","a":"ckq1x2y3z0000abcd"}"#);
    let sig = fake(100, 22, &(ALNUM.to_string() + "-_"));
    let secret = format!("sk.{payload}.{sig}");
    assert_rule(&format!("MAPBOX_TOKEN='{secret}'"), "secrets.mapbox_token", &secret);
    let public = format!("pk.{payload}.{sig}");
    assert_rule(&format!("mapboxgl.accessToken = '{public}';"), "secrets.mapbox_public_token", &public);
    // The payload must be the user JSON Mapbox writes.
    let other = format!("sk.{}.{sig}", b64url(br#"{"sub":"someone","iat":17}"#));
    assert!(!hits(&other).iter().any(|(r, _)| r.starts_with("secrets.mapbox")));
    let nf = format!("NF-{}", fake(101, 32, ALNUM));
    assert_rule(&format!("nightfall: {nf}"), "secrets.nightfall_api_key", &nf);
    assert!(!hits(&format!("NF-{}", fake(101, 33, ALNUM))).iter().any(|(r, _)| r == "secrets.nightfall_api_key"));
    let ts = format!("tskey-auth-{}CNTRL-{}", fake(102, 10, ALNUM), fake(103, 33, ALNUM));
    assert_rule(&format!("TS_AUTHKEY={ts}"), "secrets.tailscale_key", &ts);
    assert_none("the tskey- prefix");
    let pubnub = format!("pub-c-{}-{}-{}-{}-{}", fake(104, 8, HEX), fake(105, 4, HEX), fake(106, 4, HEX), fake(107, 4, HEX), fake(108, 12, HEX));
    assert_rule(&pubnub, "secrets.pubnub_key", &pubnub);
}

#[test]
fn django_keys_and_connection_string_passwords() {
    let key = fake(110, 50, "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)");
    assert_rule(&format!("SECRET_KEY = '{key}'"), "secrets.django_secret_key", &key);
    assert_rule(&format!("os.environ.get(\"DJANGO_SECRET_KEY\", \"{key}\")"), "secrets.django_secret_key", &key);
    // Letters only is a name, not one of Django's random keys.
    assert!(!hits("SECRET_KEY = 'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx'").iter().any(|(r, _)| r == "secrets.django_secret_key"));
    assert_rule("Server=db1;Database=shop;User Id=shop_app;Password=Wq7-rT2x;", "secrets.connection_string_password", "Wq7-rT2x");
    assert_rule("Driver={ODBC Driver 18};Uid=report;Pwd=s3cr3t!;", "secrets.connection_string_password", "s3cr3t!");
    assert!(!hits("uid=#{cfg['uid']};pwd=#{cfg['pwd']}").iter().any(|(r, _)| r == "secrets.connection_string_password"));
    assert!(!hits("User ID=app;Password=$(DB_PASSWORD);").iter().any(|(r, _)| r == "secrets.connection_string_password"));
}

#[test]
fn widened_provider_formats() {
    let ant = format!("sk-ant-sid123-{}AA", fake(111, 93, &(ALNUM.to_string() + "-_")));
    assert_rule(&ant, "secrets.anthropic_api_key", &ant);
    let fb = format!("EAAG{}", fake(112, 48, ALNUM));
    assert_rule(&format!("fb_token: \"{fb}\""), "secrets.facebook_token", &fb);
    assert!(!hits(&format!("EAAG{}", fake(112, 30, ALNUM))).iter().any(|(r, _)| r == "secrets.facebook_token"));
    // The tenant host of a webhook URL is any name, `example` included.
    let path = format!("{}/{}", fake(113, 32, HEX), fake(114, 32, HEX));
    assert_rule(&format!("https://example.tines.com/webhook/{path}"), "secrets.webhook_url", &format!("example.tines.com/webhook/{path}"));
    // `curl … \` continued on the next line.
    let pair = format!("svc-{}:{}", fake(115, 12, ALNUM), fake(116, 24, ALNUM));
    assert_rule(&format!("curl -X POST https://api.example.test \\\n-u {pair}\n"), "secrets.cli_password", &pair);
}

#[test]
fn a_literal_inside_a_word_does_not_veto_the_key_rules() {
    // `dapi` (Databricks) inside `rapidapi_key`, `sk-` (OpenAI) after `_`.
    let v = fake(117, 40, ALNUM);
    assert_rule(&format!("rapidapi_key={v}"), GENERIC_RULE, &v);
    let w = format!("vendor_sk-{}", fake(118, 40, ALNUM));
    assert!(hits(&format!("acme_secret={w}")).iter().any(|(r, _)| r == GENERIC_RULE), "{:?}", hits(&format!("acme_secret={w}")));
    // A literal that opens with punctuation still starts its own token.
    assert!(!hits("//registry.example:_authToken=743b294a-cd03-11ec-9d64-0242ac120002").iter().any(|(r, _)| r == GENERIC_RULE));
}

#[test]
fn named_credentials_are_literals_behind_a_key_name() {
    for (text, value) in [
        ("password = 'open sesame'", "open sesame"),
        ("password = open_sesame", "open_sesame"),
        ("vendor_key = abcd1234", "abcd1234"),
        ("vendor-secret-key=9z8y7x6w", "9z8y7x6w"),
        ("ipinfo private token abcdef12345678", "abcdef12345678"),
        ("acmeTOKEN=abcdefabcdefabcdefabcdefabcdef", "abcdefabcdefabcdefabcdefabcdef"),
        ("acme access TOKEN abcdefabcdefabcdefabcdefabcdef", "abcdefabcdefabcdefabcdefabcdef"),
        ("acme private access key\nZXC2JK3HV4TY5UIO6PLK", "ZXC2JK3HV4TY5UIO6PLK"),
    ] {
        assert_rule(text, NAMED_RULE, value);
    }
    for text in [
        "password = \"${DB_PASSWORD}\"",
        "password = %DB_PASSWORD%",
        "psexec -u admin -p $Password",
        "password=###### dbname=app",
        "api_key = \"<your api key>\"",
        "api_key = YOUR_API_KEY_HERE",
        "api_key = xxxxxxxxxxxx",
        "password = \"password\"",
        "password = \"\", user = \"bob\"",
        "\"max_tokens\": 4096000",
        "{\"key\": \"Enter\", \"code\": 13}",
        "passwordVariable: 'PASSWORD'",
        "char *password = NULL;",
        "pwd = (char *) (p + ulen + 2);",
        "const password = process.env.DB_PASSWORD || \"not-set\"",
        "the access token expired yesterday",
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;",
        "sort_key = \"created_at_desc\"",
        "<entry key=\"jetbrains.mps.v8_elimination\" value=\"executed\" />",
        "SUMO_ACCESS_KEY=`etcdctl get /sumologic_secret`",
    ] {
        assert!(!hits(text).iter().any(|(r, _)| r == NAMED_RULE || r == GENERIC_RULE), "{text:?}: {:?}", hits(text));
    }
}

#[test]
fn named_credentials_are_redacted_not_refused() {
    let config = Config::default();
    let text = "password = 'open sesame'";
    for (origin, direction) in [(Origin::User, Direction::Request), (Origin::Assistant, Direction::Response)] {
        let found = scan_with(&config, text, origin, direction);
        let f = found.iter().find(|f| f.rule == NAMED_RULE).expect("named finding");
        assert_eq!(f.action, Action::Redact, "{direction:?}");
    }
    // Its own knob, apart from the strong key-name rule.
    let mut strict = Config::default();
    strict.rules.insert(NAMED_RULE.into(), crate::detect::Actions { request: Some(Action::Block), ..Default::default() });
    let found = scan_with(&strict, text, Origin::User, Direction::Request);
    assert!(found.iter().any(|f| f.rule == NAMED_RULE && f.action == Action::Block));
    assert!(rules().iter().any(|&(id, sev)| id == NAMED_RULE && sev == Severity::Low));
}

// --- Identifier tiers: tenant endpoints and account identifiers -------------

/// The findings of `rule` in `text`, as (matched text, action).
fn found_by(text: &str, rule: &str, origin: Origin, direction: Direction) -> Vec<(String, Action)> {
    scan_with(&Config::default(), text, origin, direction)
        .into_iter()
        .filter(|f| f.rule == rule)
        .map(|f| {
            let (a, b) = f.span.unwrap();
            (text[a..b].to_string(), f.action)
        })
        .collect()
}

#[test]
fn tenant_endpoints_of_credentialed_saas() {
    for (text, host) in [
        ("Sign in at https://acme-prod.okta.com/oauth2/default", "acme-prod.okta.com"),
        ("issuer: https://acme.eu.auth0.com/", "acme.eu.auth0.com"),
        ("AUTH0_DOMAIN=northpole-7.auth0.com", "northpole-7.auth0.com"),
        ("docker login globex.jfrog.io", "globex.jfrog.io"),
        ("Confluence lives at initech.atlassian.net.", "initech.atlassian.net"),
        ("Instance Url  https://Globex.my.salesforce.com", "Globex.my.salesforce.com"),
        ("AZURE_OPENAI_ENDPOINT=https://globex-east.openai.azure.com/", "globex-east.openai.azure.com"),
        ("https://globexdata01.blob.core.windows.net/backups/db.bak", "globexdata01.blob.core.windows.net"),
        ("host: dbc-4f2a91c7-77e1.cloud.databricks.com", "dbc-4f2a91c7-77e1.cloud.databricks.com"),
        ("account = xy12345.eu-west-1.snowflakecomputing.com", "xy12345.eu-west-1.snowflakecomputing.com"),
        ("mongodb+srv://cluster0.k3x9q.mongodb.net/app", "cluster0.k3x9q.mongodb.net"),
        ("svc-ci@globex-build.iam.gserviceaccount.com", "globex-build.iam.gserviceaccount.com"),
        ("git remote add origin https://dev.azure.com/globex-eng/_git/api", "dev.azure.com/globex-eng"),
    ] {
        let got = found_by(text, TENANT_RULE, Origin::Assistant, Direction::Response);
        assert_eq!(got, vec![(host.to_string(), Action::Log)], "{text:?}");
    }
    // The vendors' own sites, documentation stand-ins, templates and hosts
    // that only end like a tenant suffix.
    for text in [
        "See https://developer.okta.com/docs and https://manage.auth0.com/",
        "Tenant: contoso.onmicrosoft.com (fabrikam.onmicrosoft.com works too)",
        "your-tenant.okta.com, YOUR_DOMAIN.auth0.com, {yourDomain}.auth0.com",
        "https://example.myshopify.com and https://example-org.auth0.com",
        "https://www.okta.com and https://us.auth0.com",
        "notokta.com, okta.com, acme.okta.community, acme_okta.com",
        "https://dev.azure.com/fabrikam/ and https://dev.azure.com/{organization}",
        "az appconfig kv list --endpoint https://contoso.azconfig.io",
    ] {
        assert!(found_by(text, TENANT_RULE, Origin::Assistant, Direction::Response).is_empty(), "{text:?}: {:?}", hits(text));
    }
}

#[test]
fn account_identifiers_behind_vendor_qualified_names() {
    let uuid = format!("{}-{}-4{}-a{}-{}", fake(300, 8, HEX), fake(301, 4, HEX), fake(302, 3, HEX), fake(303, 3, HEX), fake(304, 12, HEX));
    let app_id = fake(305, 10, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    let client_id = fake(306, 64, &(ALNUM.to_string() + "_-"));
    let age = format!("age1{}", fake(307, 58, "qpzry9x8gf2tvdw0s3jn54khce6mua7l"));
    for (text, value) in [
        (format!("algolia_app_id = \"{app_id}\""), app_id.clone()),
        (format!("const config = {{ paypalClientId: '{client_id}' }}"), client_id.clone()),
        (format!("AZURE_TENANT_ID={uuid}"), uuid.clone()),
        (format!("confluent client_id={app_id}"), app_id.clone()),
        ("TWITTER_ID: \"Kp3vQ8wZr2Lm\"".to_string(), "Kp3vQ8wZr2Lm".to_string()),
        ("snowflake_user = \"etl_loader7\"".to_string(), "etl_loader7".to_string()),
        ("SNOWFLAKE_ACCOUNT: globex-analytics".to_string(), "globex-analytics".to_string()),
        ("mongodb-public: mqv7hzre".to_string(), "mqv7hzre".to_string()),
        ("AWS_ACCOUNT_ID=830194675215".to_string(), "830194675215".to_string()),
        ("REACT_APP_AUTH_USER=orders_bot   # shared".to_string(), "orders_bot".to_string()),
        ("# NEXT_PUBLIC_ADMIN_USERNAME=helpdesk".to_string(), "helpdesk".to_string()),
        (format!("recipient: {age}"), age.clone()),
    ] {
        let got = found_by(&text, IDENTIFIER_RULE, Origin::Assistant, Direction::Response);
        assert_eq!(got, vec![(value, Action::Log)], "{text:?}: {:?}", hits(&text));
    }
    for text in [
        // Prose, and ids of things other than accounts and apps.
        "My GitHub username: torvalds",
        "stripe_price_id = \"price_1Nq8Zr2eZvKYlo2C\"",
        "slack_channel_id: C04AB12CD9",
        // Secrets are the key-name rules' business, not this tier's.
        "github_token_id = \"ghx_notatoken\"",
        // References, templates, stock words and sample runs.
        "algolia_app_id = ALGOLIA_APP_ID",
        "algolia_app_id: ${ALGOLIA_APP_ID}",
        "algolia_app_id: process.env.ALGOLIA_APP_ID",
        "snowflake_user = null",
        "twitter_id: true",
        "algolia_app_id = \"abcdefghij\"",
        "FACEBOOK_APP_ID=123456789012345",
        "discord_app_id=000000000000000000",
        "export SUMOLOGIC_ACCESSID=XXXXXXXXXXXXXX",
        "snowflake_user = \"your_user\"",
        "REACT_APP_MAILER_USERNAME=smtp_username",
        // A front-end variable qualifies user names, not public ids.
        "REACT_APP_FIREBASE_APP_ID=1:830194675215:web:9f3a",
        "REACT_APP_USER=$DB_USER",
        // A vendor name without an identifier word.
        "discord = 4Kp3vQ8wZr2Lm",
        // A vendor word inside another word.
        "subalgolia_app_id = K3P9ZQ2W7Y",
        // Too short to be an age recipient.
        "age1qpzry9x8gf2tvdw0s3jn54khce6mua7l",
    ] {
        assert!(found_by(text, IDENTIFIER_RULE, Origin::Assistant, Direction::Response).is_empty(), "{text:?}: {:?}", hits(text));
    }
}

#[test]
fn identifier_tiers_log_by_default_and_can_be_raised() {
    let text = "AUTH0_DOMAIN=northpole-7.auth0.com\nalgolia_app_id = \"K3P9ZQ2W7Y\"";
    for (origin, direction) in [(Origin::User, Direction::Request), (Origin::Assistant, Direction::Response), (Origin::ToolCall, Direction::Request)] {
        let found = scan_with(&Config::default(), text, origin, direction);
        for rule in [TENANT_RULE, IDENTIFIER_RULE] {
            let f = found.iter().find(|f| f.rule == rule).unwrap_or_else(|| panic!("{rule} missing: {found:?}"));
            assert_eq!(f.action, Action::Log, "{rule} {direction:?}");
        }
    }
    // Raised per rule through the ordinary overrides, which the policy
    // check accepts by id.
    let mut raised = Config::default();
    raised.rules.insert(TENANT_RULE.into(), Actions { response: Some(Action::Redact), ..Actions::default() });
    raised.rules.insert(IDENTIFIER_RULE.into(), Actions { request: Some(Action::Block), ..Actions::default() });
    assert!(raised.validate().is_ok());
    let found = scan_with(&raised, text, Origin::Assistant, Direction::Response);
    assert!(found.iter().any(|f| f.rule == TENANT_RULE && f.action == Action::Redact && f.mask.as_deref() == Some("[TENANT_HOST]")), "{found:?}");
    let found = scan_with(&raised, text, Origin::User, Direction::Request);
    assert!(found.iter().any(|f| f.rule == IDENTIFIER_RULE && f.action == Action::Block), "{found:?}");
    let ids: Vec<(&str, Severity)> = rules();
    assert!(ids.contains(&(TENANT_RULE, Severity::Low)) && ids.contains(&(IDENTIFIER_RULE, Severity::Low)), "{ids:?}");
    assert_eq!(ids.iter().filter(|(id, _)| *id == TENANT_RULE || *id == IDENTIFIER_RULE).count(), 2);
}

#[test]
fn pagarme_keys_codeclimate_reporter_ids_and_labelled_keys() {
    let pagarme = format!("ak_live_{}", fake(310, 30, ALNUM));
    assert_rule(&format!("PAGARME_KEY={pagarme}"), "secrets.pagarme_api_key", &pagarme);
    assert!(!hits(&format!("ak_live_{}", fake(311, 24, ALNUM))).iter().any(|(r, _)| r == "secrets.pagarme_api_key"));
    assert_none("ak_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    let reporter = fake(312, 64, HEX);
    assert_rule(&format!("env:\n  CC_TEST_REPORTER_ID: {reporter}\n"), "secrets.codeclimate_reporter_id", &reporter);
    assert!(!hits(&format!("CC_TEST_REPORTER_ID: {}", "0".repeat(64))).iter().any(|(r, _)| r == "secrets.codeclimate_reporter_id"));
    // A word naming whom the key is for, a colon, then the key.
    let key = fake(313, 32, HEX);
    assert_rule(&format!("apikey=weatherco:{key}"), GENERIC_RULE, &key);
    // A digest says what it is with its algorithm's name, not a vendor's.
    assert!(!hits(&format!("key=sha256:{}", fake(314, 64, HEX))).iter().any(|(r, _)| r == GENERIC_RULE));
}
