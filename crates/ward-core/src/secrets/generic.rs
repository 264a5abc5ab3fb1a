//! Secrets without a provider format of their own: a value assigned to a
//! name that says "secret" (`password=`, `api_key:`, `SLACK_TOKEN ...`) and
//! random-looking enough to be one, and tokens behind a vendor's documented
//! prefix (`pnu_`, `rdme_`, ...).
//!
//! Both are plain byte scans from an aho-corasick hit; no regex.

use crate::detect::entropy;

use super::rules::{has_sequence, is_placeholder};

/// Words that mark a name as holding a secret. Matched without regard to
/// ASCII case; `strong` ones may be glued to a lower-case prefix
/// (`shortcutaccess`), the others need a word boundary (`monkey` is not a
/// key).
pub(crate) const KEYWORDS: &[(&str, Kind)] = &[
    ("key", Kind::Key),
    ("secret", Kind::Key),
    ("token", Kind::Key),
    ("tkn", Kind::Key),
    ("access", Kind::Key),
    ("auth", Kind::Key),
    ("api", Kind::Key),
    ("apikey", Kind::Key),
    ("private", Kind::Key),
    ("credential", Kind::Key),
    ("credentials", Kind::Key),
    ("bearer", Kind::Key),
    ("pat", Kind::Key),
    ("password", Kind::Password),
    ("passwd", Kind::Password),
    ("passphrase", Kind::Password),
    ("pwd", Kind::Password),
    ("pass", Kind::Password),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// API keys and tokens: long and random.
    Key,
    /// Passwords: shorter, chosen by people.
    Password,
}

/// Name parts that say the value is not the secret itself even when the
/// name holds a secret word: `signing_key_id`, `public_key`, `token_url`.
const NOT_SECRET_WORDS: &[&str] = &[
    "id",
    "ids",
    "uuid",
    "guid",
    "version",
    "ver",
    "name",
    "names",
    "url",
    "uri",
    "path",
    "file",
    "filename",
    "dir",
    "public",
    "pub",
    "publishable",
    "size",
    "length",
    "len",
    "type",
    "hash",
    "sha",
    "sha1",
    "sha256",
    "md5",
    "checksum",
    "chksum",
    "commit",
    "rev",
    "srcrev",
    "format",
    "count",
    "index",
    "idx",
    "timeout",
    "expiry",
    "expires",
    "expiration",
    "endpoint",
    "host",
    "hostname",
    "region",
    "fingerprint",
    "algorithm",
    "alg",
    "mode",
    "field",
    "label",
    "prefix",
    "header",
    "policy",
    "csrf",
    "xsrf",
    "nonce",
    "schema",
    "sequence",
    "bucket",
    "vault",
    "store",
    "ref",
    "kind",
    "class",
    "method",
    "enabled",
    "required",
    "email",
    "user",
    "username",
    "login",
    "usage",
    "template",
    "authenticity",
    "chars",
    "charset",
    "alphabet",
    "str",
    "pair",
    "pressed",
    "frame",
    "note",
    "notes",
    "hint",
    "placeholder",
];

/// How much a key-name finding has going for it besides the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tier {
    /// The value itself looks like a key (random) or a chosen password.
    Strong,
    /// Only the name says it is a credential: a literal value that is not
    /// random (`open sesame`, `abcd1234`, a sample key). Real scanners
    /// report these too; they are the long tail of weak and test
    /// credentials, and the value is a literal, not a template.
    Named,
}

/// The secret a keyword hit at `kw_start..kw_end` points at, as a byte span.
pub(crate) fn keyword_value(text: &str, kw_start: usize, kw_end: usize, kind: Kind) -> Option<(Tier, (usize, usize))> {
    let b = text.as_bytes();
    if !word_edges_ok(b, kw_start, kw_end) {
        return None;
    }
    let (id_start, id_end) = identifier_around(b, kw_start, kw_end);
    // A path segment of a URL (`/API-…`) is not an assignment.
    if id_start > 0 && b[id_start - 1] == b'/' {
        return None;
    }
    if identifier_words(&text[id_start..id_end]).any(|w| NOT_SECRET_WORDS.contains(&w.as_str())) {
        return None;
    }
    // Walk the tokens after the keyword. The first may be the rest of the
    // name glued on (`SECRET_KEY`, `SECRET-abc123…`); after an assignment
    // operator only the very next token counts.
    let limit = (kw_end + 160).min(b.len());
    let mut i = kw_end;
    let mut assigned = false;
    // The weaker tier looks at one value only: the first token after the
    // name that is not itself part of the name.
    let mut named_open = true;
    for step in 0..4 {
        let gap_start = i;
        let mut newline = false;
        let mut quote: Option<u8> = None;
        let mut empty = false;
        // Anything but blanks, quotes and the operator between name and
        // value makes the value an expression (`(char *) p`, `[x]`, `{…}`).
        let mut expression = false;
        while i < limit && is_gap(b[i]) {
            match b[i] {
                b'=' | b':' => assigned = true,
                b'"' | b'\'' | b'`' if assigned => match quote {
                    Some(q) if q == b[i] => empty = true,
                    Some(_) => {}
                    None => quote = Some(b[i]),
                },
                b'\n' => newline = true,
                b' ' | b'\t' | b'\r' | b'"' | b'\'' | b'`' => {}
                b'>' if i > 0 && b[i - 1] == b'=' => {}
                _ => expression = true,
            }
            i += 1;
        }
        // `password = "", next = …`: the assigned value was empty. A name
        // alone on its line may label the value on the next (`vendor
        // access key⏎3kF9…`), which only the weaker tier reports.
        if empty || newline && (assigned || !named_open || b[gap_start..i].iter().filter(|&&c| c == b'\n').count() > 1) {
            return None;
        }
        let tok_start = i;
        while i < limit && is_value_byte(b[i], kind) {
            i += 1;
        }
        // Base64 padding belongs to the value, an `=` followed by more is an
        // assignment.
        while i < limit && b[i] == b'=' && (i + 1 == b.len() || !is_value_byte(b[i + 1], kind)) {
            i += 1;
        }
        if tok_start == i {
            return None;
        }
        let glued = step == 0 && gap_start == tok_start;
        let (s, e) = strip_name_parts(b, tok_start, i);
        // `x_pubkey = struct_x_pubkey;`: a value that holds its own name
        // refers to it.
        let name = &text[id_start..id_end];
        if name.len() >= 6 && text[s..e].to_ascii_lowercase().contains(&name.to_ascii_lowercase()) {
            return None;
        }
        let followed_by_ellipsis = text[i..].starts_with("...") || text[i..].starts_with('…') || text[i..].starts_with('(');
        // People's passwords need a visible assignment: prose says
        // "password combination".
        let eligible = kind == Kind::Key || assigned || glued;
        if s < e && eligible && !newline && !followed_by_ellipsis && looks_secret(&text[s..e], kind, glued) {
            return Some((Tier::Strong, (s, e)));
        }
        // `apikey=vendor:3f9a…`: a word naming whom the key is for, a colon,
        // then the key. Only a plain word: `sha256:…` is a digest.
        if assigned && !newline && s < e && b.get(i) == Some(&b':') && b[s..e].iter().all(u8::is_ascii_alphabetic) {
            let mut ve = i + 1;
            while ve < limit && is_value_byte(b[ve], kind) {
                ve += 1;
            }
            if ve > i + 1 && looks_secret(&text[i + 1..ve], kind, false) {
                return Some((Tier::Strong, (i + 1, ve)));
            }
        }
        if named_open && !(s < e && is_name_only(&text[s..e])) {
            named_open = false;
            let quoted = quote.filter(|&q| q != b'`');
            let shape = if let Some(q) = quoted {
                // A quoted literal runs to its closing quote on the line and
                // may hold spaces (`'open sesame'`).
                let close = (tok_start..limit).find(|&j| b[j] == q || b[j] == b'\n').filter(|&j| b[j] == q);
                close.map(|c| (tok_start, c, Shape::Quoted))
            } else if quote.is_some() || expression || followed_by_ellipsis {
                None
            } else if assigned || glued && matches!(b[tok_start], b'-' | b'_') {
                // An unquoted value that code goes on using (`pw;`, `pw.x`,
                // `pw[0]`) is a variable, not a literal; glued on, only
                // after a separator (`TOKEN-abc…`, not `passwordVariable`).
                let next = b.get(i).copied();
                (!matches!(next, Some(b';' | b'[' | b'.' | b'&' | b'+' | b'|'))).then_some((s, e, Shape::Bare))
            } else if glued {
                None
            } else {
                let next = b.get(i).copied();
                next.is_none_or(|c| c.is_ascii_whitespace() || matches!(c, b',' | b';' | b')' | b'"' | b'\'')).then_some((s, e, Shape::Loose))
            };
            if let Some((vs, ve, shape)) = shape {
                if vs < ve && named_literal(&text[vs..ve], kind, shape) {
                    return Some((Tier::Named, (vs, ve)));
                }
            }
        }
        if newline && !named_open {
            return None;
        }
        if assigned {
            return None;
        }
        // A later name with its own assignment is a different key.
        let mut j = i;
        while j < limit && (b[j] == b' ' || b[j] == b'\t' || b[j] == b'"' || b[j] == b'\'') {
            j += 1;
        }
        if step > 0 && j < limit && (b[j] == b'=' || b[j] == b':') {
            return None;
        }
    }
    None
}

/// How a value is written after its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Between quotes after an assignment.
    Quoted,
    /// After an assignment, or glued to the name, without quotes.
    Bare,
    /// After the name and a space, with no assignment (`vendor token 3kF9…`).
    Loose,
}

/// A token that only continues the name (`TOKEN` after `access`,
/// `PRIVATE_KEY`), so the value is the token after it.
fn is_name_only(v: &str) -> bool {
    identifier_words(v).all(|w| {
        let w = w.strip_suffix('s').unwrap_or(&w).to_string();
        KEYWORDS.iter().any(|(k, _)| *k == w) || ["client", "value", "api", "secretkey", "accesskey", "apikey", "authtoken", "sk"].contains(&w.as_str())
    })
}

/// The test of the weaker tier: a literal, not a template, a reference to
/// another variable, a stock word, a number, a path or a name.
fn named_literal(v: &str, kind: Kind, shape: Shape) -> bool {
    let n = v.len();
    if !(6..=256).contains(&n) || is_placeholder(v) || v.contains("://") || v.starts_with('/') || v.starts_with('.') || has_file_extension(v) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    let template = ["${", "#{", "{{", "$(", "%(", "<%"].iter().any(|t| v.contains(t)) || v.starts_with('%') && v.ends_with('%');
    let stock = ["your", "my_", "my-", "changeme", "change_me", "replace", "redacted", "placeholder", "insert", "enter_", "todo", "dummy"].iter().any(|w| lower.starts_with(w))
        || matches!(lower.as_str(), "none" | "null" | "nil" | "undefined" | "true" | "false" | "empty" | "string" | "required" | "optional" | "default" | "secret" | "password" | "token");
    let refers = identifier_words(v).any(|w| ["pass", "password", "passwd", "pwd", "secret", "token", "key", "apikey", "username", "user"].contains(&w.as_str()));
    if template || stock || refers || looks_like_version(v) || looks_like_code(v) || looks_like_dotted_name(v) {
        return false;
    }
    let mut distinct = [false; 128];
    v.bytes().filter(u8::is_ascii_alphanumeric).for_each(|c| distinct[c as usize] = true);
    if distinct.iter().filter(|&&d| d).count() < 4 {
        return false;
    }
    let digits = v.bytes().any(|c| c.is_ascii_digit());
    let letters = v.bytes().any(|c| c.is_ascii_alphabetic());
    let spaced = v.contains(' ');
    match (kind, shape) {
        // A phrase in quotes is a password only when the name says password.
        (_, Shape::Quoted) if spaced => kind == Kind::Password && n <= 64 && v.split(' ').count() <= 4,
        // Without an assignment the value must look like a key on its own
        // terms: letters and digits, or a long run of hex.
        (_, Shape::Loose) => digits && letters && n >= 8 || n >= 16 && v.bytes().all(|c| c.is_ascii_hexdigit()),
        // Passwords are chosen from words; keys are not, and a key name
        // holding a word or a small number is configuration (`key: "Enter"`,
        // `max_tokens: 4096`).
        (Kind::Password, _) => letters,
        (Kind::Key, _) => letters && !looks_like_words(v) && (digits && n >= 8 || n >= 16),
    }
}

/// `jetbrains.mps.v8_elimination`, `host.int.example`: dotted names.
fn looks_like_dotted_name(v: &str) -> bool {
    v.contains('.') && v.split('.').all(|p| p.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'))
}

/// The keyword must start a word of the name and end one: `apiKey`,
/// `API_KEY`, `metriloKEY`, `shortcutaccess`; not `monkey`, `accessor`.
fn word_edges_ok(b: &[u8], start: usize, end: usize) -> bool {
    let kw = &b[start..end];
    let first_upper = kw[0].is_ascii_uppercase();
    let all_upper = kw.iter().all(|c| c.is_ascii_uppercase());
    let all_lower = kw.iter().all(|c| c.is_ascii_lowercase());
    let left_ok = match start.checked_sub(1).map(|i| b[i]) {
        None => true,
        Some(p) if !p.is_ascii_alphanumeric() => true,
        Some(p) if p.is_ascii_digit() => true,
        Some(p) if p.is_ascii_lowercase() && first_upper => true,
        Some(p) if p.is_ascii_uppercase() && all_upper => glue_ok(kw),
        Some(p) if p.is_ascii_lowercase() && all_lower => glue_ok(kw),
        _ => false,
    };
    if !left_ok {
        return false;
    }
    match b.get(end) {
        None => true,
        Some(n) if !n.is_ascii_alphabetic() => true,
        Some(n) if n.is_ascii_uppercase() && !all_upper => true,
        Some(n) if n.is_ascii_lowercase() && all_upper => true,
        // Plural, or another secret word glued on (`secretkey`, `APIKEY`).
        Some(_) => {
            let rest = &b[end..];
            let is_s = (rest[0] | 0x20) == b's' && rest.get(1).is_none_or(|c| !c.is_ascii_alphabetic());
            is_s || KEYWORDS.iter().any(|(k, _)| rest.len() >= k.len() && rest[..k.len()].eq_ignore_ascii_case(k.as_bytes()))
        }
    }
}

/// Keywords glued to a vendor name (`codakey`, `shortcutaccess`) still
/// count; `monkey` and `hockey` are kept out by the value test, which a
/// word after them does not pass.
fn glue_ok(kw: &[u8]) -> bool {
    !["pat", "api", "auth", "pass", "tkn"].iter().any(|k| kw.eq_ignore_ascii_case(k.as_bytes()))
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.'
}

fn identifier_around(b: &[u8], start: usize, end: usize) -> (usize, usize) {
    let mut s = start;
    while s > 0 && is_ident_byte(b[s - 1]) && start - s < 64 {
        s -= 1;
    }
    let mut e = end;
    while e < b.len() && (b[e].is_ascii_alphabetic() || b[e] == b'_') && e - end < 64 {
        e += 1;
    }
    (s, e)
}

/// Lower-cased words of a name: split on `_ - .` and on camelCase humps.
pub(crate) fn identifier_words(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split(|c: char| c == '_' || c == '-' || c == '.').flat_map(|part| {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut prev_lower = false;
        for c in part.chars() {
            if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            cur.push(c.to_ascii_lowercase());
        }
        if !cur.is_empty() {
            words.push(cur);
        }
        words
    })
}

fn is_gap(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b':' | b'=' | b'>' | b'"' | b'\'' | b'`' | b',' | b'(' | b'[' | b'{' | b'|' | b'\\')
}

fn is_value_byte(c: u8, kind: Kind) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, b'+' | b'/' | b'_' | b'.' | b'~' | b'-')
        || kind == Kind::Password && matches!(c, b'!' | b'@' | b'#' | b'$' | b'%' | b'^' | b'&' | b'*' | b'?')
}

/// Drops leading separators and name words glued in front of the value:
/// `_KEY=`, `KEY-abc…`, `-abc…`.
fn strip_name_parts(b: &[u8], mut s: usize, e: usize) -> (usize, usize) {
    loop {
        while s < e && matches!(b[s], b'_' | b'-' | b'.') {
            s += 1;
        }
        let word_end = (s..e).find(|&i| !b[i].is_ascii_alphabetic()).unwrap_or(e);
        let word = &b[s..word_end];
        let is_name_word = word_end < e
            && matches!(b[word_end], b'_' | b'-' | b'.')
            && [
                "key", "keys", "secret", "token", "access", "api", "apikey", "private", "pat", "auth", "client", "id", "pass", "password", "value", "code",
                "live", "test",
            ]
            .iter()
            .any(|w| word.eq_ignore_ascii_case(w.as_bytes()));
        if !is_name_word {
            return (s, e);
        }
        s = word_end;
    }
}

/// The value test: random enough for a key, chosen enough for a password,
/// and none of the things that sit in the same places (paths, versions,
/// placeholders, identifiers).
pub(crate) fn looks_secret(v: &str, kind: Kind, glued: bool) -> bool {
    let n = v.len();
    let password = kind == Kind::Password && !glued;
    // Every test here is pure, so their order decides only the cost: the
    // length and the counting tests come first because most values that
    // reach this point (`key id`, prose after `token`) fail them, and the
    // allocating shape tests then run only on the few that pass.
    if n < if password { 6 } else { 10 } || n > 512 {
        return false;
    }
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let letters = v.bytes().filter(u8::is_ascii_alphabetic).count();
    let lower = v.bytes().any(|c| c.is_ascii_lowercase());
    let upper = v.bytes().any(|c| c.is_ascii_uppercase());
    let h = entropy(v);
    let random = if password {
        // People choose passwords from words; what rules them out is a
        // stock value or a reference to another variable.
        h > 1.5
            && !matches!(
                v.to_ascii_lowercase().as_str(),
                "password" | "changeme" | "secret" | "none" | "null" | "undefined" | "false" | "true" | "required" | "optional" | "string"
            )
            && !identifier_words(v).any(|w| ["pass", "password", "passwd", "pwd", "secret", "token", "key"].contains(&w.as_str()))
    } else if n >= 16 {
        (digits > 0 && letters > 0 && h >= 2.4) || (lower && upper && h > 3.0) || h > 3.5 || (letters == 0 && h > 2.5 && !has_sequence(v, 20))
    } else {
        digits > 0 && letters > 0 && h > 3.0 && !has_sequence(v, 6)
    };
    random
        && !(is_placeholder(v) || v.contains("://") || v.starts_with('/') || v.starts_with('.') || has_file_extension(v))
        && !(looks_like_words(v) || looks_like_version(v) || looks_like_code(v))
}

/// `getPagesInConfluenceSpace`, `SECRET_ACCESS_KEY`, `Befaehigung_P2`:
/// built from word-like pieces rather than random characters.
fn looks_like_words(v: &str) -> bool {
    let pieces: Vec<String> = identifier_words(v).collect();
    // Real words are short; a 26-letter run is an alphabet, not a word.
    let wordy = |w: &String| (3..=14).contains(&w.len()) && w.bytes().all(|c| c.is_ascii_lowercase()) && w.bytes().any(|c| b"aeiouy".contains(&c));
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let n_wordy = pieces.iter().filter(|w| wordy(w)).count();
    let letters: Vec<u8> = v.bytes().filter(u8::is_ascii_alphabetic).map(|c| c.to_ascii_lowercase()).collect();
    let vowels = letters.iter().filter(|c| b"aeiou".contains(c)).count();
    // Random letters are about one fifth vowels, English about two fifths.
    let camel_words = digits == 0 && pieces.len() >= 2 && vowels * 10 >= letters.len() * 3;
    // camelCase has one capital per word; a run with a third or more of its
    // letters in capitals and no separators is random case
    // (`mafek7RTxo2PKaDEsWbi`), whatever short pieces it splits into.
    let upper = v.bytes().filter(u8::is_ascii_uppercase).count();
    let random_case = upper * 3 >= letters.len() && upper < letters.len() && !v.contains(['_', '-', '.']);
    !random_case && (camel_words || pieces.len() >= 2 && n_wordy >= 2 && n_wordy * 2 >= pieces.len() && digits * 4 < v.len())
}

pub(crate) fn looks_like_version(v: &str) -> bool {
    let core = v.trim_start_matches(['v', 'V']);
    if core.bytes().all(|c| c.is_ascii_digit() || c == b'.' || c == b'-' || c == b'_') && core.contains('.')
        || v.ends_with("-SNAPSHOT")
        || v.ends_with(".RELEASE")
    {
        return true;
    }
    // An artifact coordinate: `name-1.2.3`.
    let tail = v.rsplit(['-', '_', ':']).next().unwrap_or("");
    tail.len() < v.len() && tail.split('.').count() >= 2 && tail.split('.').all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

/// A member access in code: `X25519.KeyPair`, `kVK_Return.u16`.
pub(crate) fn looks_like_code(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    let ident =
        |p: &&str| p.as_bytes().first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    let Some(last) = parts.last() else { return false };
    let camel = last.as_bytes().windows(2).any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
        || last.as_bytes().first().is_some_and(u8::is_ascii_uppercase) && last.bytes().skip(1).filter(u8::is_ascii_lowercase).count() >= 3;
    parts.len() >= 2 && parts.iter().all(|p| ident(p) && p.len() <= 24) && (camel || last.len() <= 4)
}

pub(crate) fn has_file_extension(v: &str) -> bool {
    let Some((_, ext)) = v.rsplit_once('.') else { return false };
    [
        "pem", "p12", "pfx", "json", "txt", "key", "crt", "cer", "jks", "keytab", "yml", "yaml", "xml", "html", "png", "jpg", "gif", "svg", "gz", "tgz", "zip",
        "js", "ts", "py", "go", "rs", "java", "cs", "rb", "php", "sh", "conf", "cfg", "ini", "env", "io", "com", "org", "net", "dev",
    ]
    .iter()
    .any(|e| ext.eq_ignore_ascii_case(e))
}

/// Random-looking values assigned to any name (`acme_svc = 9f8e…`,
/// `vendor 3kF9…`): the long tail of vendors with no format of their own.
/// Found by a byte scan for long value runs (no literal to gate on), and
/// reported at low severity because hashes sit in the same places.
pub(crate) fn random_assignments(text: &str, out: &mut Vec<(usize, usize)>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !is_value_byte(b[i], Kind::Key) || (i > 0 && is_value_byte(b[i - 1], Kind::Key)) {
            i += 1;
            continue;
        }
        // Runs shorter than 20 bytes with their `=` padding are never
        // reported. A byte in the next 20 that is neither ends every run
        // that starts at or before it, so prose is passed a few words at a
        // time instead of byte by byte.
        if b.len() - i < 20 {
            break;
        }
        if let Some(k) = b[i..i + 20].iter().rposition(|&c| !is_value_byte(c, Kind::Key) && c != b'=') {
            i += k + 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_value_byte(b[i], Kind::Key) {
            i += 1;
        }
        let mut end = i;
        while end < b.len() && b[end] == b'=' {
            end += 1;
        }
        if end - start < 20 || end - start > 512 {
            continue;
        }
        let value = &text[start..end];
        let constant = value.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_') && value.bytes().filter(|&c| c == b'_').count() >= 2;
        if !value.contains('/')
            && !constant
            && named_before(b, start, value)
            && looks_secret(value, Kind::Key, false)
            && entropy(value) > 3.0
            && !is_hash_like(value)
        {
            out.push((start, end));
        }
    }
}

/// `name = `, `name: "`, `name ` right before `start` on the same line,
/// where the name is not one that holds digests, ids or versions.
fn named_before(b: &[u8], start: usize, value: &str) -> bool {
    let mut j = start;
    let mut seps = 0;
    while j > 0 && matches!(b[j - 1], b' ' | b'\t' | b'=' | b':' | b'"' | b'\'' | b'>') && seps < 6 {
        j -= 1;
        seps += 1;
    }
    if seps == 0 {
        return false;
    }
    let name_end = j;
    while j > 0 && (b[j - 1].is_ascii_alphanumeric() || b[j - 1] == b'_' || b[j - 1] == b'-' || b[j - 1] == b'.') && name_end - j < 48 {
        j -= 1;
    }
    let name = &b[j..name_end];
    if name.len() < 3 || !name[0].is_ascii_alphabetic() {
        return false;
    }
    let Ok(name) = std::str::from_utf8(name) else { return false };
    // `x_pubkey = struct_x_pubkey;` refers to a name, it holds no value.
    if name.len() >= 6 && value.to_ascii_lowercase().contains(&name.to_ascii_lowercase()) {
        return false;
    }
    const CODE: &[&str] = &[
        "const",
        "let",
        "var",
        "pub",
        "fn",
        "def",
        "static",
        "final",
        "class",
        "struct",
        "enum",
        "return",
        "import",
        "from",
        "new",
        "case",
        "int",
        "string",
        "void",
        "public",
        "private",
        "protected",
        "export",
        "type",
    ];
    !identifier_words(name).any(|w| {
        NOT_SECRET_WORDS.contains(&w.as_str())
            || CODE.contains(&w.as_str())
            || ["sha", "digest", "integrity", "etag", "resolved", "hash", "checksum", "commit", "signature", "value"].contains(&w.as_str())
    })
}

/// Digests are single-case hex of a digest length.
fn is_hash_like(v: &str) -> bool {
    let hex = v.bytes().all(|c| c.is_ascii_hexdigit());
    let one_case = !(v.bytes().any(|c| c.is_ascii_lowercase()) && v.bytes().any(|c| c.is_ascii_uppercase()));
    hex && one_case && matches!(v.len(), 32 | 40 | 56 | 64 | 96 | 128) && !has_sequence(v, 4)
}

/// A token behind a documented vendor prefix: `prefix` must start a token
/// and the body must be long and random enough.
pub(crate) fn vendor_token(text: &str, start: usize, prefix_len: usize, min_body: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    if start > 0 && (b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'_' | b'+' | b'/' | b'=' | b'.' | b'-')) {
        return None;
    }
    let body_start = start + prefix_len;
    let mut e = body_start;
    while e < b.len() && (b[e].is_ascii_alphanumeric() || matches!(b[e], b'_' | b'-' | b'.' | b'+' | b'/')) && e - body_start < 400 {
        e += 1;
    }
    while e < b.len() && b[e] == b'=' && e - body_start < 404 {
        e += 1;
    }
    // A trailing dot ends a sentence, not a token.
    while e > body_start && b[e - 1] == b'.' {
        e -= 1;
    }
    let body = &text[body_start..e];
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    let letters = body.bytes().filter(u8::is_ascii_alphabetic).count();
    (body.len() >= min_body && !is_placeholder(body) && digits > 0 && letters > 0 && entropy(body) > 3.2 && !looks_like_words(body)).then_some((start, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(text: &'a str, kw: &str) -> Option<&'a str> {
        let at = text.to_ascii_lowercase().find(kw)?;
        let kind = KEYWORDS.iter().find(|(k, _)| *k == kw).map(|(_, k)| *k)?;
        keyword_value(text, at, at + kw.len(), kind).filter(|(t, _)| *t == Tier::Strong).map(|(_, (s, e))| &text[s..e])
    }

    /// The value the weaker tier reports after the first `kw`.
    fn named<'a>(text: &'a str, kw: &str) -> Option<&'a str> {
        let at = text.to_ascii_lowercase().find(kw)?;
        let kind = KEYWORDS.iter().find(|(k, _)| *k == kw).map(|(_, k)| *k)?;
        keyword_value(text, at, at + kw.len(), kind).filter(|(t, _)| *t == Tier::Named).map(|(_, (s, e))| &text[s..e])
    }

    #[test]
    fn assignments_of_random_values_are_found() {
        assert_eq!(value("api_key = \"q8Vt2mXw9LpR4sKd7Hn3\"", "key"), Some("q8Vt2mXw9LpR4sKd7Hn3"));
        assert_eq!(value("MYSVC_SECRET=a9f3c2e17b5d4e6f", "secret"), Some("a9f3c2e17b5d4e6f"));
        assert_eq!(value("myvendorKEY-Q2W3E4R5T6Y7U8I9O0P1", "key"), Some("Q2W3E4R5T6Y7U8I9O0P1"));
        assert_eq!(value("vendor ACCESS TOKEN 9f8e7d6c5b4a39281706", "access"), Some("9f8e7d6c5b4a39281706"));
        assert_eq!(value("db_password: 'Tr0ub4dor&3x'", "password"), Some("Tr0ub4dor&3x"));
        // Random case splits into short "words" but is not prose.
        assert_eq!(value("vendor_key = \"mafek7RTxo2PKaDEsWbi\"", "key"), Some("mafek7RTxo2PKaDEsWbi"));
    }

    #[test]
    fn names_values_and_templates_that_are_not_secrets() {
        assert_eq!(value("monkey = 'bananas-and-apples'", "key"), None);
        assert_eq!(value("accessor: 'q8Vt2mXw9LpR4sKd7Hn3'", "access"), None);
        assert_eq!(value("signing_key_id = \"0d7d8bb4-5d40-4fb1-9e2a-6f2a1b1c0e9d\"", "key"), None);
        assert_eq!(value("public_key = \"q8Vt2mXw9LpR4sKd7Hn3\"", "key"), None);
        assert_eq!(value("API_KEY=${API_KEY}", "key"), None);
        assert_eq!(value("api_key = xxxxxxxxxxxxxxxxxxxx", "key"), None);
        assert_eq!(value("secret_handle = Sodium.secretHandle", "secret"), None);
        assert_eq!(value("password = \"password\"", "password"), None);
        assert_eq!(value("keyfile = certs/server_2024.pem", "key"), None);
    }

    #[test]
    fn the_weaker_tier_takes_the_first_value_only() {
        assert_eq!(named("ipinfo_secret key=abcdef12345678", "secret"), Some("abcdef12345678"));
        assert_eq!(value("ipinfo_secret key=abcdef12345678", "secret"), None);
        // `xyz` was the value and failed; `PRIVATE_TOKEN=…` is another name.
        assert_eq!(named("vendor.token xyz more=42fc56d9", "token"), None);
        assert_eq!(named("x_pubkey = struct_x_pubkey_st", "key"), None);
    }

    /// `looks_secret` as it was before its tests were reordered by cost.
    fn looks_secret_reference(v: &str, kind: Kind, glued: bool) -> bool {
        let n = v.len();
        if n > 512 || is_placeholder(v) || v.contains("://") || v.starts_with('/') || v.starts_with('.') || has_file_extension(v) {
            return false;
        }
        let digits = v.bytes().filter(u8::is_ascii_digit).count();
        let letters = v.bytes().filter(u8::is_ascii_alphabetic).count();
        let lower = v.bytes().any(|c| c.is_ascii_lowercase());
        let upper = v.bytes().any(|c| c.is_ascii_uppercase());
        let h = entropy(v);
        if looks_like_words(v) || looks_like_version(v) || looks_like_code(v) {
            return false;
        }
        if kind == Kind::Password && !glued {
            let refers = identifier_words(v).any(|w| ["pass", "password", "passwd", "pwd", "secret", "token", "key"].contains(&w.as_str()));
            return n >= 6
                && h > 1.5
                && !refers
                && !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "password" | "changeme" | "secret" | "none" | "null" | "undefined" | "false" | "true" | "required" | "optional" | "string"
                );
        }
        if n >= 16 {
            (digits > 0 && letters > 0 && h >= 2.4) || (lower && upper && h > 3.0) || h > 3.5 || (letters == 0 && h > 2.5 && !has_sequence(v, 20))
        } else if n >= 10 {
            digits > 0 && letters > 0 && h > 3.0 && !has_sequence(v, 6)
        } else {
            false
        }
    }

    fn same_verdict(v: &str) -> usize {
        let mut accepted = 0;
        for (kind, glued) in [(Kind::Key, false), (Kind::Key, true), (Kind::Password, false), (Kind::Password, true)] {
            let got = looks_secret(v, kind, glued);
            assert_eq!(got, looks_secret_reference(v, kind, glued), "{v:?} {kind:?} glued={glued}");
            accepted += usize::from(got);
        }
        accepted
    }

    /// Generated values around every threshold: lengths 0 to 520 near 6,
    /// 10, 16 and 512, placeholders, paths, URLs, file names, versions,
    /// member accesses, words, sequences, stock passwords, non-ASCII.
    #[test]
    fn looks_secret_agrees_with_its_reference_on_generated_values() {
        const PIECES: &[&str] = &[
            "a", "Z", "7", "q8Vt2mXw", "9f8e7d6c5b4a", "_", "-", ".", "/", "://", "=", "~", "+", "password", "changeme", "Secret", "token",
            "Key", "pass", "get", "Pages", "In", "Confluence", "v1.2.3", "-SNAPSHOT", ".RELEASE", ".pem", ".json", "xxxx", "${", "}", "<", ">",
            "abcdef", "123456", "ABCDEFGH", "é", "日本", "mafek7RTxo2PKaDEsWbi", "X25519", ".KeyPair", "https", "your_", "here", "0000",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut accepted, mut cases) = (0, 0);
        for _ in 0..120_000 {
            let mut v = String::new();
            let target = match next() % 5 {
                0 => (next() % 24) as usize,
                1 => 500 + (next() % 20) as usize,
                _ => (next() % 64) as usize,
            };
            while v.len() < target {
                if next() % 3 == 0 {
                    v.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
                } else {
                    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                    v.push(alphabet[(next() % alphabet.len() as u64) as usize] as char);
                }
            }
            accepted += same_verdict(&v);
            cases += 1;
        }
        // The generator must reach both verdicts, or the comparison proves nothing.
        assert!(accepted > cases / 20 && accepted < cases * 4 - cases / 20, "{accepted} of {cases}");
    }

    /// Every run of value bytes in the files under `WARD_LOOKS_SECRET_CORPORA`
    /// (a directory of decompressed corpus files), when it is set.
    #[test]
    fn looks_secret_agrees_with_its_reference_on_corpus_values() {
        let Ok(dir) = std::env::var("WARD_LOOKS_SECRET_CORPORA") else { return };
        let (mut values, mut accepted) = (0usize, 0usize);
        for entry in std::fs::read_dir(dir).expect("corpus directory") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).unwrap_or_default();
            for v in text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ',' | ':' | '(' | ')' | '[' | ']' | '{' | '}')) {
                for cut in [v, v.trim_matches(|c: char| !c.is_alphanumeric()), v.rsplit('=').next().unwrap_or("")] {
                    accepted += same_verdict(cut);
                    values += 1;
                }
            }
        }
        eprintln!("corpus values {values}, accepted verdicts {accepted}");
    }

    #[test]
    fn vendor_prefix_needs_a_random_body() {
        let t = "use pnu_3fK9q2Lm8Xv4Rt7Wb1Nc6Hy5Zs0Pd2Ge8JkQa now";
        let s = t.find("pnu_").unwrap();
        assert_eq!(vendor_token(t, s, 4, 36).map(|(a, b)| &t[a..b]), Some("pnu_3fK9q2Lm8Xv4Rt7Wb1Nc6Hy5Zs0Pd2Ge8JkQa"));
        let t = "pnu_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
        assert_eq!(vendor_token(t, 0, 4, 36), None);
        let t = "spnu_3fK9q2Lm8Xv4Rt7Wb1Nc6Hy5Zs0Pd2Ge8JkQa";
        assert_eq!(vendor_token(t, 1, 4, 36), None);
    }
}
