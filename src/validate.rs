//! Parsers for the fields shop data is made of. Each returns the clean value or a sentence for the
//! 422's `fields` map.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The most a price may be (10 million in major units): keeps every total far inside i64.
pub const MAX_PRICE_CENTS: i64 = 1_000_000_000;
pub const MAX_STOCK: i64 = 1_000_000;
pub const MAX_QUANTITY: i64 = 1000;

/// A display name: trimmed, 1–200 characters, no control characters.
pub fn name(raw: &str) -> Result<String, String> {
    text(raw, 1, 200)
}

/// Characters that take no space on screen: zero-width spaces and joiners, the word joiner, the
/// byte-order mark, soft hyphen and the Mongolian vowel separator. Rust's `trim` keeps them.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Trimmed text of `min..=max` characters without control characters (newlines allowed); text
/// that is not empty must show something (a name of only zero-width spaces is refused).
pub fn text(raw: &str, min: usize, max: usize) -> Result<String, String> {
    let s = raw.trim_matches(|c: char| c.is_whitespace() || is_invisible(c));
    if s.is_empty() && !raw.is_empty() && min > 0 {
        return Err("must contain visible characters".into());
    }
    let len = s.chars().count();
    if len < min || len > max {
        return Err(if min == 0 {
            format!("must be at most {max} characters")
        } else {
            format!("must be {min} to {max} characters")
        });
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_string())
}

/// Optional text: `None` and blank both mean absent.
pub fn optional_text(raw: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => text(s, 1, max).map(Some),
    }
}

/// A URL slug: lowercase words of a-z and 0-9 joined by single dashes, at most 200 characters.
pub fn slug(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let ok = !s.is_empty()
        && s.len() <= 200
        && s.split('-').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if ok { Ok(s.to_string()) } else { Err("must be lowercase words of a-z and 0-9 joined by single dashes".into()) }
}

/// A slug made from a name: "Blue T-Shirt (XL)" → "blue-t-shirt-xl".
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let mut s: String = out.chars().take(200).collect();
    while s.ends_with('-') {
        s.pop();
    }
    if s.is_empty() { "item".into() } else { s }
}

pub fn price_cents(v: i64) -> Result<i64, String> {
    if (0..=MAX_PRICE_CENTS).contains(&v) { Ok(v) } else { Err(format!("must be between 0 and {MAX_PRICE_CENTS}")) }
}

pub fn stock(v: i64) -> Result<i64, String> {
    if (0..=MAX_STOCK).contains(&v) { Ok(v) } else { Err(format!("must be between 0 and {MAX_STOCK}")) }
}

pub fn quantity(v: i64) -> Result<i64, String> {
    if (1..=MAX_QUANTITY).contains(&v) { Ok(v) } else { Err(format!("must be between 1 and {MAX_QUANTITY}")) }
}

/// An RFC 3339 timestamp, normalised to UTC with seconds: `2027-01-31T23:59:59Z`.
pub fn timestamp(raw: &str) -> Result<String, String> {
    let parsed =
        OffsetDateTime::parse(raw.trim(), &Rfc3339).map_err(|_| "must be an RFC 3339 timestamp".to_string())?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    ))
}

/// The officially assigned ISO 3166-1 alpha-2 codes (249), sorted.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS \
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM \
FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV \
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD \
SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC \
VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// An ISO 3166-1 alpha-2 country code that is assigned (`XX`, `ZZ` and other unassigned or
/// user-assigned pairs are refused), uppercased.
pub fn country(raw: &str) -> Result<String, String> {
    let s = raw.trim().to_ascii_uppercase();
    let assigned = s.len() == 2 && COUNTRIES.split_ascii_whitespace().any(|c| c == s);
    if assigned { Ok(s) } else { Err("must be an assigned ISO 3166-1 alpha-2 code, e.g. DE or US".into()) }
}

/// Now, in the form [`timestamp`] produces, so the two compare as strings.
pub fn now_timestamp() -> String {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
    timestamp(&now.format(&Rfc3339).unwrap_or_default()).unwrap_or_default()
}

/// A coupon code: 3–40 of A-Z, 0-9, `-` and `_`, uppercased.
pub fn coupon_code(raw: &str) -> Result<String, String> {
    let s = raw.trim().to_ascii_uppercase();
    let ok = (3..=40).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(s) } else { Err("must be 3 to 40 of A-Z, 0-9, - and _".into()) }
}

/// Serde helper for PATCH bodies: `Some(None)` for an explicit `null`, `None` for an absent field.
/// Use with `#[serde(default, deserialize_with = "crate::validate::explicit_null")]`.
pub fn explicit_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Blue T-Shirt (XL)"), "blue-t-shirt-xl");
        assert_eq!(slugify("  ---  "), "item");
        assert!(slug("blue-shirt-2").is_ok());
        for bad in ["Blue", "a--b", "-a", "a-", "", "a b"] {
            assert!(slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_normalise_to_utc() {
        assert_eq!(timestamp("2027-01-01T02:00:00+02:00").unwrap(), "2027-01-01T00:00:00Z");
        assert!(timestamp("tomorrow").is_err());
    }

    #[test]
    fn bounds() {
        assert!(price_cents(-1).is_err());
        assert!(quantity(0).is_err());
        assert!(quantity(1001).is_err());
        assert_eq!(coupon_code(" save10 ").unwrap(), "SAVE10");
        assert!(coupon_code("a b").is_err());
        assert_eq!(country("de").unwrap(), "DE");
        for bad in ["XX", "ZZ", "AA", "UK", "D"] {
            assert!(country(bad).is_err(), "{bad}");
        }
        assert_eq!(COUNTRIES.split_ascii_whitespace().count(), 249);
        assert!(COUNTRIES.split_ascii_whitespace().is_sorted());
        assert_eq!(text("\u{200B}", 1, 10).unwrap_err(), "must contain visible characters");
        assert_eq!(text(" \u{200B}Ann\u{FEFF} ", 1, 10).unwrap(), "Ann");
        assert!(now_timestamp() > timestamp("2026-01-01T00:00:00Z").unwrap());
        assert!(text("a\u{0}b", 1, 10).is_err());
    }
}
