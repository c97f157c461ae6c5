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

/// Trimmed text of `min..=max` characters without control characters (newlines allowed).
pub fn text(raw: &str, min: usize, max: usize) -> Result<String, String> {
    let s = raw.trim();
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

/// An ISO 3166 alpha-2 country code, uppercased.
pub fn country(raw: &str) -> Result<String, String> {
    let s = raw.trim().to_ascii_uppercase();
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(s)
    } else {
        Err("must be an ISO 3166 alpha-2 code".into())
    }
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
        assert!(text("a\u{0}b", 1, 10).is_err());
    }
}
