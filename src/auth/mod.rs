//! Who is calling: password hashing, bearer tokens, login throttling and the `Caller` extractor.

pub mod caller;
pub mod password;
pub mod routes;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use caller::Caller;

/// An e-mail address, trimmed and lowercased. Deliberately loose: one `@`, something on each side,
/// no spaces; `admin@localhost` is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_lowercase();
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
        for bad in ["", "a", "@x", "x@", "a b@c.d", "a@b@c", "a@.com", "a@com."] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
