//! Where mail goes: an SMTP server (lettre, blocking, from job threads) or `.eml` files.

use std::io::Write as _;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{Message, SmtpTransport, Transport};

use super::Outgoing;
use crate::config::Settings;

/// How long one SMTP conversation may take before the attempt counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Checks an SMTP URL at start-up, so a typo fails there and not at the first mail.
pub fn check_url(url: &str) -> Result<(), String> {
    SmtpTransport::from_url(&effective_url(url)).map(|_| ()).map_err(|e| e.to_string())
}

/// The URL lettre is given. lettre reads a bare `smtp://` as plain text, which would send a
/// password in the clear: VergeFlow requires STARTTLS there (`tls=required`) unless the server is
/// on this machine (loopback) or the URL says `tls=none`; `tls=opportunistic` and `smtps://`
/// (TLS from the first byte) are passed as they are.
pub fn effective_url(url: &str) -> String {
    let Some(rest) = url.strip_prefix("smtp://") else { return url.to_string() };
    let (before, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let tls = params.iter().find_map(|p| p.strip_prefix("tls="));
    match tls {
        Some("none") => params.retain(|p| !p.starts_with("tls=")),
        Some(_) => {}
        None => {
            let authority = before.split('/').next().unwrap_or_default();
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = host.strip_prefix('[').map_or_else(
                || host.rsplit_once(':').map_or(host, |(h, _)| h),
                |v6| v6.split(']').next().unwrap_or_default(),
            );
            let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                params.push("tls=required");
            }
        }
    }
    if params.is_empty() { format!("smtp://{before}") } else { format!("smtp://{before}?{}", params.join("&")) }
}

/// Builds the RFC 5322 message: plain text and HTML alternatives, the sender name given.
pub fn build(settings: &Settings, mail: &Outgoing) -> Result<Message, String> {
    let from = Mailbox::new(Some(mail.from_name.clone()), settings.mail_from.email.clone());
    let to: Mailbox = mail.to.parse().map_err(|e| format!("bad recipient {:?}: {e}", mail.to))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        .map_err(|e| format!("building the message: {e}"))
}

/// Sends (or writes) one message; says which way it went.
/// `id` is the outbox row's (0 for a reset mail, which is not kept in the outbox).
pub fn deliver(settings: &Settings, id: i64, mail: &Outgoing) -> Result<&'static str, String> {
    let message = build(settings, mail)?;
    match &settings.smtp_url {
        Some(url) => {
            let transport = SmtpTransport::from_url(&effective_url(url))
                .map_err(|e| format!("SMTP URL: {e}"))?
                .timeout(Some(SMTP_TIMEOUT))
                .build();
            transport.send(&message).map_err(|e| format!("SMTP: {e}"))?;
            Ok("smtp")
        }
        None => {
            write_eml(&settings.data_dir.join("mail"), id, mail, &message.formatted())
                .map_err(|e| format!("writing the .eml file: {e}"))?;
            Ok("file")
        }
    }
}

/// `<dir>/<id>-<template>.eml`, written to a temporary name and renamed, so a reader never sees
/// half a message.
fn write_eml(dir: &std::path::Path, id: i64, mail: &Outgoing, bytes: &[u8]) -> std::io::Result<()> {
    if !dir.is_dir() {
        crate::sys::create_private_folder(dir)?;
    }
    // Milliseconds first, so names sort by time; the outbox id (0 for a reset mail, which is not
    // kept in the outbox) and a random part keep them apart.
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let tag: u32 = rand::RngExt::random(&mut rand::rng());
    let name = format!("{ms}-{id:08}-{}-{tag:08x}.eml", mail.template);
    let tmp = dir.join(format!(".{name}.tmp"));
    // Not fsynced: these are development copies, and a message a crash loses is sent again (its
    // outbox row is not marked sent before the file is renamed into place).
    std::fs::File::create(&tmp)?.write_all(bytes)?;
    std::fs::rename(&tmp, dir.join(name))
}

/// Whether mail goes to SMTP or to files, for the start-up log.
pub fn describe(settings: &Settings) -> String {
    match &settings.smtp_url {
        Some(url) => {
            // scheme://[user:pass@]host[:port][/…?…]: the host and port only, never the password.
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("SMTP via {host}")
        }
        None => format!("files under {}", settings.data_dir.join("mail").display()),
    }
}

#[cfg(test)]
mod tests {
    use super::effective_url;

    #[test]
    fn plain_smtp_needs_loopback_or_an_explicit_none() {
        assert_eq!(effective_url("smtp://u:p@mail.example.com:587"), "smtp://u:p@mail.example.com:587?tls=required");
        assert_eq!(effective_url("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
        assert_eq!(effective_url("smtp://[::1]:25"), "smtp://[::1]:25");
        assert_eq!(effective_url("smtp://relay.lan:25?tls=none"), "smtp://relay.lan:25");
        assert_eq!(effective_url("smtp://h:25?tls=opportunistic"), "smtp://h:25?tls=opportunistic");
        assert_eq!(effective_url("smtps://u:p@h:465"), "smtps://u:p@h:465");
    }
}
