//! Who is calling: password hashing, bearer tokens, login throttling and the `Caller` extractor.

pub mod api_tokens;
pub mod caller;
pub mod hash_pool;
pub mod password;
pub mod reset;
pub mod routes;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use caller::Caller;

/// An e-mail address in its one stored form: trimmed, Unicode-normalised (NFKC) and lowercased,
/// so `dup@ＳＨＯＰＡ.test` (full-width) and `ⅾup@shopa.test` (a Roman numeral) are the same
/// account as `dup@shopa.test`. Deliberately loose otherwise: one `@`, something on each side, no
/// spaces; `admin@localhost` is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The stored form of any string (valid or not), for lookups and throttle keys: NFKC, then
    /// case-folded, then NFKC again (folding can leave a string that is not NFKC). Full case
    /// folding is approximated by lowercase → uppercase → lowercase, which folds what plain
    /// lowercasing keeps apart: `ß`/`ss`, `ς`/`σ`, `ǅ`/`ǆ`.
    pub fn normalise(raw: &str) -> String {
        use unicode_normalization::UnicodeNormalization;
        let nfkc: String = raw.trim().nfkc().collect();
        let folded = nfkc.to_lowercase().to_uppercase().to_lowercase();
        folded.nfkc().collect()
    }

    /// The form addresses were stored in before normalisation (trimmed and lowercased only):
    /// sign-in falls back to it so accounts registered then keep working.
    pub fn legacy_form(raw: &str) -> String {
        raw.trim().to_lowercase()
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = Self::normalise(raw);
        if s.len() < 3 || s.len() > 254 {
            return Err("must be 3 to 254 characters".into());
        }
        let Some((local, domain)) = s.split_once('@') else { return Err("must contain @".into()) };
        let valid = !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid {
            return Err("is not an e-mail address".into());
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" Admin@Example.com ").unwrap().as_str(), "admin@example.com");
        assert!(Email::parse("admin@localhost").is_ok());
        assert_eq!(Email::parse("dup@ＳＨＯＰＡ.test").unwrap().as_str(), "dup@shopa.test");
        assert_eq!(Email::parse("\u{217E}up@shopa.test").unwrap().as_str(), "dup@shopa.test");
        assert_eq!(Email::parse("Straße@example.com").unwrap().as_str(), "strasse@example.com");
        assert_eq!(Email::normalise("ΣΊΣΥΦΟΣ@x.gr"), Email::normalise("σίσυφος@x.gr"));
        for bad in ["", "a", "@x", "x@", "a b@c.d", "a@b@c", "a@.com", "a@com."] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
