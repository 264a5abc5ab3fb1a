//! The provider rules: one entry per documented token format.
//!
//! Every rule names the literals that gate it (the aho-corasick prefilter)
//! and a regex run only on a small window around a literal hit. A rule's
//! `check` then looks at the matched token itself: structure the regex
//! cannot express (a JWT's JSON header, a Basic credential's colon) and the
//! placeholder filter (`xxxx`, `EXAMPLE`, one repeated character).

use crate::detect::{entropy, Severity};

use super::identifiers;
use super::{IDENTIFIER_RULE, TENANT_RULE};

/// What must sit right before and right after a match for it to count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Edge {
    /// Anything.
    None,
    /// Not an ASCII letter or digit.
    Alnum,
    /// Not a letter, digit, `_` or `-` (the characters of most token bodies).
    Token,
    /// Not a letter or digit, nor a `.` that continues a dotted number.
    Dotted,
}

pub(crate) struct Rule {
    pub id: &'static str,
    /// Tag written into the mask: `[GITHUB_TOKEN]`.
    pub label: &'static str,
    pub severity: Severity,
    /// Literals whose presence lets the rule run.
    pub keywords: &'static [&'static str],
    /// Whether the keywords match regardless of ASCII case.
    pub nocase: bool,
    /// Run on `text[hit - before .. hit + after]`; group 1 is the secret
    /// when the pattern has one, otherwise the whole match.
    pub pattern: &'static str,
    pub before: usize,
    pub after: usize,
    pub edge: Edge,
    /// Extra test on the secret (the matched group) and the whole match.
    pub check: fn(secret: &str, whole: &str) -> bool,
    /// Byte-level test at the keyword hit that must pass before the regex
    /// runs, for rules whose literal is common.
    pub gate: Option<fn(text: &[u8], at: usize) -> bool>,
    /// When the rule's literal is the start of a token and the rule rejects
    /// that token, the generic rules must not report it either: the format
    /// rule knows the format better (`sk-ant-api03-…` with a bad tail is
    /// not a `api…` assignment).
    pub veto: bool,
}

const fn rule(id: &'static str, label: &'static str, severity: Severity, keywords: &'static [&'static str], pattern: &'static str) -> Rule {
    Rule { id, label, severity, keywords, nocase: false, pattern, before: 0, after: 512, edge: Edge::Token, check: not_placeholder, gate: None, veto: true }
}

impl Rule {
    const fn nocase(mut self) -> Rule {
        self.nocase = true;
        self
    }
    const fn edge(mut self, edge: Edge) -> Rule {
        self.edge = edge;
        self
    }
    const fn check(mut self, check: fn(&str, &str) -> bool) -> Rule {
        self.check = check;
        self
    }
    const fn no_veto(mut self) -> Rule {
        self.veto = false;
        self
    }
    const fn gate(mut self, gate: fn(&[u8], usize) -> bool) -> Rule {
        self.gate = Some(gate);
        self
    }
    const fn reach(mut self, before: usize, after: usize) -> Rule {
        self.before = before;
        self.after = after;
        self
    }
}

use Severity::{Critical, High, Low, Medium};

pub(crate) const RULES: &[Rule] = &[
    // --- AI providers -----------------------------------------------------
    rule("secrets.anthropic_api_key", "ANTHROPIC_KEY", Critical, &["sk-ant-"], r"sk-ant-[a-z]{2,8}\d{2,4}-[A-Za-z0-9_\-]{80,120}AA"),
    // Legacy and project keys carry the base64 of "OpenAI" (`T3BlbkFJ`) in
    // the middle; newer project/service-account keys are long enough alone.
    rule("secrets.openai_api_key", "OPENAI_KEY", Critical, &["sk-"], r"sk-(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_\-]{16,}T3BlbkFJ[A-Za-z0-9_\-]{16,}|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{80,}"),
    rule("secrets.huggingface_token", "HUGGINGFACE_TOKEN", High, &["hf_", "api_org_"], r"(?:hf_|api_org_)[A-Za-z]{34}").edge(Edge::Alnum).check(mixed_case),
    rule("secrets.groq_api_key", "GROQ_KEY", High, &["gsk_"], r"gsk_[A-Za-z0-9]{48,52}"),
    rule("secrets.xai_api_key", "XAI_KEY", High, &["xai-"], r"xai-[A-Za-z0-9_]{70,90}"),
    rule("secrets.perplexity_api_key", "PERPLEXITY_KEY", High, &["pplx-"], r"pplx-[A-Za-z0-9]{48}"),
    rule("secrets.replicate_token", "REPLICATE_TOKEN", High, &["r8_"], r"r8_[A-Za-z0-9]{37,40}"),
    // NVIDIA API catalog keys (build.nvidia.com): `nvapi-` and 64 characters.
    rule("secrets.nvidia_api_key", "NVIDIA_KEY", High, &["nvapi-"], r"nvapi-[A-Za-z0-9_\-]{64}"),
    // --- Cloud providers ----------------------------------------------------
    rule("secrets.aws_access_key_id", "AWS_KEY", High, &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"], r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}").edge(Edge::Alnum).check(aws_key_id),
    // A secret access key is 40 base64 characters with no prefix of its own:
    // it needs its key name, or an access key id right before it (the pair
    // as it appears in credential files and exports).
    rule("secrets.aws_secret_access_key", "AWS_SECRET", Critical, &["secret_access_key", "secretaccesskey", "secret-access-key", "aws_secret", "awssecret", "aws.secretkey"], r"(?i:secret_?-?access_?-?key|aws_?secret\w*|aws\.secretkey)\W{1,6}([A-Za-z0-9/+]{40})")
        .nocase()
        .reach(0, 96)
        .edge(Edge::None)
        .check(aws_secret)
        .no_veto(),
    rule("secrets.aws_secret_access_key", "AWS_SECRET", Critical, &["AKIA", "ASIA"], r"(?:AKIA|ASIA)[A-Z2-7]{16}[\s\S]{0,200}?[^A-Za-z0-9/+]([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)")
        .reach(0, 300)
        .edge(Edge::None)
        .check(aws_secret)
        .gate(base64_40_ahead),
    rule("secrets.aws_bedrock_api_key", "AWS_BEDROCK_KEY", High, &["ABSKQmVkcm9ja0FQSUtleS"], r"ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{100,}={0,2}").edge(Edge::Alnum).check(base64_length),
    rule("secrets.aws_bedrock_api_key", "AWS_BEDROCK_KEY", High, &["bedrock-api-key-"], r"bedrock-api-key-([A-Za-z0-9+/]{28,}={0,2})").edge(Edge::Alnum).check(bedrock_short),
    rule("secrets.gcp_api_key", "GCP_API_KEY", Medium, &["AIza"], r"(?i:key|token|secret|google|gcp|firebase|credential|auth)[^\n]{0,40}?(AIza[0-9A-Za-z_\-]{35})")
        .reach(48, 40)
        .check(gcp_api_key),
    rule("secrets.gcp_service_account", "GCP_SERVICE_ACCOUNT", Critical, &["service_account"], r#""type"\s*:\s*"service_account""#).reach(32, 64).edge(Edge::None).no_veto(),
    rule("secrets.google_oauth_client_secret", "GOOGLE_CLIENT_SECRET", High, &["GOCSPX-"], r"GOCSPX-[A-Za-z0-9_\-]{28}"),
    // OAuth client ids are identifiers, not secrets, but name the project a
    // leaked client secret belongs to: low severity, logged.
    rule("secrets.google_oauth_client_id", "GOOGLE_CLIENT_ID", Low, &[".apps.googleusercontent.com"], r"\d{12}-[a-z0-9]{32}\.apps\.googleusercontent\.com").reach(48, 32).edge(Edge::Alnum).no_veto(),
    rule("secrets.google_oauth_token", "GOOGLE_OAUTH_TOKEN", High, &["ya29."], r"ya29\.[A-Za-z0-9_\-]{20,}").check(not_placeholder),
    // Azure AD (Entra) client secrets: three characters, a digit, `Q~`.
    rule("secrets.azure_ad_client_secret", "AZURE_CLIENT_SECRET", High, &["Q~"], r"[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}")
        .reach(4, 40)
        .check(azure_client_secret)
        .no_veto(),
    rule("secrets.azure_storage_key", "AZURE_STORAGE_KEY", Critical, &["accountkey=", "sharedaccesskey=", "secret="], r"(?i:AccountKey|SharedAccessKey|;Secret)=([A-Za-z0-9+/]{40,86}={0,2})")
        .nocase()
        .reach(1, 120)
        .edge(Edge::None)
        .no_veto(),
    rule("secrets.databricks_token", "DATABRICKS_TOKEN", High, &["dapi"], r"dapi[a-f0-9]{32}(?:-\d)?").edge(Edge::Alnum),
    rule("secrets.digitalocean_token", "DIGITALOCEAN_TOKEN", High, &["dop_v1_", "doo_v1_", "dor_v1_"], r"do[opr]_v1_[a-f0-9]{64}"),
    // --- Code hosting and CI ----------------------------------------------
    rule("secrets.github_token", "GITHUB_TOKEN", Critical, &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], r"gh[pousr]_[A-Za-z0-9]{36,251}").edge(Edge::Alnum),
    rule("secrets.github_token", "GITHUB_TOKEN", Critical, &["github_pat_"], r"github_pat_[A-Za-z0-9_]{82}").edge(Edge::Alnum),
    // GitLab's documented prefixes; the body is the maximal run after the
    // prefix and its length must fit (the edge check rejects longer runs).
    rule("secrets.gitlab_token", "GITLAB_TOKEN", Critical, &["glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "GR1348941"], r"(?:glpat-|gldt-|glft-|glsoat-|glrt-|GR1348941)[A-Za-z0-9_\-.]{20,50}").edge(Edge::Token).check(gitlab),
    rule("secrets.gitlab_token", "GITLAB_TOKEN", Critical, &["glcbt-"], r"glcbt-(?:[0-9a-fA-F]{2}_)?[A-Za-z0-9_\-]{20,50}").edge(Edge::Token),
    rule("secrets.gitlab_token", "GITLAB_TOKEN", Critical, &["glimt-"], r"glimt-[A-Za-z0-9_\-]{25}").edge(Edge::Token),
    rule("secrets.gitlab_token", "GITLAB_TOKEN", Critical, &["glptt-"], r"glptt-[A-Za-z0-9_\-]{40}").edge(Edge::Token),
    rule("secrets.gitlab_token", "GITLAB_TOKEN", Critical, &["gloas-"], r"gloas-[A-Za-z0-9_\-]{64}").edge(Edge::Token),
    rule("secrets.gitlab_token", "GITLAB_TOKEN", Critical, &["glagent-"], r"glagent-[A-Za-z0-9_\-]{50,1024}").edge(Edge::Token),
    rule("secrets.npm_token", "NPM_TOKEN", High, &["npm_"], r"npm_[A-Za-z0-9]{36}").edge(Edge::Alnum),
    // An `.npmrc` auth line: the registry line itself is the evidence.
    rule("secrets.npm_token", "NPM_TOKEN", High, &[":_authToken="], r"//[^\s/]+/(?:[^\s:]*/)?:_authToken=\s*([A-Za-z0-9_\-.]{8,})").reach(200, 120).edge(Edge::None).check(literal_value),
    rule("secrets.pypi_token", "PYPI_TOKEN", High, &["pypi-AgE"], r"pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{70,}").reach(0, 4096),
    rule("secrets.artifactory_token", "ARTIFACTORY_TOKEN", Medium, &["AKC", "AP"], r"(?:AKC[A-Za-z0-9]{10,}|AP[0-9A-F][A-Za-z0-9]{8,})").edge(Edge::Alnum).check(artifactory).no_veto(),
    rule("secrets.cloudflare_origin_ca_key", "CLOUDFLARE_KEY", High, &["v1.0-"], r"v1\.0-[a-f0-9]{24,64}(?:-[a-f0-9]{24,146}){1,3}").check(cloudflare_ca_key),
    rule("secrets.intra42_client_secret", "INTRA42_SECRET", High, &["s-s4t2"], r"s-s4t2(?:ud|af)-[a-f0-9]{64}"),
    rule("secrets.maxmind_license_key", "MAXMIND_KEY", High, &["_mmk"], r"[A-Za-z0-9]{6}_[A-Za-z0-9_]{29}_mmk").reach(40, 4).edge(Edge::Alnum).no_veto(),
    rule("secrets.docker_hub_pat", "DOCKER_TOKEN", High, &["dckr_pat_"], r"dckr_pat_[A-Za-z0-9_\-]{27}"),
    rule("secrets.sonar_token", "SONAR_TOKEN", High, &["sqp_", "squ_", "sqa_"], r"sq[pua]_[a-f0-9]{40}"),
    // Legacy SonarQube/SonarCloud user tokens are 40 hex digits, passed as
    // `sonar.login` (or `sonar.token`); newer ones carry `sqp_`/`squ_`.
    rule("secrets.sonar_token", "SONAR_TOKEN", High, &["sonar"], r#"(?i:sonar)[._-]?(?i:login|token)['"]?\s*[:=,]?\s*['"]?\s*([a-f0-9]{40})"#)
        .nocase()
        .reach(0, 64)
        .edge(Edge::Alnum)
        .check(hex_random)
        .no_veto(),
    // Code Climate's test reporter id is the credential that uploads
    // coverage for a repository: 64 hex digits under its documented name.
    rule("secrets.codeclimate_reporter_id", "CODECLIMATE_TOKEN", Medium, &["cc_test_reporter_id"], r#"(?i:cc_test_reporter_id)['"]?\s*[:=]\s*['"]?([a-f0-9]{64})"#)
        .nocase()
        .reach(0, 100)
        .edge(Edge::Alnum)
        .check(hex_random)
        .no_veto(),
    rule("secrets.sourcegraph_token", "SOURCEGRAPH_TOKEN", High, &["sgp_"], r"sgp_(?:[a-fA-F0-9]{16}_)?(?:local_)?[a-fA-F0-9]{40}").edge(Edge::Token).check(hex_random),
    // Segment public API tokens share `sgp_` with Sourcegraph; their body is
    // 64 alphanumerics rather than hex.
    rule("secrets.segment_token", "SEGMENT_TOKEN", High, &["sgp_"], r"sgp_[A-Za-z0-9]{64}").edge(Edge::Alnum).check(mixed_case_body),
    rule("secrets.clickup_token", "CLICKUP_TOKEN", High, &["pk_"], r"pk_\d{3,12}_[A-Z0-9]{32}").edge(Edge::Alnum).check(upper_alnum_body).no_veto(),
    rule("secrets.stackhawk_api_key", "STACKHAWK_KEY", High, &["hawk."], r"hawk\.[A-Za-z0-9_\-]{20}\.[A-Za-z0-9_\-]{20}").edge(Edge::Token).check(mixed_case_body).no_veto(),
    rule("secrets.hashicorp_token", "HASHICORP_TOKEN", High, &["hvs.", "hvb.", ".atlasv1."], r"hv[sb]\.[A-Za-z0-9_\-]{24,}|[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,70}").reach(16, 400).check(mixed_case),
    // Legacy Vault service tokens: `s.` and 24 random characters.
    rule("secrets.hashicorp_token", "HASHICORP_TOKEN", High, &["s."], r"s\.[A-Za-z0-9]{24}").edge(Edge::Alnum).gate(word_start).check(vault_legacy).no_veto(),
    rule("secrets.postman_api_key", "POSTMAN_KEY", High, &["PMAK-"], r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    // --- Messaging and SaaS ----------------------------------------------
    rule("secrets.slack_token", "SLACK_TOKEN", Critical, &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxo-", "xoxe"], r"xox[bp]-[0-9]{10,13}-[0-9]{10,13}[A-Za-z0-9\-]*|xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9\-]{28,34}|xoxb-[0-9]{8,14}-[A-Za-z0-9]{18,26}|xox[os]-\d+-\d+-\d+-[a-fA-F\d]+|xox[ar]-(?:\d-)?[0-9A-Za-z]{8,48}(?:-[0-9A-Za-z]+)*|xoxe\.xox[bp]-\d-[A-Za-z0-9]{140,200}|xoxe-\d-[A-Za-z0-9]{140,200}|xoxb-[0-9A-Za-z]{8,}-[0-9A-Za-z]{8,}-[0-9A-Za-z]{16,}")
        .check(slack_token),
    rule("secrets.slack_token", "SLACK_TOKEN", Critical, &["xapp-"], r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+"),
    rule("secrets.slack_webhook", "SLACK_WEBHOOK", High, &["hooks.slack.com/"], r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_]{20,}").edge(Edge::Alnum),
    rule("secrets.discord_bot_token", "DISCORD_TOKEN", High, &["."], r"[MNO][A-Za-z\d_\-]{23,25}\.[A-Za-z\d_\-]{6}\.[A-Za-z\d_\-]{27,38}")
        .reach(26, 48)
        .edge(Edge::None)
        .gate(discord_shape)
        .no_veto(),
    rule("secrets.telegram_bot_token", "TELEGRAM_TOKEN", High, &[":AA"], r"\d{8,10}:AA[0-9A-Za-z_\-]{32,33}").reach(10, 40).edge(Edge::Token).check(telegram),
    // A bot token without the usual `AA` is still one when the line names
    // Telegram (or is an Apprise `tgram://` URL).
    rule("secrets.telegram_bot_token", "TELEGRAM_TOKEN", High, &["telegram", "tgram://"], r"(?i:telegram|tgram://)[^\n]{0,40}?(\d{8,10}:[0-9A-Za-z_\-]{35})")
        .nocase()
        .reach(0, 96)
        .edge(Edge::Token)
        .check(mixed_case_body)
        .no_veto(),
    // Salesforce session and access tokens start with the 15-character org
    // id (`00D…`) and `!`.
    rule("secrets.salesforce_token", "SALESFORCE_TOKEN", High, &["00D"], r"00D[A-Za-z0-9]{12}![A-Za-z0-9._]{80,}").edge(Edge::Alnum).check(salesforce).no_veto(),
    // FullStory API keys: a region (`na1.`, `eu1.`) and a base64 body.
    rule("secrets.fullstory_api_key", "FULLSTORY_KEY", High, &["na1.", "eu1."], r"(?:na1|eu1)\.[A-Za-z0-9+/]{60,}={0,2}").edge(Edge::Alnum).check(mixed_case_body).no_veto(),
    // Legacy Grafana API keys are base64 of `{"k":…,"n":…,"id":…}`.
    rule("secrets.grafana_api_key", "GRAFANA_KEY", High, &["eyJrIjoi"], r"eyJrIjoi[A-Za-z0-9+/]{30,}={0,2}").reach(0, 400).edge(Edge::Alnum).check(grafana_key).no_veto(),
    // TrueNAS API keys are `<id>-<64 characters>`; the websocket login
    // method names them.
    rule("secrets.truenas_api_key", "TRUENAS_KEY", High, &["login_with_api_key"], r#"login_with_api_key"[\s\S]{0,60}?"params"\s*:\s*\[\s*"(\d{1,6}-[A-Za-z0-9]{64})""#)
        .reach(0, 160)
        .edge(Edge::None)
        .check(mixed_case_body)
        .no_veto(),
    // ThingsBoard device access tokens travel in the device API path.
    rule("secrets.thingsboard_token", "THINGSBOARD_TOKEN", High, &["/api/v1/"], r"/api/v1/([A-Za-z0-9]{20})/(?:telemetry|attributes|rpc|claim|firmware|software)")
        .reach(0, 64)
        .edge(Edge::None)
        .check(alnum_token)
        .no_veto(),
    rule("secrets.stripe_key", "STRIPE_KEY", Critical, &["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"], r"[sr]k_(?:live|test)_[A-Za-z0-9]{15,247}|whsec_[A-Za-z0-9]{32,}").edge(Edge::Alnum),
    // Pagar.me secret keys: `ak_live_`/`ak_test_` and 30 letters or digits.
    rule("secrets.pagarme_api_key", "PAGARME_KEY", High, &["ak_live_", "ak_test_"], r"ak_(?:live|test)_[A-Za-z0-9]{30}").edge(Edge::Alnum).check(mixed_case_body).no_veto(),
    // Twilio SIDs: `AC`/`SK` + 32 lowercase hex (or letters in test fixtures).
    rule("secrets.twilio_key", "TWILIO_KEY", Medium, &["AC", "SK"], r"(?:AC|SK)[a-z0-9]{32}").edge(Edge::Alnum).check(twilio).no_veto(),
    rule("secrets.sendgrid_api_key", "SENDGRID_KEY", High, &["SG."], r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}").edge(Edge::Alnum),
    rule("secrets.mailchimp_api_key", "MAILCHIMP_KEY", High, &["-us"], r"[0-9a-f]{32}-us\d{1,2}").reach(32, 8).edge(Edge::Alnum).no_veto(),
    rule("secrets.square_token", "SQUARE_TOKEN", High, &["sq0atp-", "sq0csp-", "sq0idp-", "EAAA"], r"sq0(?:atp|csp|idp)-[A-Za-z0-9_\-]{22,43}|EAAA[A-Za-z0-9_\-]{60}").check(square_token),
    rule("secrets.shopify_token", "SHOPIFY_TOKEN", High, &["shpat_", "shpca_", "shppa_", "shpss_"], r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    rule("secrets.atlassian_api_token", "ATLASSIAN_TOKEN", High, &["ATATT3"], r"ATATT3[A-Za-z0-9_\-=]{180,}"),
    rule("secrets.notion_token", "NOTION_TOKEN", High, &["ntn_", "secret_"], r"ntn_\d{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43}")
        .edge(Edge::Alnum)
        .check(mixed_case)
        // `secret_` also ends names (`client_secret_key=…`): a rejected hit
        // must leave the value to the key-name rules.
        .no_veto(),
    rule("secrets.facebook_token", "FACEBOOK_TOKEN", High, &["facebook"], r"(?i:facebook)[\s\S]{0,40}?(\d{15,16}\|[A-Za-z0-9_\-]{27})").nocase().reach(0, 80).no_veto(),
    rule("secrets.facebook_token", "FACEBOOK_TOKEN", High, &["EAAC", "EAAM", "EAAG", "EAAB"], r"EAA[BCGM][A-Za-z0-9]{40,}").edge(Edge::Alnum).check(mixed_case),
    rule("secrets.onepassword_token", "ONEPASSWORD_TOKEN", Critical, &["ops_eyJ"], r"ops_eyJ[A-Za-z0-9+/]{250,}={0,3}").reach(0, 4096).check(mixed_case),
    // The prefix is unambiguous; bech32 bodies are checked by the charset.
    rule("secrets.age_secret_key", "AGE_SECRET_KEY", Critical, &["AGE-SECRET-KEY-1"], r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}").check(always),
    // Mapbox access tokens: `pk.` (public, meant for client code), `sk.`
    // (secret) or `tk.` (temporary), then a base64url JSON payload naming
    // the user (`{"u":…`) and a signature.
    rule("secrets.mapbox_token", "MAPBOX_TOKEN", High, &["sk.eyJ", "tk.eyJ"], r"[st]k\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{20,}").check(mapbox),
    rule("secrets.mapbox_public_token", "MAPBOX_TOKEN", Low, &["pk.eyJ"], r"pk\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{20,}").check(mapbox).no_veto(),
    // Nightfall API keys: `NF-` and 32 letters or digits.
    rule("secrets.nightfall_api_key", "NIGHTFALL_KEY", High, &["NF-"], r"NF-[A-Za-z0-9]{32}").edge(Edge::Alnum),
    // Tailscale keys: `tskey-<kind>-<key id>-<secret>`.
    rule("secrets.tailscale_key", "TAILSCALE_KEY", High, &["tskey-"], r"tskey-[a-z]{3,8}-[A-Za-z0-9]{4,}-[A-Za-z0-9]{4,}").edge(Edge::Token),
    // PubNub publish keys (`pub-c-` + UUID) let anyone holding them send on
    // the account's channels; secret keys are `sec-c-` + base64.
    rule("secrets.pubnub_key", "PUBNUB_KEY", Medium, &["pub-c-"], r"pub-c-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").edge(Edge::Token),
    rule("secrets.pubnub_key", "PUBNUB_KEY", High, &["sec-c-"], r"sec-c-[A-Za-z0-9+/]{40,}={0,2}").edge(Edge::Alnum).check(mixed_case_body),
    // Django's `SECRET_KEY`: characters from lower-case letters, digits and
    // `!@#$%^&*(-_=+)` (what `get_random_secret_key` draws 50 of; keys
    // written by hand vary in length), optionally behind
    // `django-insecure-`; assigned or as the default of an environment
    // lookup.
    rule("secrets.django_secret_key", "DJANGO_SECRET_KEY", High, &["secret_key"], r#"(?i:secret_key)['"]?\s*[=:,]\s*['"]((?:django-insecure-)?[a-z0-9!@#$%^&*(\-_=+)]{40,100})['"]"#)
        .nocase()
        .reach(0, 160)
        .edge(Edge::None)
        .check(django_key)
        .no_veto(),
    // ODBC / ADO.NET / OLE DB connection strings: a user and a password
    // field written as literals (`User ID=app;Password=…;`).
    rule("secrets.connection_string_password", "DB_PASSWORD", High, &["uid=", "user id=", "userid=", "user=", "username="], r#"(?i:uid|user ?id|user|username)\s*=\s*[^;\n]{1,64};[^\n]{0,120}?(?i:password|pwd)\s*=\s*([^;'"\s]{1,64})\s*(?:;|$|["'])"#)
        .nocase()
        .reach(0, 300)
        .edge(Edge::None)
        .check(connection_string_password)
        .no_veto(),
    // --- Keys, tokens and credentials in generic shapes ---------------------
    rule("secrets.private_key", "PRIVATE_KEY", Critical, &["-----BEGIN", "PuTTY-User-Key-File-"], r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)|PuTTY-User-Key-File-\d: [\s\S]*?Private-Lines: \d+")
        .reach(0, 8192)
        .edge(Edge::None)
        .check(private_key),
    rule("secrets.private_key", "PRIVATE_KEY", Critical, &["LS0tLS1CRUdJTi"], r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{20,}={0,2}").reach(0, 8192).edge(Edge::Alnum).check(base64_private_key),
    rule("secrets.jwt", "JWT", High, &["eyJ"], r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*)?").reach(0, 8192).edge(Edge::Alnum).check(jwt).no_veto(),
    // A `.netrc` entry: `machine HOST login USER password SECRET`, on one
    // line or several.
    rule("secrets.netrc_password", "NETRC_PASSWORD", High, &["machine"], r"machine\s+\S+\s+login\s+\S+\s+password\s+(\S+)")
        .reach(0, 400)
        .edge(Edge::None)
        .check(netrc_password)
        .no_veto(),
    // PowerShell turning a literal into a SecureString: the literal is the
    // password.
    rule("secrets.powershell_plaintext_password", "PASSWORD", High, &["convertto-securestring"], r#"(?i:ConvertTo-SecureString)\s+(?i:-String\s+)?["']([^"'\s]{6,})["']\s+(?i:-AsPlainText)"#)
        .nocase()
        .reach(0, 400)
        .edge(Edge::None)
        .check(cli_p_password)
        .no_veto(),
    // Credentials in a URL's user-info: database, broker and HTTP URLs.
    rule("secrets.url_password", "URL_CREDENTIALS", High, &["://"], r"[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:@/'\x22<>]{1,128}:[^\s/'\x22<>`]{1,128}@[A-Za-z0-9.\-\[\]:]+")
        .reach(24, 400)
        .edge(Edge::None)
        .check(url_password)
        .no_veto(),
    rule("secrets.cli_password", "CLI_CREDENTIALS", High, &[" -u", "\n-u", "\t-u", "--user", "--password"], r#"(?:\s-u|--user)\s+(\S+)"#)
        .reach(1, 200)
        .edge(Edge::None)
        .check(cli_password)
        .no_veto(),
    rule("secrets.cli_password", "CLI_CREDENTIALS", High, &[" -p "], r#"\s-u\s+\S+\s+-p\s+([^\s'"]+)"#).reach(200, 120).edge(Edge::None).check(cli_p_password).no_veto(),
    rule("secrets.http_authorization", "AUTH_HEADER", High, &["authorization", "-h", "--header"], r#"(?i:(?:-H|--header)\s+["'])?(?i:authorization|[A-Za-z0-9\-]*(?:api-?key|token|secret)[A-Za-z0-9\-]*)["']?\s*:?\s*(?i:(?:basic|bearer|token|api-token|digest)\s+)?([^\s"'\\]+)"#)
        .nocase()
        .reach(16, 200)
        .edge(Edge::None)
        .check(auth_header)
        .no_veto(),
    rule("secrets.password_hash", "PASSWORD_HASH", Medium, &["$1$", "$2a$", "$2b$", "$2y$", "$5$", "$6$", "$8$", "$krb5asrep$"], r"\$(?:1|2[aby]|5|6|8)\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,22}\$[./A-Za-z0-9]{20,}|\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}|\$krb5asrep\$\d+\$[^\s$]+\$[a-f0-9$]{32,}")
        .edge(Edge::None)
        .check(always)
        .no_veto(),
    // Public IPv4 addresses of one's own infrastructure (detect-secrets
    // ships the same plugin). Low severity: logged, not acted on, unless a
    // policy raises it.
    rule("secrets.public_ip", "PUBLIC_IP", Low, &["."], r"(?:\d{1,3}\.){3}\d{1,3}").reach(3, 16).edge(Edge::Dotted).gate(ipv4_shape).check(public_ipv4).no_veto(),
    rule("secrets.webhook_url", "WEBHOOK_URL", High, &["outlook.office.com/webhook", ".webhook.office.com/webhook", "hooks.zapier.com/hooks/", ".tines.com/webhook/", "discord.com/api/webhooks/", "discordapp.com/api/webhooks/"], r"(?:outlook\.office\.com/webhook|[a-z0-9\-]+\.webhook\.office\.com/webhookb?2?|hooks\.zapier\.com/hooks/catch|[a-z0-9\-]+\.tines\.com/webhook|discord(?:app)?\.com/api/webhooks)/[A-Za-z0-9@\-_/]{16,}")
        .reach(40, 400)
        .edge(Edge::None)
        .check(webhook_path)
        .no_veto(),
    // --- Identifiers: not secrets, the other half of one (logged) ------------
    rule(TENANT_RULE, "TENANT_HOST", Low, identifiers::TENANT_LITERALS, identifiers::TENANT_HOST_PATTERN)
        .nocase()
        .reach(192, 8)
        .edge(Edge::Token)
        .check(identifiers::tenant_host)
        .no_veto(),
    rule(TENANT_RULE, "TENANT_HOST", Low, &["dev.azure.com/"], r"(?i:dev\.azure\.com)/[A-Za-z0-9][A-Za-z0-9\-]*")
        .nocase()
        .reach(0, 64)
        .edge(Edge::Token)
        .check(identifiers::azure_devops_org)
        .no_veto(),
    rule(IDENTIFIER_RULE, "ACCOUNT_ID", Low, identifiers::VENDORS, identifiers::IDENTIFIER_PATTERN)
        .nocase()
        .reach(40, 240)
        .edge(Edge::None)
        .gate(identifiers::assignment_ahead)
        .check(identifiers::vendor_identifier)
        .no_veto(),
    rule(IDENTIFIER_RULE, "ACCOUNT_ID", Low, identifiers::PUBLIC_ENV_LITERALS, identifiers::IDENTIFIER_PATTERN)
        .nocase()
        .reach(40, 240)
        .edge(Edge::None)
        .gate(identifiers::assignment_ahead)
        .check(identifiers::vendor_identifier)
        .no_veto(),
    // An age recipient (`age1` + 58 bech32 characters) is the public half of
    // an age key pair: whom a file is encrypted to.
    rule(IDENTIFIER_RULE, "AGE_RECIPIENT", Low, &["age1"], r"age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}").edge(Edge::Alnum).check(not_placeholder).no_veto(),
];

/// Prefixes that vendors document as the start of their secret tokens and
/// that are distinctive enough on their own; the body must be long and
/// random enough (see `vendor_body`).
pub(crate) const VENDOR_PREFIXES: &[(&str, &str, usize)] = &[
    // (prefix, vendor, minimum body length)
    ("pnu_", "prefect", 36),
    ("rdme_", "readme", 64),
    ("phx_", "posthog", 40),
    ("phc_", "posthog", 40),
    ("sbp_", "supabase", 40),
    ("bkua_", "buildkite", 40),
    ("odt_", "dependency-track", 32),
    ("figd_", "figma", 40),
    ("pscale_tkn_", "planetscale", 32),
    ("pscale_pw_", "planetscale", 32),
    ("shltm_", "flexport", 40),
    ("tfp_", "typeform", 40),
    ("ion_", "ionic", 40),
    ("CFPAT-", "contentful", 43),
    ("dp.ct.", "doppler", 40),
    ("dp.pt.", "doppler", 40),
    ("dp.st.", "doppler", 40),
    ("dp.sa.", "doppler", 40),
    ("dp.scim.", "doppler", 40),
    ("dp.audit.", "doppler", 40),
    ("pul-", "pulumi", 40),
    ("glc_", "grafana", 32),
    ("glsa_", "grafana", 32),
    ("lin_api_", "linear", 40),
    ("mdb_sa_sk_", "mongodb", 32),
    ("tkn.v1_", "teamwork", 40),
    ("shippo_live_", "shippo", 40),
    ("shippo_test_", "shippo", 40),
    ("flb_live_", "fleetbase", 20),
    ("LTAI", "alibaba", 20),
    ("oy2", "nuget", 43),
    ("BBFF-", "ubidots", 30),
    ("fio-u-", "frame.io", 64),
    ("sl.", "dropbox", 100),
    ("slk_", "sourcegraph", 64),
    ("pat-na1-", "hubspot", 36),
    ("pat-eu1-", "hubspot", 36),
    ("pub-c-", "pubnub", 36),
    ("sub-c-", "pubnub", 36),
    ("sk_", "elevenlabs", 48),
    ("EZAK", "easypost", 54),
    ("EZTK", "easypost", 54),
    ("CCIPAT_", "circleci", 40),
    ("ops_", "1password", 40),
    ("CLOJARS_", "clojars", 60),
    ("dckr_oat_", "docker", 27),
    ("xkeysib-", "brevo", 64),
    ("sntrys_", "sentry", 64),
    ("sntryu_", "sentry", 64),
    ("fo1_", "fly.io", 43),
    ("FlyV1 ", "fly.io", 43),
    ("hrku-", "heroku", 32),
    ("HRKU-", "heroku", 32),
    ("AccountKey=", "azure", 40),
    ("VF.DM.", "voiceflow", 40),
    ("VF.WS.", "voiceflow", 40),
    ("1000.", "zoho", 60),
    ("b_", "beamer", 40),
];

// --- checks ------------------------------------------------------------------

/// Rejects documentation placeholders: `xxxx`, `****`, `<...>`, `${...}`,
/// `EXAMPLE`, and bodies that are one character repeated.
pub(crate) fn not_placeholder(secret: &str, _whole: &str) -> bool {
    !is_placeholder(secret)
}

pub(crate) fn is_placeholder(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if lower.contains("xxxxx") || lower.contains("*****") || lower.contains("#####") || lower.contains("example") || lower.contains("...") {
        return true;
    }
    if s.starts_with('$') || s.starts_with('<') || s.starts_with('{') || s.starts_with('%') || s.starts_with('[') {
        return true;
    }
    longest_repeat(s) * 3 > s.len().max(9) * 2
}

/// Length of the longest run of one repeated byte.
pub(crate) fn longest_repeat(s: &str) -> usize {
    let b = s.as_bytes();
    let (mut best, mut run) = (0, 0);
    for i in 0..b.len() {
        run = if i > 0 && b[i] == b[i - 1] { run + 1 } else { 1 };
        best = best.max(run);
    }
    best
}

fn body_after<'a>(s: &'a str, sep: char) -> &'a str {
    s.split_once(sep).map(|(_, b)| b).unwrap_or(s)
}

/// The path of a webhook URL must not be a placeholder; the tenant host in
/// front of it may be any name (`example.tines.com`).
fn webhook_path(secret: &str, _whole: &str) -> bool {
    !is_placeholder(secret.split_once('/').map_or(secret, |(_, path)| path))
}

/// The payload of a Mapbox token is base64url JSON that starts with the
/// user name field.
fn mapbox(secret: &str, _whole: &str) -> bool {
    let payload = secret.split('.').nth(1).unwrap_or("");
    let valid = crate::secrets::base64url_decode(payload.get(..payload.len() / 4 * 4).unwrap_or("")).is_some_and(|d| d.starts_with(b"{\"u\":\""));
    valid && !is_placeholder(payload)
}

/// Django keys are drawn at random from 50 symbols: digits and symbols both
/// show up in 50 draws.
fn django_key(secret: &str, _whole: &str) -> bool {
    let body = secret.strip_prefix("django-insecure-").unwrap_or(secret);
    body.bytes().any(|c| c.is_ascii_digit()) && body.bytes().any(|c| c.is_ascii_punctuation()) && !is_placeholder(body) && entropy(body) > 3.5
}

/// A connection-string password written as a literal, not a template
/// (`#{…}`, `$(…)`, `%VAR%`, `{0}`) or a placeholder.
fn connection_string_password(secret: &str, _whole: &str) -> bool {
    !is_placeholder(secret) && !secret.contains("#{") && !secret.contains("$(") && !secret.contains('{') && !secret.starts_with('@')
}

fn always(_secret: &str, _whole: &str) -> bool {
    true
}

fn mixed_case(secret: &str, whole: &str) -> bool {
    let b = body_after(secret, '_');
    not_placeholder(secret, whole) && b.bytes().any(|c| c.is_ascii_lowercase()) && b.bytes().any(|c| c.is_ascii_uppercase()) && entropy(b) > 3.0
}

/// Cheap byte test at a `.` before the Discord regex runs: 23+ token
/// characters before it, 6 after and another `.` (periods are everywhere in
/// prose, so the regex must not run at each one).
/// Cheap byte test at an access key id before the key-pair regex runs: the
/// secret it looks for is a run of 40 base64 characters after the id, and
/// without one the regex (a 200-byte lazy gap, then 40 counted characters)
/// would walk its whole window for nothing, at every key id in a body.
fn base64_40_ahead(text: &[u8], at: usize) -> bool {
    let window = text.get(at.saturating_add(20)..).unwrap_or(&[]);
    let window = &window[..window.len().min(400)];
    let mut run = 0;
    window.iter().any(|&c| {
        run = if c.is_ascii_alphanumeric() || c == b'/' || c == b'+' { run + 1 } else { 0 };
        run >= 40
    })
}

fn discord_shape(text: &[u8], at: usize) -> bool {
    let token = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-';
    at >= 24 && text.len() > at + 8 && text[at - 23..at].iter().all(token) && text[at + 1..at + 7].iter().all(token) && text[at + 7] == b'.'
}

fn aws_key_id(secret: &str, _whole: &str) -> bool {
    let body = &secret[4.min(secret.len())..];
    !secret.contains("EXAMPLE") && entropy(body) > 2.5
}

fn aws_secret(secret: &str, _whole: &str) -> bool {
    !is_placeholder(secret)
        && secret.bytes().any(|c| c.is_ascii_digit() || c == b'+' || c == b'/')
        && secret.bytes().any(|c| c.is_ascii_lowercase())
        && secret.bytes().any(|c| c.is_ascii_uppercase())
        && entropy(secret) > 4.0
}

/// The random part after a token's prefix (up to the first `_`, `-` or `.`)
/// mixes letter cases or digits and is not a placeholder.
fn mixed_case_body(secret: &str, whole: &str) -> bool {
    let body = secret.split_once(['_', '-', '.']).map(|(_, b)| b).unwrap_or(secret);
    let classes = [body.bytes().any(|c| c.is_ascii_lowercase()), body.bytes().any(|c| c.is_ascii_uppercase()), body.bytes().any(|c| c.is_ascii_digit())];
    not_placeholder(secret, whole) && classes.iter().filter(|&&c| c).count() >= 2 && entropy(body) > 3.0
}

fn upper_alnum_body(secret: &str, whole: &str) -> bool {
    let body = secret.rsplit('_').next().unwrap_or(secret);
    not_placeholder(body, whole) && body.bytes().any(|c| c.is_ascii_digit()) && body.bytes().any(|c| c.is_ascii_uppercase()) && entropy(body) > 3.0
}

/// Square secrets: the body after `sq0…-` or `EAAA` (it may itself hold
/// `_` and `-`).
fn square_token(secret: &str, whole: &str) -> bool {
    let body = secret.split_once('-').map(|(_, b)| b).unwrap_or(&secret[4.min(secret.len())..]);
    not_placeholder(secret, whole) && body.bytes().any(|c| c.is_ascii_lowercase()) && body.bytes().any(|c| c.is_ascii_uppercase()) && entropy(body) > 3.0
}

/// Cloudflare Origin CA keys: `v1.0-` then at least 150 hex digits in
/// dash-separated groups (a version string such as `v1.0-beta` is not one).
fn cloudflare_ca_key(secret: &str, whole: &str) -> bool {
    let hex = secret.bytes().skip(5).filter(u8::is_ascii_hexdigit).count();
    hex >= 150 && not_placeholder(secret, whole) && entropy(&secret[5.min(secret.len())..]) > 3.0
}

fn salesforce(secret: &str, whole: &str) -> bool {
    let body = body_after(secret, '!');
    not_placeholder(body, whole) && body.bytes().any(|c| c.is_ascii_lowercase()) && body.bytes().any(|c| c.is_ascii_uppercase()) && entropy(body) > 4.0
}

/// The base64 must decode to a JSON object with the key (`k`) and name
/// (`n`) fields of a Grafana API key.
fn grafana_key(secret: &str, _whole: &str) -> bool {
    crate::secrets::base64url_decode(secret.trim_end_matches('='))
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|v| v.get("k").is_some_and(serde_json::Value::is_string) && v.get("n").is_some())
}

/// Device tokens are random: letters and digits, not a word or a number.
fn alnum_token(secret: &str, whole: &str) -> bool {
    not_placeholder(secret, whole) && secret.bytes().any(|c| c.is_ascii_digit()) && secret.bytes().any(|c| c.is_ascii_alphabetic()) && entropy(secret) > 3.0
}

/// A `.netrc` password: literal (not `$VAR`), not a stock word.
fn netrc_password(secret: &str, _whole: &str) -> bool {
    !secret.starts_with('$') && credential_like(secret, 4)
}

fn base64_length(secret: &str, _whole: &str) -> bool {
    secret.len() % 4 == 0 && !secret.ends_with("EEEE")
}

/// Browser keys for Maps or Firebase are public by design (Google says so)
/// and sit in every web page that uses them, so a bare `AIza…` is not
/// reported: the pattern wants a key-ish word on the same line before it.
fn gcp_api_key(secret: &str, _whole: &str) -> bool {
    let body = &secret[4.min(secret.len())..];
    secret.starts_with("AIzaSy") && !is_placeholder(secret) && !has_sequence(body, 8) && entropy(body) > 4.0
}

/// True when `s` holds `n` consecutive ascending characters (`abcdefgh`).
pub(crate) fn has_sequence(s: &str, n: usize) -> bool {
    let b = s.as_bytes();
    let mut run = 1;
    for i in 1..b.len() {
        run = if b[i] == b[i - 1].wrapping_add(1) { run + 1 } else { 1 };
        if run >= n {
            return true;
        }
    }
    false
}

fn azure_client_secret(secret: &str, _whole: &str) -> bool {
    let body = body_after(secret, '~');
    !is_placeholder(body) && entropy(body) > 3.0 && !secret.contains("~~")
}

fn artifactory(secret: &str, _whole: &str) -> bool {
    // `AKCp…` API keys are 73 characters; the short `AKC`/`AP?` forms are
    // encrypted passwords in Artifactory's own files.
    if secret.starts_with("AKC") {
        return !secret[3..].bytes().all(|c| c == b'X') && (secret.len() < 40 || entropy(secret) > 2.0);
    }
    // `AP` starts many upper-case words: the rest must not be one.
    !secret[3..].bytes().all(|c| c.is_ascii_uppercase())
}

fn gitlab(secret: &str, whole: &str) -> bool {
    let body = secret.trim_start_matches("GR1348941");
    not_placeholder(secret, whole) && entropy(body) > 2.5
}

/// Hex bodies of random tokens use most of the 16 digits.
fn hex_random(secret: &str, _whole: &str) -> bool {
    let body = secret.rsplit('_').next().unwrap_or(secret);
    !is_placeholder(secret) && entropy(body) > 3.0 && longest_repeat(body) < 4
}

/// A value written literally in a config line, not a `${VAR}` template.
fn literal_value(secret: &str, _whole: &str) -> bool {
    !secret.starts_with('$') && !secret.starts_with('{') && !secret.starts_with('<')
}

/// Short-lived Bedrock keys are base64 of a presigned URL on
/// `bedrock.amazonaws.com`.
fn bedrock_short(secret: &str, _whole: &str) -> bool {
    crate::secrets::base64url_decode(secret.trim_end_matches('=')).is_some_and(|d| d.starts_with(b"bedrock.amazonaws.com"))
}

/// A `.` with a digit on each side; the regex is not run at other periods.
fn ipv4_shape(text: &[u8], at: usize) -> bool {
    at > 0 && text[at - 1].is_ascii_digit() && text.get(at + 1).is_some_and(u8::is_ascii_digit)
}

/// Four octets without leading zeros, not part of a longer dotted run, and
/// outside the private, loopback, link-local, documentation and reserved
/// ranges.
fn public_ipv4(secret: &str, whole: &str) -> bool {
    let _ = whole;
    let octets: Vec<&str> = secret.split('.').collect();
    if octets.len() != 4 || octets.iter().any(|o| o.len() > 1 && o.starts_with('0')) {
        return false;
    }
    let Ok(v) = octets.iter().map(|o| o.parse::<u8>()).collect::<Result<Vec<u8>, _>>() else { return false };
    !matches!(
        (v[0], v[1]),
        (0, _)
            | (10, _)
            | (127, _)
            | (169, 254)
            | (172, 16..=31)
            | (192, 168)
            | (100, 64..=127)
            | (224..=255, _)
            | (192, 0)
            | (198, 51)
            | (203, 0)
            | (198, 18..=19)
    )
}

/// The literal starts a word (`s.` of a Vault token, not of `items.`).
fn word_start(text: &[u8], at: usize) -> bool {
    (at == 0 || !text[at - 1].is_ascii_alphanumeric()) && text.get(at + 2).is_some_and(u8::is_ascii_alphanumeric)
}

fn vault_legacy(secret: &str, whole: &str) -> bool {
    mixed_case(secret, whole) && secret.bytes().any(|c| c.is_ascii_digit())
}

fn slack_token(secret: &str, _whole: &str) -> bool {
    let body = &secret[5.min(secret.len())..];
    // `xoxb-xoxb-…` repeats the prefix of a template; `xoxe.xoxp-` is a
    // configuration token and legitimately nests one.
    let nested = body.starts_with("xox") && !secret.starts_with("xoxe.");
    !is_placeholder(body) && entropy(body) > 2.5 && !nested && !secret.ends_with('-')
}

fn telegram(_secret: &str, whole: &str) -> bool {
    !whole.starts_with("bot")
}

fn twilio(secret: &str, _whole: &str) -> bool {
    let body = &secret[2..];
    body.bytes().all(|c| c.is_ascii_hexdigit()) || body.bytes().all(|c| c == b'x')
}

fn private_key(secret: &str, _whole: &str) -> bool {
    // The body between the armour lines must hold real key material.
    let body = secret.split_once("-----").and_then(|(_, rest)| rest.split_once("-----")).map(|(_, b)| b).unwrap_or(secret);
    let body = body.split("-----END").next().unwrap_or(body);
    let b64 = body.bytes().filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/').count();
    b64 >= 40 && !is_placeholder(body.trim())
}

fn base64_private_key(secret: &str, _whole: &str) -> bool {
    secret.len() >= 64
}

fn jwt(secret: &str, _whole: &str) -> bool {
    let mut parts = secret.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else { return false };
    let json_object = |part: &str| {
        crate::secrets::base64url_decode(part).and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok()).is_some_and(|v| v.is_object())
    };
    json_object(header) && json_object(payload)
}

fn url_password(_secret: &str, whole: &str) -> bool {
    let Some((_, rest)) = whole.split_once("://") else { return false };
    let Some((userinfo, _)) = rest.rsplit_once('@') else { return false };
    let Some((user, password)) = userinfo.split_once(':') else { return false };
    // `user:$PASSWORD@`, `user:***@`, `user:<password>@` are templates.
    !password.is_empty() && !is_placeholder(password) && !is_placeholder(user) && !password.starts_with('(') && !user.is_empty()
}

/// A `user:password` pair passed to curl and friends: the password (or the
/// user when the password is empty, as in `-u "key:"`) must look chosen,
/// not like a template or a stock word.
fn cli_password(secret: &str, _whole: &str) -> bool {
    // `$USER`, `${PASS}`, `$(cat f)` are shell templates; a `$` before a
    // digit or at the end is part of a literal password.
    let template = secret.as_bytes().windows(2).any(|w| w[0] == b'$' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'{' | b'(' | b'_')));
    if template || secret.starts_with('<') || secret.starts_with('[') {
        return false;
    }
    let s: String = secret.chars().filter(|&c| c != '"' && c != '\'').collect();
    let Some((user, password)) = s.split_once(':') else { return false };
    let user = user.trim_matches(|c| c == '{' || c == '}');
    let password = password.trim_matches(|c| c == '{' || c == '}');
    let candidate = if password.is_empty() { user } else { password };
    credential_like(candidate, 6)
}

fn cli_p_password(secret: &str, _whole: &str) -> bool {
    !is_placeholder(secret) && secret.len() >= 6 && !secret.starts_with('%')
}

/// An authorization header value that is not a template. `Basic` values
/// must decode to `user:password`.
fn auth_header(secret: &str, whole: &str) -> bool {
    let lower = whole.to_ascii_lowercase();
    let value = secret.trim_end_matches([',', ';', ')']);
    if is_placeholder(value) || value.len() < 6 || value.starts_with('(') || value.starts_with('$') {
        return false;
    }
    if lower.contains("basic ") {
        return crate::secrets::base64url_decode(value.trim_end_matches('=')).is_some_and(|d| d.contains(&b':'));
    }
    // Header names without a scheme (`Token:`, `X-Api-Key:`) only count in a
    // header flag, not in prose.
    let named = lower.contains("authorization") || lower.starts_with("-h") || lower.starts_with("--header");
    named && (value.bytes().any(|c| c.is_ascii_digit()) || entropy(value) > 3.5)
}

/// A chosen password or key rather than a word or a template: long enough,
/// at least two character classes, no template syntax.
pub(crate) fn credential_like(s: &str, min_len: usize) -> bool {
    if s.len() < min_len || is_placeholder(s) || s.contains('$') && s.contains('{') {
        return false;
    }
    let lower = s.bytes().any(|c| c.is_ascii_lowercase());
    let upper = s.bytes().any(|c| c.is_ascii_uppercase());
    let digit = s.bytes().any(|c| c.is_ascii_digit());
    let symbol = s.bytes().any(|c| c.is_ascii_punctuation());
    let classes = [lower, upper, digit, symbol].iter().filter(|&&x| x).count();
    classes >= 2 && !matches!(s.to_ascii_lowercase().as_str(), "password" | "username" | "changeme" | "secret" | "token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_recognised() {
        for p in ["xxxxxxxxxxxxxxxx", "XXXXXXXXXXXXXXXXXXXX", "AKIAIOSFODNN7EXAMPLE", "${TOKEN}", "<your key>", "aaaaaaaaaaaaaaaaaaaaaaaaaa0", "********"] {
            assert!(is_placeholder(p), "{p}");
        }
        for s in ["Zf3D0LXkM9EIabgJ", "hellOworld380_testin"] {
            assert!(!is_placeholder(s), "{s}");
        }
    }

    #[test]
    fn sequences_are_found() {
        assert!(has_sequence("xxabcdefghxx", 8));
        assert!(!has_sequence("aZ3kQ9mP", 3));
    }

    #[test]
    fn credential_like_needs_two_classes() {
        assert!(credential_like("pQ9wTxu4Fg", 6));
        assert!(!credential_like("password", 6));
        assert!(!credential_like("test", 6));
        assert!(!credential_like("${PASS}", 6));
    }

    #[test]
    fn every_rule_compiles_and_has_keywords() {
        for r in RULES {
            assert!(regex_lite::Regex::new(r.pattern).is_ok(), "{}", r.id);
            assert!(!r.keywords.is_empty(), "{}", r.id);
            assert!(r.id.starts_with("secrets."));
        }
    }
}
