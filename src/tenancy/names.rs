//! Shop names as they arrive from users and Host headers, parsed once into types.

use std::net::IpAddr;

/// Subdomains no shop may take: they name the platform itself or common infrastructure.
const RESERVED_SUBDOMAINS: &[&str] = &[
    "www",
    "api",
    "admin",
    "administrator",
    "app",
    "apps",
    "assets",
    "auth",
    "blog",
    "cdn",
    "console",
    "dashboard",
    "dev",
    "docs",
    "ftp",
    "health",
    "help",
    "imap",
    "localhost",
    "login",
    "mail",
    "metrics",
    "mx",
    "ns1",
    "ns2",
    "pop",
    "root",
    "smtp",
    "static",
    "status",
    "super-admin",
    "superadmin",
    "support",
    "system",
    "test",
    "webmail",
];

/// A shop subdomain: 1–63 of `a-z 0-9 -`, not starting or ending with `-`, not reserved, not all
/// digits (`?client=3` means the shop with id 3; a subdomain `3` would name another shop).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subdomain(String);

impl Subdomain {
    /// A subdomain chosen for a new or renamed shop.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = Self::parse_label(&raw.trim().to_ascii_lowercase())?;
        if s.0.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must not be all digits (digits alone name a shop by its id)".into());
        }
        Ok(s)
    }

    /// A subdomain as a request names it (Host label, `client` parameter): exactly as sent, but
    /// for case. All-digit labels pass here, so shops created before they were refused stay
    /// reachable by Host.
    pub fn from_signal(raw: &str) -> Result<Self, String> {
        Self::parse_label(&raw.to_ascii_lowercase())
    }

    fn parse_label(s: &str) -> Result<Self, String> {
        let s = s.to_string();
        if s.is_empty() || s.len() > 63 {
            return Err("must be 1 to 63 characters".into());
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err("may contain only a-z, 0-9 and -".into());
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err("must not start or end with -".into());
        }
        if RESERVED_SUBDOMAINS.contains(&s.as_str()) {
            return Err(format!("'{s}' is reserved"));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A shop's custom domain: a lowercase DNS name with at least two labels, not an IP literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domain(String);

impl Domain {
    /// `base_domain` is refused as a suffix: those hosts are routed by subdomain already.
    pub fn parse(raw: &str, base_domain: &str) -> Result<Self, String> {
        let s = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        if s.len() < 3 || s.len() > 253 {
            return Err("must be 3 to 253 characters".into());
        }
        if s.parse::<IpAddr>().is_ok() {
            return Err("must be a domain name, not an IP address".into());
        }
        let labels: Vec<&str> = s.split('.').collect();
        if labels.len() < 2 {
            return Err("must contain a dot".into());
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err("each label must be 1 to 63 of a-z, 0-9, - and not start or end with -".into());
            }
        }
        if s == base_domain || s.ends_with(&format!(".{base_domain}")) {
            return Err(format!("must not be under the base domain {base_domain}"));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a Host header says about the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSignal {
    /// The base domain itself, an IP literal, or no Host at all.
    None,
    /// `<label>.<base-domain>`: names a shop by subdomain (the label may name no shop).
    Subdomain(String),
    /// Any other name: a shop's custom domain, if one has it.
    Domain(String),
}

/// Reads a Host header value: drops the port, lowercases, drops one trailing dot.
pub fn parse_host(host: &str, base_domain: &str) -> HostSignal {
    let host = host.trim();
    if host.starts_with('[') {
        return HostSignal::None; // IPv6 literal, with or without a port
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return HostSignal::None, // a bare IPv6 address or garbage
        None => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.is_empty() || name.len() > 253 || name.parse::<IpAddr>().is_ok() || name == base_domain {
        return HostSignal::None;
    }
    match name.strip_suffix(base_domain).and_then(|p| p.strip_suffix('.')) {
        Some(label) => HostSignal::Subdomain(label.to_string()),
        None => HostSignal::Domain(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_rules() {
        assert_eq!(Subdomain::parse("Shop-1").unwrap().as_str(), "shop-1");
        for bad in ["", "-a", "a-", "a_b", "a.b", "www", "api", "admin", &"a".repeat(64), "../main", "é", "3", "007"] {
            assert!(Subdomain::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Subdomain::parse("3d-prints").is_ok());
        assert_eq!(Subdomain::from_signal("3").unwrap().as_str(), "3");
        for bad in ["shopa ", " shopa", "shop a"] {
            assert!(Subdomain::from_signal(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Subdomain::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn domain_rules() {
        assert_eq!(Domain::parse("Shop.Example.COM.", "localhost").unwrap().as_str(), "shop.example.com");
        for bad in ["example", "1.2.3.4", "a..b", "-a.com", "x.localhost", "localhost", "a b.com"] {
            assert!(Domain::parse(bad, "localhost").is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn host_parsing() {
        let base = "localhost";
        assert_eq!(parse_host("Shop1.LOCALHOST:8080", base), HostSignal::Subdomain("shop1".into()));
        assert_eq!(parse_host("shop1.localhost.", base), HostSignal::Subdomain("shop1".into()));
        assert_eq!(parse_host("localhost:8080", base), HostSignal::None);
        assert_eq!(parse_host("127.0.0.1:8080", base), HostSignal::None);
        assert_eq!(parse_host("[::1]:8080", base), HostSignal::None);
        assert_eq!(parse_host("Shop.Example.com", base), HostSignal::Domain("shop.example.com".into()));
        assert_eq!(parse_host("a.b.localhost", base), HostSignal::Subdomain("a.b".into()));
        assert_eq!(parse_host(&"x".repeat(300), base), HostSignal::None);
    }
}
