//! The two identifier tiers: values that are not secrets but name whose
//! secrets they would be.
//!
//! - Tenant endpoints: the host of an organisation's own tenant at a
//!   credentialed SaaS (`acme.okta.com`, `acme.jfrog.io`,
//!   `acme.blob.core.windows.net`, `dev.azure.com/acme`). It is the host
//!   half of a credential pair; in a model's answer it tells who runs what.
//! - Account identifiers: a literal assigned to a vendor-qualified
//!   identifier name (`algolia_app_id`, `paypal_client_id`,
//!   `snowflake_user`, `mongodb-public`), or a user name in a variable a
//!   front-end build ships to every browser (`REACT_APP_AUTH_USER`).
//!
//! Both are low severity and only logged unless a policy raises them
//! (`secrets::Detector::scan`): an operator wants them in the audit trail,
//! not rewritten out of the traffic.

use super::generic::{has_file_extension, identifier_words, looks_like_code, looks_like_version};
use super::rules::{has_sequence, is_placeholder, longest_repeat};

/// The literals that gate the tenant rule: the shared tails of
/// `TENANT_SUFFIXES` (`.windows.net` for eight Azure services), since every
/// literal adds states to the automaton every detector build constructs.
pub(crate) const TENANT_LITERALS: &[&str] = &[
    ".jfrog.io",
    ".auth0.com",
    ".okta.com",
    ".oktapreview.com",
    ".okta-emea.com",
    ".onelogin.com",
    ".atlassian.net",
    ".myshopify.com",
    ".salesforce.com",
    ".force.com",
    ".databricks.com",
    ".azuredatabricks.net",
    ".azure.com",
    ".azure.net",
    ".windows.net",
    ".azurecr.io",
    ".azconfig.io",
    ".onmicrosoft.com",
    ".b2clogin.com",
    ".snowflakecomputing.com",
    ".firebaseio.com",
    ".gserviceaccount.com",
    ".mongodb.net",
    ".supabase.co",
    ".zendesk.com",
    ".service-now.com",
    ".amazoncognito.com",
    ".grafana.net",
];

/// Host suffixes under which a vendor gives each customer its own tenant,
/// as the vendors document them (`<tenant>.okta.com`,
/// `<server>.jfrog.io`, `<account>.blob.core.windows.net`, …). Lower case,
/// with the leading dot; `TENANT_HOST_PATTERN` must list the same ones.
pub(crate) const TENANT_SUFFIXES: &[&str] = &[
    ".jfrog.io",
    ".auth0.com",
    ".okta.com",
    ".oktapreview.com",
    ".okta-emea.com",
    ".onelogin.com",
    ".atlassian.net",
    ".myshopify.com",
    ".my.salesforce.com",
    ".lightning.force.com",
    ".cloud.databricks.com",
    ".gcp.databricks.com",
    ".azuredatabricks.net",
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".search.windows.net",
    ".blob.core.windows.net",
    ".queue.core.windows.net",
    ".table.core.windows.net",
    ".file.core.windows.net",
    ".dfs.core.windows.net",
    ".vault.azure.net",
    ".database.windows.net",
    ".documents.azure.com",
    ".servicebus.windows.net",
    ".azurecr.io",
    ".azconfig.io",
    ".onmicrosoft.com",
    ".b2clogin.com",
    ".snowflakecomputing.com",
    ".firebaseio.com",
    ".iam.gserviceaccount.com",
    ".mongodb.net",
    ".supabase.co",
    ".zendesk.com",
    ".service-now.com",
    ".amazoncognito.com",
    ".grafana.net",
];

/// One to three DNS labels, then one of `TENANT_SUFFIXES`. Label lengths
/// are checked in `tenant_host`: a counted repetition would make the
/// compiled program (and every detector build) much larger.
pub(crate) const TENANT_HOST_PATTERN: &str = r"(?i:(?:[a-z0-9][a-z0-9-]*\.){1,3}(?:jfrog\.io|auth0\.com|okta\.com|oktapreview\.com|okta-emea\.com|onelogin\.com|atlassian\.net|myshopify\.com|my\.salesforce\.com|lightning\.force\.com|cloud\.databricks\.com|gcp\.databricks\.com|azuredatabricks\.net|openai\.azure\.com|cognitiveservices\.azure\.com|search\.windows\.net|(?:blob|queue|table|file|dfs)\.core\.windows\.net|vault\.azure\.net|database\.windows\.net|documents\.azure\.com|servicebus\.windows\.net|azurecr\.io|azconfig\.io|onmicrosoft\.com|b2clogin\.com|snowflakecomputing\.com|firebaseio\.com|iam\.gserviceaccount\.com|mongodb\.net|supabase\.co|zendesk\.com|service-now\.com|amazoncognito\.com|grafana\.net))";

/// Labels under a tenant suffix that are the vendor's own sites, not a
/// customer's tenant (`developer.okta.com`, `manage.auth0.com`), and
/// region or cluster labels that sit between tenant and suffix.
const NOT_TENANT_LABELS: &[&str] = &[
    "www", "api", "apis", "app", "apps", "docs", "doc", "help", "support", "status", "community", "developer", "developers", "login", "signin", "auth", "id",
    "sso", "cdn", "static", "assets", "blog", "blogs", "news", "marketplace", "manage", "dashboard", "console", "mail", "go", "learn", "training", "academy",
    "events", "careers", "jobs", "partners", "trust", "security", "privacy", "legal", "download", "downloads", "releases", "samples", "sample", "admin",
    "accounts", "portal", "us", "eu", "au", "jp", "ca", "uk", "in", "de", "fr", "privatelink",
];

/// Names the vendors' own documentation uses for a tenant that is no one's
/// (`contoso.onmicrosoft.com`, `dev.azure.com/fabrikam`).
const FICTIONAL_TENANTS: &[&str] = &["contoso", "fabrikam", "northwind", "adventureworks", "litware", "wingtiptoys", "tailspintoys", "woodgrovebank", "foo", "bar", "baz"];

/// Words that stand for "your tenant goes here", alone or with `name`
/// (`tenant`, `company-name`, `resourcename`).
const STAND_IN_WORDS: &[&str] = &[
    "tenant", "subdomain", "domain", "instance", "account", "storageaccount", "org", "organization", "organisation", "workspace", "company", "store", "shop",
    "site", "server", "host", "resource", "service", "app", "project", "cluster", "registry", "vault", "database", "search", "bucket",
];

/// A tenant name that is a template or a documentation stand-in.
fn placeholder_tenant(label: &str) -> bool {
    let word: String = label.chars().filter(|c| !matches!(c, '-' | '_')).collect::<String>().to_ascii_lowercase();
    let stem = word.strip_suffix("name").unwrap_or(&word);
    is_placeholder(label) || word.starts_with("your") || FICTIONAL_TENANTS.contains(&word.as_str()) || STAND_IN_WORDS.contains(&stem)
}

/// `whole` is a host ending in one of `TENANT_SUFFIXES`: it names a tenant
/// when one of its labels before the suffix is neither a site of the
/// vendor's own nor a region, and that label is not a placeholder.
pub(crate) fn tenant_host(_secret: &str, whole: &str) -> bool {
    let lower = whole.to_ascii_lowercase();
    let Some(suffix) = TENANT_SUFFIXES.iter().find(|s| lower.ends_with(*s)) else { return false };
    let labels = &lower[..lower.len() - suffix.len()];
    if labels.split('.').any(|l| l.len() > 63 || l.ends_with('-')) {
        return false;
    }
    match labels.split('.').find(|l| !NOT_TENANT_LABELS.contains(l)) {
        Some(tenant) => !placeholder_tenant(tenant),
        None => false,
    }
}

/// `dev.azure.com/<organisation>`: the organisation must be a name, not a
/// stand-in (`fabrikam`, `{organization}`, `YOUR_ORG`).
pub(crate) fn azure_devops_org(secret: &str, _whole: &str) -> bool {
    let org = secret.rsplit('/').next().unwrap_or(secret);
    org.len() <= 50 && !org.ends_with('-') && !placeholder_tenant(org)
}

/// Vendors whose credentials come as an identifier and a secret, so an
/// identifier assigned under their name is the other half of a credential
/// (`algolia_app_id`, `paypal_client_id`, `snowflake_user`). One word of a
/// name each, lower case. Common English words (`box`, `square`, `zoom`,
/// `segment`) are left out: a name spelled with them says nothing.
pub(crate) const VENDORS: &[&str] = &[
    "algolia",
    "auth0",
    "okta",
    "onelogin",
    "cognito",
    "keycloak",
    "paypal",
    "braintree",
    "adyen",
    "plaid",
    "stripe",
    "snowflake",
    "confluent",
    "databricks",
    "bitbucket",
    "github",
    "gitlab",
    "atlassian",
    "jira",
    "confluence",
    "twitter",
    "facebook",
    "instagram",
    "linkedin",
    "discord",
    "slack",
    "twilio",
    "sendgrid",
    "mailgun",
    "mailchimp",
    "shopify",
    "salesforce",
    "hubspot",
    "zendesk",
    "intercom",
    "mongodb",
    "planetscale",
    "pscale",
    "supabase",
    "firebase",
    "azure",
    "aws",
    "gcp",
    "heroku",
    "netlify",
    "vercel",
    "cloudflare",
    "digitalocean",
    "datadog",
    "newrelic",
    "sentry",
    "mixpanel",
    "amplitude",
    "pubnub",
    "cloudinary",
    "contentful",
    "dropbox",
    "spotify",
    "twitch",
    "sumologic",
    "splunk",
    "pagerduty",
    "circleci",
    "jenkins",
    "sonarqube",
    "sonarcloud",
    "anypoint",
    "mulesoft",
    "docusign",
    "mapbox",
    "nexmo",
    "vonage",
    "openai",
    "anthropic",
    "huggingface",
    "dockerhub",
    "docker",
    "artifactory",
    "jfrog",
];

/// Prefixes of the environment variables that front-end builds inline into
/// the bundle every visitor downloads (Create React App, Next.js, Vite,
/// Expo, Gatsby, Vue CLI, Nuxt): a user name there is public, and so is
/// whatever it logs in to. As name words.
const PUBLIC_ENV_PREFIXES: &[&[&str]] =
    &[&["react", "app"], &["next", "public"], &["vite"], &["expo", "public"], &["gatsby"], &["vue", "app"], &["nuxt", "public"]];

/// Their literals for the automaton (`REACT_APP_…`), ASCII case ignored.
pub(crate) const PUBLIC_ENV_LITERALS: &[&str] = &["react_app_", "next_public_", "vite_", "expo_public_", "gatsby_", "vue_app_", "nuxt_public_"];

/// A name, optionally a second name after a blank (`confluent client_id`),
/// an assignment, and the literal assigned. Group 1 is the value; the
/// closing character keeps a value from being cut out of a longer one; its
/// length is checked in `identifier_value`.
pub(crate) const IDENTIFIER_PATTERN: &str = r#"[A-Za-z0-9_.\-]+(?:[ \t]+[A-Za-z0-9_.\-]+)?["']?[ \t]*(?:=>|:=|=|:)[ \t]*["']?([A-Za-z0-9][A-Za-z0-9_.@+\-]*)(?:[\s"',;#)}\]]|$)"#;

/// What the last word of the name says the value is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IdKind {
    /// An app, client, account or organisation id: random-looking.
    Id,
    /// A user or account name: chosen by people, may be a word.
    Name,
}

/// Last words that make a name an identifier (`…_app_id`, `…_user`).
fn id_kind(last: &str) -> Option<IdKind> {
    match last {
        "id" | "appid" | "clientid" | "accountid" | "userid" | "orgid" | "tenantid" | "projectid" | "accessid" | "public" => Some(IdKind::Id),
        "account" | "user" | "username" | "login" | "org" | "organization" | "organisation" | "tenant" | "workspace" => Some(IdKind::Name),
        _ => None,
    }
}

/// Words before a final `id` that make it the id of an account or an app,
/// not of a message, a price or a channel (`stripe_price_id`).
const ID_OWNERS: &[&str] = &[
    "app",
    "application",
    "client",
    "account",
    "user",
    "org",
    "organization",
    "organisation",
    "tenant",
    "project",
    "workspace",
    "access",
    "consumer",
    "merchant",
    "subscription",
    "directory",
    "team",
    "partner",
];

/// Words that make a name the secret's own, which the key-name rules judge.
const SECRET_WORDS: &[&str] =
    &["key", "keys", "secret", "token", "password", "passwd", "pwd", "pass", "passphrase", "credential", "credentials", "private", "pat", "apikey", "cert"];

/// Cheap byte test at a vendor or prefix literal before the regex runs:
/// the literal starts a word of an identifier that an `=` or `:` follows
/// on the same line (vendor names are common in prose, assignments to
/// them are not).
pub(crate) fn assignment_ahead(text: &[u8], at: usize) -> bool {
    let starts_word = match at.checked_sub(1).map(|i| text[i]) {
        None => true,
        Some(p) if !p.is_ascii_alphabetic() => true,
        Some(p) => p.is_ascii_lowercase() && text.get(at).is_some_and(u8::is_ascii_uppercase),
    };
    if !starts_word {
        return false;
    }
    let ident = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
    let end = text.len().min(at + 160);
    let mut i = at;
    while i < end && ident(text[i]) {
        i += 1;
    }
    // One more name after blanks (`confluent client_id = …`).
    let mut j = i;
    while j < end && matches!(text[j], b' ' | b'\t') {
        j += 1;
    }
    if j > i && j < end && ident(text[j]) {
        while j < end && ident(text[j]) {
            j += 1;
        }
        i = j;
    }
    while i < end && matches!(text[i], b'"' | b'\'' | b' ' | b'\t') {
        i += 1;
    }
    i < end && matches!(text[i], b'=' | b':')
}

/// The check of an identifier assignment: the name must be
/// vendor-qualified (or a public front-end variable) and end in an
/// identifier word, and the value must be a literal of an identifier's
/// shape.
pub(crate) fn vendor_identifier(secret: &str, whole: &str) -> bool {
    let name_end = whole.find([':', '=']).unwrap_or(whole.len());
    let name = whole[..name_end].trim_end_matches(['"', '\'', ' ', '\t']);
    let parts: Vec<&str> = name.split([' ', '\t']).filter(|p| !p.is_empty()).collect();
    // Two names separated by a blank are code only when the second is
    // spelled like code (`client_id`, `orgId`); `GitHub username:` is prose.
    if parts.len() > 1 && !parts[1..].iter().all(|p| p.contains(['_', '.', '-']) || p.as_bytes().windows(2).any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())) {
        return false;
    }
    let mut words: Vec<String> = parts.iter().flat_map(|p| identifier_words(p)).collect();
    // `USER_NAME` is `username`.
    if words.len() >= 2 && words[words.len() - 2] == "user" && words[words.len() - 1] == "name" {
        words.pop();
        if let Some(last) = words.last_mut() {
            *last = "username".into();
        }
    }
    let Some(last) = words.last() else { return false };
    let Some(kind) = id_kind(last) else { return false };
    if words.iter().any(|w| SECRET_WORDS.contains(&w.as_str())) {
        return false;
    }
    let public_env = PUBLIC_ENV_PREFIXES.iter().any(|p| words.len() > p.len() && words[..p.len()].iter().zip(p.iter()).all(|(w, q)| w == q));
    let vendor = words[..words.len() - 1].iter().position(|w| VENDORS.contains(&w.as_str()));
    let qualified = match (vendor, public_env) {
        // A front-end variable qualifies user names only: its ids (a
        // Firebase app id, an analytics id) are public by design.
        (_, true) => matches!(last.as_str(), "user" | "username" | "login"),
        (Some(v), false) => {
            // `…_id` must be the id of an account or app: the word before it
            // is the vendor itself or names an owner.
            last != "id" || v + 2 == words.len() || ID_OWNERS.contains(&words[words.len() - 2].as_str())
        }
        (None, false) => false,
    };
    qualified && identifier_value(secret, name, kind)
}

/// A literal that could be an account's id or name, not a template, a
/// reference, a stock word or a sample run (`abcdefgh`, `123456789`).
fn identifier_value(v: &str, name: &str, kind: IdKind) -> bool {
    let n = v.len();
    if !(4..=128).contains(&n) || is_placeholder(v) || has_sequence(v, 6) || longest_repeat(v) >= 5 {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    let stock = matches!(
        lower.as_str(),
        "none" | "null" | "nil" | "true" | "false" | "undefined" | "empty" | "string" | "required" | "optional" | "default" | "unknown" | "value" | "changeme" | "dummy" | "todo" | "tbd" | "placeholder"
    ) || lower.starts_with("your");
    let refers = identifier_words(v).any(|w| {
        ["user", "username", "login", "password", "pass", "secret", "token", "key", "id", "account", "env", "process", "config", "settings", "os"].contains(&w.as_str())
    });
    let constant = v.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_') && v.contains('_');
    if stock || refers || constant || lower == name.to_ascii_lowercase() || looks_like_code(v) || looks_like_version(v) || has_file_extension(v) {
        return false;
    }
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let letters = v.bytes().filter(u8::is_ascii_alphabetic).count();
    if letters == 0 {
        return digits >= 6;
    }
    match kind {
        // Ids are drawn, not chosen: digits among the letters, mixed case,
        // or long.
        IdKind::Id => digits > 0 || (v.bytes().any(|c| c.is_ascii_lowercase()) && v.bytes().any(|c| c.is_ascii_uppercase())) || n >= 12,
        IdKind::Name => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suffix_list_and_the_pattern_agree() {
        let re = regex_lite::Regex::new(&format!("^{TENANT_HOST_PATTERN}$")).unwrap();
        for s in TENANT_SUFFIXES {
            assert!(s.starts_with('.') && *s == s.to_ascii_lowercase(), "{s}");
            assert!(re.is_match(&format!("acme7{s}")), "{s} missing from the pattern");
        }
        assert!(!re.is_match("acme.okta.net") && !re.is_match("okta.com"));
        for s in TENANT_SUFFIXES {
            assert!(TENANT_LITERALS.iter().any(|l| s.ends_with(l)), "{s} has no literal");
        }
    }

    #[test]
    fn tenant_hosts() {
        assert!(tenant_host("", "acme-prod.okta.com"));
        assert!(tenant_host("", "acme.eu.auth0.com"));
        assert!(tenant_host("", "Acme.My.Salesforce.com"));
        assert!(!tenant_host("", "developer.okta.com"));
        assert!(!tenant_host("", "www.us.auth0.com"));
        assert!(!tenant_host("", "contoso.onmicrosoft.com"));
        assert!(!tenant_host("", "example.myshopify.com"));
        assert!(!tenant_host("", "your-tenant.okta.com"));
    }

    #[test]
    fn assignments_ahead_of_a_vendor_word() {
        assert!(assignment_ahead(b"algolia_app_id = 1", 0));
        assert!(assignment_ahead(b"confluent client_id=1", 0));
        assert!(assignment_ahead(b"x myAlgoliaId: 1", 4));
        assert!(!assignment_ahead(b"I use GitHub for code: yes", 6));
        assert!(!assignment_ahead(b"subalgolia_id = 1", 3));
    }
}
