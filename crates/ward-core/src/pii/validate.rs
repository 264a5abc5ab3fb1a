//! Check digits and structure of the identifiers the PII detector reports.
//! Every function takes the candidate with separators already removed
//! (upper-cased where letters matter) and says whether it is valid; none
//! of them panics on any input.

/// Luhn mod-10, used by payment cards and Italian VAT numbers.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.is_empty() || digits.iter().any(|d| *d > 9) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = d as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

fn digits_of(s: &str) -> Option<Vec<u8>> {
    s.bytes().map(|c| c.is_ascii_digit().then(|| c - b'0')).collect()
}

/// A payment card: 13 to 19 digits, a known issuer range, and Luhn.
pub fn card(s: &str) -> bool {
    let Some(d) = digits_of(s) else { return false };
    if !(13..=19).contains(&d.len()) || !luhn(&d) || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let prefix = |n: usize| s[..n.min(s.len())].parse::<u32>().unwrap_or(0);
    let len = d.len();
    match d[0] {
        // UATP (airline cards), 15 digits.
        1 => len == 15,
        // Visa.
        4 => matches!(len, 13 | 16 | 19),
        // Mastercard 51-55 and 2221-2720; Maestro 50, 56-59.
        5 => (51..=55).contains(&prefix(2)) && len == 16 || prefix(2) == 50 || (56..=59).contains(&prefix(2)),
        2 => (2221..=2720).contains(&prefix(4)) && len == 16,
        // Amex 34/37 (15); Diners 300-305, 36, 38, 39; JCB 3528-3589.
        3 => {
            (matches!(prefix(2), 34 | 37) && len == 15)
                || ((300..=305).contains(&prefix(3)) || matches!(prefix(2), 36 | 38 | 39)) && (14..=19).contains(&len)
                || (3528..=3589).contains(&prefix(4)) && (16..=19).contains(&len)
        }
        // Discover 6011, 644-649, 65; UnionPay 62; Maestro 6.
        6 => (16..=19).contains(&len) || len >= 12,
        _ => false,
    }
}

/// IBAN length and BBAN shape per country (ISO 13616 registry). Shape:
/// `n` digits, `a` upper-case letters, `c` letters or digits, each with a
/// count.
const IBAN_FORMATS: &[(&str, usize, &str)] = &[
    ("AD", 24, "8n12c"),
    ("AE", 23, "19n"),
    ("AL", 28, "8n16c"),
    ("AT", 20, "16n"),
    ("AZ", 28, "4a20c"),
    ("BA", 20, "16n"),
    ("BE", 16, "12n"),
    ("BG", 22, "4a6n8c"),
    ("BH", 22, "4a14c"),
    ("BI", 27, "23n"),
    ("BR", 29, "23n1a1c"),
    ("BY", 28, "4c4n16c"),
    ("CH", 21, "5n12c"),
    ("CR", 22, "18n"),
    ("CY", 28, "8n16c"),
    ("CZ", 24, "20n"),
    ("DE", 22, "18n"),
    ("DJ", 27, "23n"),
    ("DK", 18, "14n"),
    ("DO", 28, "4c20n"),
    ("EE", 20, "16n"),
    ("EG", 29, "25n"),
    ("ES", 24, "20n"),
    ("FI", 18, "14n"),
    ("FK", 18, "2a12n"),
    ("FO", 18, "14n"),
    ("FR", 27, "10n11c2n"),
    ("GB", 22, "4a14n"),
    ("GE", 22, "2a16n"),
    ("GI", 23, "4a15c"),
    ("GL", 18, "14n"),
    ("GR", 27, "7n16c"),
    ("GT", 28, "4c20c"),
    ("HN", 28, "4a20n"),
    ("HR", 21, "17n"),
    ("HU", 28, "24n"),
    ("IE", 22, "4a14n"),
    ("IL", 23, "19n"),
    ("IQ", 23, "4a15n"),
    ("IS", 26, "22n"),
    ("IT", 27, "1a10n12c"),
    ("JO", 30, "4a4n18c"),
    ("KW", 30, "4a22c"),
    ("KZ", 20, "3n13c"),
    ("LB", 28, "4n20c"),
    ("LC", 32, "4a24c"),
    ("LI", 21, "5n12c"),
    ("LT", 20, "16n"),
    ("LU", 20, "3n13c"),
    ("LV", 21, "4a13c"),
    ("LY", 25, "21n"),
    ("MC", 27, "10n11c2n"),
    ("MD", 24, "2c18c"),
    ("ME", 22, "18n"),
    ("MK", 19, "3n10c2n"),
    ("MN", 20, "16n"),
    ("MR", 27, "23n"),
    ("MT", 31, "4a5n18c"),
    ("MU", 30, "4a19n3a"),
    ("NI", 28, "4a20n"),
    ("NL", 18, "4a10n"),
    ("NO", 15, "11n"),
    ("OM", 23, "3n16c"),
    ("PK", 24, "4a16c"),
    ("PL", 28, "24n"),
    ("PS", 29, "4a21c"),
    ("PT", 25, "21n"),
    ("QA", 29, "4a21c"),
    ("RO", 24, "4a16c"),
    ("RS", 22, "18n"),
    ("RU", 33, "14n15c"),
    ("SA", 24, "2n18c"),
    ("SC", 31, "4a20n3a"),
    ("SD", 18, "14n"),
    ("SE", 24, "20n"),
    ("SI", 19, "15n"),
    ("SK", 24, "20n"),
    ("SM", 27, "1a10n12c"),
    ("SO", 23, "19n"),
    ("ST", 25, "21n"),
    ("SV", 28, "4a20n"),
    ("TL", 23, "19n"),
    ("TN", 24, "20n"),
    ("TR", 26, "6n16c"),
    ("UA", 29, "6n19c"),
    ("VA", 22, "18n"),
    ("VG", 24, "4a16n"),
    ("XK", 20, "16n"),
    ("YE", 30, "4a4n18c"),
];

/// The registered length of IBANs of `country`, if it issues them.
pub fn iban_length(country: &str) -> Option<usize> {
    IBAN_FORMATS.iter().find(|(c, _, _)| *c == country).map(|(_, n, _)| *n)
}

/// ISO 13616: registered country, length and BBAN shape, and mod-97 = 1.
pub fn iban(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 15 || !b[..2].iter().all(u8::is_ascii_uppercase) || !b[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let Some(&(_, len, shape)) = IBAN_FORMATS.iter().find(|(c, _, _)| c.as_bytes() == &b[..2]) else { return false };
    if b.len() != len || !bban_shape(&b[4..], shape) {
        return false;
    }
    // Move the first four characters to the end, letters become 10..35.
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'A'..=b'Z' => (c - b'A') as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

fn bban_shape(bban: &[u8], shape: &str) -> bool {
    let mut i = 0;
    let mut count = 0usize;
    for c in shape.bytes() {
        if c.is_ascii_digit() {
            count = count * 10 + (c - b'0') as usize;
            continue;
        }
        let ok = |x: &u8| match c {
            b'n' => x.is_ascii_digit(),
            b'a' => x.is_ascii_uppercase(),
            _ => x.is_ascii_uppercase() || x.is_ascii_digit(),
        };
        if i + count > bban.len() || !bban[i..i + count].iter().all(ok) {
            return false;
        }
        i += count;
        count = 0;
    }
    i == bban.len()
}

/// ISO 7064 MOD 11,10: the check digit of German tax ids and VAT numbers.
fn mod11_10(d: &[u8]) -> bool {
    let Some((&check, body)) = d.split_last() else { return false };
    let mut product = 10u32;
    for &x in body {
        let mut sum = (x as u32 + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    let expected = (11 - product) % 10;
    expected == check as u32
}

/// German tax identification number (Steuer-IdNr): 11 digits, no leading
/// zero, no digit more than three times in the first ten (ids issued
/// since 2016 repeat one digit; older ones repeat none), MOD 11,10 check
/// digit.
pub fn de_tax_id(s: &str) -> bool {
    let Some(d) = digits_of(s) else { return false };
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[x as usize] += 1;
    }
    let repeated = counts.iter().filter(|&&c| c > 1).count();
    repeated <= 1 && counts.iter().all(|&c| c <= 3) && mod11_10(&d)
}

/// German VAT number (USt-IdNr) without its `DE`: 9 digits, MOD 11,10.
pub fn de_vat(s: &str) -> bool {
    digits_of(s).is_some_and(|d| d.len() == 9 && d[0] != 0 && mod11_10(&d))
}

/// Italian VAT number (partita IVA): 11 digits, Luhn, not all zero.
pub fn it_vat(s: &str) -> bool {
    digits_of(s).is_some_and(|d| d.len() == 11 && d.iter().any(|&x| x != 0) && luhn(&d))
}

/// French VAT: `FR` + 2-digit key + 9-digit SIREN, key = (12 + 3·(SIREN mod 97)) mod 97.
pub fn fr_vat(s: &str) -> bool {
    let Some(d) = digits_of(s) else { return false };
    if d.len() != 11 {
        return false;
    }
    let key = (d[0] as u64) * 10 + d[1] as u64;
    let siren = d[2..].iter().fold(0u64, |a, &x| a * 10 + x as u64);
    key == (12 + 3 * (siren % 97)) % 97
}

/// Dutch citizen service number (BSN): 9 digits, "11-proof".
pub fn nl_bsn(s: &str) -> bool {
    let Some(d) = digits_of(s) else { return false };
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: i32 = d[..8].iter().enumerate().map(|(i, &x)| (9 - i as i32) * x as i32).sum::<i32>() - d[8] as i32;
    sum % 11 == 0
}

/// Polish PESEL: 11 digits, weighted check digit, valid birth date.
pub fn pl_pesel(s: &str) -> bool {
    let Some(d) = digits_of(s) else { return false };
    if d.len() != 11 {
        return false;
    }
    const W: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = d[..10].iter().zip(W).map(|(&x, w)| x as u32 * w).sum();
    let check = (10 - sum % 10) % 10;
    let month = (d[2] as u32 * 10 + d[3] as u32) % 20;
    let day = d[4] as u32 * 10 + d[5] as u32;
    check == d[10] as u32 && (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// UK NHS number: 10 digits, mod-11 check digit (10 is invalid).
pub fn uk_nhs(s: &str) -> bool {
    let Some(d) = digits_of(s) else { return false };
    if d.len() != 10 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let sum: u32 = d[..9].iter().enumerate().map(|(i, &x)| (10 - i as u32) * x as u32).sum();
    let check = (11 - sum % 11) % 11;
    check != 10 && check == d[9] as u32
}

/// US social security number: area not 000, 666 or 9xx, group not 00,
/// serial not 0000, and not one of the numbers the SSA voided after they
/// were printed in advertising.
pub fn us_ssn(s: &str) -> bool {
    let Some(d) = digits_of(s) else { return false };
    if d.len() != 9 || d.iter().all(|&x| x == d[0]) || s == "123456789" || s == "078051120" || s == "219099999" {
        return false;
    }
    let area = s[..3].parse::<u32>().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && &s[3..5] != "00" && &s[5..] != "0000"
}

/// UK National Insurance number: two prefix letters from the allowed
/// sets, six digits, suffix A-D.
pub fn uk_nino(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 9 || !b[2..8].iter().all(u8::is_ascii_digit) || !matches!(b[8], b'A'..=b'D') {
        return false;
    }
    let first_ok = b[0].is_ascii_uppercase() && !b"DFIQUV".contains(&b[0]);
    let second_ok = b[1].is_ascii_uppercase() && !b"DFIQUVO".contains(&b[1]);
    first_ok && second_ok && !["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"].contains(&&s[..2])
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spanish DNI/NIF: up to 8 digits and the mod-23 letter.
pub fn es_dni(s: &str) -> bool {
    let b = s.as_bytes();
    let Some((&letter, digits)) = b.split_last() else { return false };
    if !(7..=8).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n: u32 = s[..digits.len()].parse().unwrap_or(u32::MAX);
    n != u32::MAX && DNI_LETTERS[(n % 23) as usize] == letter
}

/// Spanish NIE: X, Y or Z (read as 0, 1, 2), 7 digits, the DNI letter.
pub fn es_nie(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 9 {
        return false;
    }
    let lead = match b[0] {
        b'X' => '0',
        b'Y' => '1',
        b'Z' => '2',
        _ => return false,
    };
    es_dni(&format!("{lead}{}", &s[1..]))
}

/// Italian codice fiscale: 16 characters in the fixed letter/digit layout
/// (digits may be replaced by the omocodia letters) and the check letter.
pub fn it_fiscal_code(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 16 || !b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return false;
    }
    const OMOCODIA: &[u8] = b"LMNPQRSTUV";
    let digit_like = |c: u8| c.is_ascii_digit() || OMOCODIA.contains(&c);
    let layout_ok = b[..6].iter().all(u8::is_ascii_uppercase)
        && digit_like(b[6])
        && digit_like(b[7])
        && b[8].is_ascii_uppercase()
        && digit_like(b[9])
        && digit_like(b[10])
        && b[11].is_ascii_uppercase()
        && b[12..15].iter().all(|&c| digit_like(c))
        && b[15].is_ascii_uppercase();
    if !layout_ok {
        return false;
    }
    const ODD: [u32; 26] = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];
    let value = |c: u8| if c.is_ascii_digit() { (c - b'0') as usize } else { (c - b'A') as usize };
    let sum: u32 = b[..15].iter().enumerate().map(|(i, &c)| if i % 2 == 0 { ODD[value(c)] } else { value(c) as u32 }).sum();
    b[15] == b'A' + (sum % 26) as u8
}

/// French social security number (NIR): sex digit, birth year and month,
/// place (Corsica `2A`/`2B`), order number, and the 97-complement key.
pub fn fr_nir(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 15 || !matches!(b[0], b'1' | b'2') {
        return false;
    }
    let body: String = match &s[5..7] {
        "2A" => format!("{}19{}", &s[..5], &s[7..13]),
        "2B" => format!("{}18{}", &s[..5], &s[7..13]),
        _ => s[..13].to_string(),
    };
    let (Ok(n), Ok(key)) = (body.parse::<u64>(), s[13..].parse::<u64>()) else { return false };
    let month = s[3..5].parse::<u32>().unwrap_or(0);
    ((1..=12).contains(&month) || (20..=42).contains(&month)) && key == 97 - n % 97
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends the Luhn digit that makes `body` valid.
    pub(crate) fn with_luhn(body: &str) -> String {
        (0..10).map(|c| format!("{body}{c}")).find(|s| luhn(&digits_of(s).unwrap())).unwrap()
    }

    /// Builds an IBAN from country and BBAN by computing the check digits.
    pub(crate) fn make_iban(country: &str, bban: &str) -> String {
        (0..100).map(|k| format!("{country}{k:02}{bban}")).find(|s| iban(s)).unwrap()
    }

    #[test]
    fn cards_need_luhn_and_an_issuer() {
        let visa = with_luhn("400000123456789");
        assert!(card(&visa));
        let mut bad = visa.clone().into_bytes();
        bad[15] = b'0' + (bad[15] - b'0' + 1) % 10;
        assert!(!card(std::str::from_utf8(&bad).unwrap()));
        assert!(!card(&with_luhn("900000123456789")), "no issuer starts with 9");
        assert!(card(&with_luhn("37000012345678")), "amex, 15 digits");
    }

    #[test]
    fn ibans_need_country_length_shape_and_mod97() {
        let de = make_iban("DE", "370400440532013000");
        assert!(iban(&de));
        let gb = make_iban("GB", "NWBK60161331926819");
        assert!(iban(&gb));
        assert!(!iban(&de[..de.len() - 1]), "wrong length");
        let mut flipped = de.clone().into_bytes();
        flipped[10] = if flipped[10] == b'9' { b'8' } else { flipped[10] + 1 };
        assert!(!iban(std::str::from_utf8(&flipped).unwrap()), "mod-97 catches a changed digit");
        assert!(!iban(&make_iban("GB", "NWBK60161331926819").replacen("NWBK", "N1BK", 1)), "bank code must be letters");
        assert!(!iban("XX000000000000000000"), "unknown country");
    }

    #[test]
    fn german_ids() {
        // Build a tax id: ten digits with one digit twice, then the check.
        let body = "8609574271";
        let full = (0..10).map(|c| format!("{body}{c}")).find(|s| mod11_10(&digits_of(s).unwrap())).unwrap();
        assert!(de_tax_id(&full));
        assert!(!de_tax_id("11111111111"));
        let vat = (0..10).map(|c| format!("13669597{c}")).find(|s| mod11_10(&digits_of(s).unwrap())).unwrap();
        assert!(de_vat(&vat));
    }

    #[test]
    fn spanish_and_italian_ids() {
        assert!(es_dni("12345678Z"));
        assert!(!es_dni("12345678A"));
        assert!(es_nie("X1234567L"));
        assert!(!es_nie("W1234567L"));
        // Build a codice fiscale's check letter and verify it round-trips.
        let body = "RSSMRA85T10A562";
        let full = (b'A'..=b'Z').map(|c| format!("{body}{}", c as char)).find(|s| it_fiscal_code(s)).unwrap();
        assert_eq!(full.len(), 16);
        assert_eq!((b'A'..=b'Z').filter(|&c| it_fiscal_code(&format!("{body}{}", c as char))).count(), 1);
        assert!(it_vat(&with_luhn("0133355032")));
        assert!(!it_vat("00000000000"));
    }

    #[test]
    fn other_national_ids() {
        assert!(nl_bsn("111222333"));
        assert!(!nl_bsn("111222334"));
        let pesel = (0..10).map(|c| format!("9002151234{c}")).find(|s| pl_pesel(s)).unwrap();
        assert!(pl_pesel(&pesel));
        assert!(!pl_pesel("90131512345"), "month 13");
        let nhs = (0..10).map(|c| format!("943476591{c}")).find(|s| uk_nhs(s));
        assert!(nhs.is_some_and(|n| uk_nhs(&n)));
        assert!(us_ssn("123456780") && !us_ssn("666123456") && !us_ssn("123006789") && !us_ssn("078051120"));
        assert!(uk_nino("AB123456C") && !uk_nino("QQ123456C") && !uk_nino("AB123456E"));
        let nir_body = "1850578006084";
        let key = 97 - nir_body.parse::<u64>().unwrap() % 97;
        assert!(fr_nir(&format!("{nir_body}{key:02}")));
        assert!(!fr_nir(&format!("{nir_body}{:02}", (key + 1) % 100)));
        let siren = 404_833_048u64;
        let fr = format!("{:02}{siren}", (12 + 3 * (siren % 97)) % 97);
        assert!(fr_vat(&fr));
    }

    #[test]
    fn validators_never_panic() {
        for s in ["", "A", "é", "2A", "1234", "ZZZZZZZZZZZZZZZZ", "€€€€€€€€€", "12345678901234567890123456789012345"] {
            let _ = (
                card(s),
                iban(s),
                de_tax_id(s),
                de_vat(s),
                it_vat(s),
                fr_vat(s),
                nl_bsn(s),
                pl_pesel(s),
                uk_nhs(s),
                us_ssn(s),
                uk_nino(s),
                es_dni(s),
                es_nie(s),
                it_fiscal_code(s),
                fr_nir(s),
            );
        }
    }
}
