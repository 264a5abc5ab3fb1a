//! Detector tests with fake values built for the purpose: check digits are
//! computed here, never copied.

use super::validate::{self, iban, luhn};
use super::*;
use crate::Origin;

fn scan_with(config: &Config, text: &str, origin: Origin, direction: Direction) -> Vec<Finding> {
    let d = Detector::new(config);
    let mut out = Vec::new();
    d.scan(&Segment::new(text, origin, "/x"), direction, &mut out);
    out
}

fn hits(text: &str) -> Vec<(String, String)> {
    scan_with(&Config::default(), text, Origin::Assistant, Direction::Response)
        .into_iter()
        .map(|f| {
            let (a, b) = f.span.unwrap();
            (f.rule, text[a..b].to_string())
        })
        .collect()
}

fn assert_hit(text: &str, rule: &str, matched: &str) {
    let h = hits(text);
    assert!(h.iter().any(|(r, m)| r == rule && m == matched), "expected {rule} on {matched:?} in {text:?}, got {h:?}");
}

fn assert_none(text: &str) {
    let h = hits(text);
    assert!(h.is_empty(), "expected nothing in {text:?}, got {h:?}");
}

fn with_check(body: &str, valid: impl Fn(&str) -> bool) -> String {
    (0..10).map(|c| format!("{body}{c}")).find(|s| valid(s)).expect("some check digit fits")
}

fn make_iban(country: &str, bban: &str) -> String {
    (0..100).map(|k| format!("{country}{k:02}{bban}")).find(|s| iban(s)).unwrap()
}

fn grouped(s: &str, n: usize, sep: char) -> String {
    s.as_bytes().chunks(n).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(&sep.to_string())
}

#[test]
fn email() {
    assert_hit("mail jane.doe@example.org now", "pii.email", "jane.doe@example.org");
    assert_none("mail jane.doe@example. now");
}

#[test]
fn cards_with_and_without_separators() {
    let card = with_check("411111111111111", |s| luhn(&s.bytes().map(|c| c - b'0').collect::<Vec<_>>()));
    assert_hit(&format!("card {card}."), "pii.credit_card", &card);
    let spaced = grouped(&card, 4, ' ');
    assert_hit(&format!("card {spaced} ok"), "pii.credit_card", &spaced);
    let dashed = grouped(&card, 4, '-');
    assert_hit(&format!("{dashed} and {spaced}"), "pii.credit_card", &dashed);
    let mut bad = card.clone().into_bytes();
    bad[15] = b'0' + (bad[15] - b'0' + 1) % 10;
    assert_none(&format!("order {}", std::str::from_utf8(&bad).unwrap()));
}

#[test]
fn ibans_compact_and_grouped() {
    let de = make_iban("DE", "500105175407324931");
    assert_hit(&format!("IBAN: {de}."), "pii.iban", &de);
    let g = grouped(&de, 4, ' ');
    assert_hit(&format!("pay to {g} today"), "pii.iban", &g);
    let mut bad = de.into_bytes();
    bad[21] = if bad[21] == b'9' { b'8' } else { bad[21] + 1 };
    assert_none(std::str::from_utf8(&bad).unwrap());
}

#[test]
fn national_ids() {
    assert_hit("DNI 12345678Z", "pii.es_dni", "12345678Z");
    assert_none("DNI 12345678A");
    assert_hit("NIE X1234567L.", "pii.es_nie", "X1234567L");
    assert_hit("NINO AB 12 34 56 C ok", "pii.uk_nino", "AB 12 34 56 C");
    assert_hit("ssn 234-56-7891", "pii.us_ssn", "234-56-7891");
    assert_none("id 666-45-6789");
    assert_none("order 123456789");
    assert_hit("my ssn is 123456780", "pii.us_ssn", "123456780");
    let tax = with_check("8609574271", validate::de_tax_id);
    assert_hit(&format!("Steuer-ID {tax}"), "pii.de_tax_id", &tax);
    let pesel = with_check("9002151234", validate::pl_pesel);
    assert_hit(&format!("PESEL {pesel}"), "pii.pl_pesel", &pesel);
    assert_hit("BSN 111222333", "pii.nl_bsn", "111222333");
    assert_none("ref 111222333");
    let body = "RSSMRA85T10A562";
    let cf = (b'A'..=b'Z').map(|c| format!("{body}{}", c as char)).find(|s| validate::it_fiscal_code(s)).unwrap();
    assert_hit(&format!("CF {cf}"), "pii.it_fiscal_code", &cf);
    let vat = with_check("13669597", validate::de_vat);
    assert_hit(&format!("USt-IdNr. DE {vat}"), "pii.eu_vat", &format!("DE {vat}"));
}

#[test]
fn phones() {
    assert_hit("call +44 20 7946 0958 now", "pii.phone", "+44 20 7946 0958");
    assert_hit("US (415) 555-0132", "pii.phone", "(415) 555-0132");
    assert_hit("office 030-1234567", "pii.phone", "030-1234567");
    assert_none("version 1.2.3 released 2024-01-15");
}

#[test]
fn ip_addresses() {
    assert_hit("from 192.0.2.17, ok", "pii.ip_address", "192.0.2.17");
    assert_hit("v6 2001:db8::1 up", "pii.ip_address", "2001:db8::1");
    assert_hit("net 10.0.0.0/8.", "pii.ip_address", "10.0.0.0/8");
    assert_none("time 12:34:56, ratio 1:2:3, std::cout, 256.1.1.1, 1.2.3");
}

#[test]
fn actions_per_channel_and_entity() {
    let t = "mail jane.doe@example.org";
    let c = Config::default();
    assert_eq!(scan_with(&c, t, Origin::User, Direction::Request)[0].action, Action::Log);
    assert_eq!(scan_with(&c, t, Origin::Assistant, Direction::Response)[0].action, Action::Redact);
    let mut c = Config { tool_arguments: Some(Action::Block), ..Config::default() };
    assert_eq!(scan_with(&c, t, Origin::ToolCall, Direction::Response)[0].action, Action::Block);
    c.entities.insert("pii.email".into(), Actions { response: Some(Action::Allow), ..Actions::default() });
    assert!(scan_with(&c, t, Origin::Assistant, Direction::Response).is_empty());
    let card = with_check("411111111111111", |s| luhn(&s.bytes().map(|c| c - b'0').collect::<Vec<_>>()));
    let c = Config { mask: MaskStyle::Last4, ..Config::default() };
    let f = &scan_with(&c, &card, Origin::Assistant, Direction::Response)[0];
    assert_eq!(f.mask.as_deref(), Some(format!("************{}", &card[12..]).as_str()));
}

#[test]
fn config_validation() {
    let bad = Config { disable: vec!["pii.nope".into()], ..Config::default() };
    assert_eq!(bad.validate().unwrap_err().0, "disable[0]");
    let off = Config { disable: vec!["pii.email".into()], ..Config::default() };
    assert!(scan_with(&off, "a@example.org", Origin::User, Direction::Response).is_empty());
}

#[test]
fn never_panics_and_spans_are_char_boundaries() {
    let pieces = ["é", "€", "😀", "DE", "GB29", "12", "345", "-", " ", ".", ":", "::", "@", "+", "(", ")", "X", "Z", "/", "%", "a", "0", "4111", "1"];
    let mut x: u64 = 0x9e37_79b9;
    for _ in 0..4000 {
        let mut s = String::new();
        for _ in 0..(x % 48) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(pieces[(x % pieces.len() as u64) as usize]);
        }
        for f in hits(&s) {
            let _ = f;
        }
        for f in scan_with(&Config::default(), &s, Origin::Assistant, Direction::Response) {
            let (a, b) = f.span.unwrap();
            assert!(a < b && s.is_char_boundary(a) && s.is_char_boundary(b), "{s:?}");
        }
        let d = Detector::new(&Config::default());
        let p = d.pending_from(&Segment::new(s.as_str(), Origin::Assistant, "/x"), Direction::Response);
        assert!(s.is_char_boundary(p));
    }
}
