//! The messages VergeFlow sends, each as plain text and HTML. Everything that comes from a user
//! (names, product names, addresses) is escaped in the HTML part.

use super::Outgoing;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Subject lines and names go in headers: no line breaks.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn html_page(title: &str, paragraphs: &[String]) -> String {
    let mut body = String::new();
    for p in paragraphs {
        body.push_str("<p>");
        body.push_str(p);
        body.push_str("</p>\n");
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body style=\"font-family: sans-serif\">\n{body}</body></html>\n",
        escape(title)
    )
}

fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// Who the mail is from and for.
pub struct Addressing<'a> {
    pub client_id: Option<i64>,
    /// The shop's name (or "VergeFlow" for main users): the sender name and the signature.
    pub sender: &'a str,
    pub to: &'a str,
}

fn outgoing(a: &Addressing<'_>, template: &'static str, subject: String, text: String, html: String) -> Outgoing {
    Outgoing {
        client_id: a.client_id,
        template: template.to_string(),
        from_name: one_line(a.sender),
        to: a.to.to_string(),
        subject: one_line(&subject),
        text,
        html,
    }
}

pub fn customer_welcome(a: &Addressing<'_>, name: &str) -> Outgoing {
    let subject = format!("Welcome to {}", a.sender);
    let text = format!(
        "Hello {name},\n\nyour account at {shop} is ready. Sign in with this e-mail address.\n\n— {shop}\n",
        shop = a.sender
    );
    let html = html_page(
        &subject,
        &[
            format!("Hello {},", escape(name)),
            format!(
                "your account at <strong>{}</strong> is ready. Sign in with this e-mail address.",
                escape(a.sender)
            ),
            format!("— {}", escape(a.sender)),
        ],
    );
    outgoing(a, "customer_welcome", subject, text, html)
}

pub fn password_reset(a: &Addressing<'_>, name: &str, email: &str, token: &str, minutes: i64) -> Outgoing {
    let subject = format!("Reset your {} password", a.sender);
    let endpoint = if a.client_id.is_some() { "/api/shop/auth/password/reset" } else { "/api/auth/password/reset" };
    let text = format!(
        "Hello {name},\n\nsomeone (hopefully you) asked to reset the password of {email} at {shop}.\n\n\
         Your reset token: {token}\n\nIt works once, for {minutes} minutes: send it with your e-mail and a new \
         password to {endpoint}.\nEvery session of this account is signed out when the password changes.\n\n\
         If you did not ask for this, ignore this message; your password stays as it is.\n\n— {shop}\n",
        shop = a.sender
    );
    let html = html_page(
        &subject,
        &[
            format!("Hello {},", escape(name)),
            format!(
                "someone (hopefully you) asked to reset the password of {} at {}.",
                escape(email),
                escape(a.sender)
            ),
            format!("Your reset token: <code>{}</code>", escape(token)),
            format!(
                "It works once, for {minutes} minutes: send it with your e-mail and a new password to <code>{endpoint}</code>. \
                 Every session of this account is signed out when the password changes."
            ),
            "If you did not ask for this, ignore this message; your password stays as it is.".to_string(),
            format!("— {}", escape(a.sender)),
        ],
    );
    outgoing(a, "password_reset", subject, text, html)
}

/// One line of an order, for mail.
pub struct Line<'a> {
    pub name: &'a str,
    pub quantity: i64,
    pub line_cents: i64,
}

pub struct OrderSummary<'a> {
    pub number: &'a str,
    pub status: &'a str,
    pub total_cents: i64,
    pub lines: Vec<Line<'a>>,
    pub customer_name: &'a str,
    pub customer_email: &'a str,
    /// A guest's signed link to their order.
    pub link: Option<&'a str>,
}

fn lines_text(o: &OrderSummary<'_>) -> String {
    let mut s = String::new();
    for l in &o.lines {
        s.push_str(&format!("  {} × {}  {}\n", l.quantity, l.name, money(l.line_cents)));
    }
    s.push_str(&format!("  Total: {}\n", money(o.total_cents)));
    s
}

fn lines_html(o: &OrderSummary<'_>) -> String {
    let mut s = String::from("<table>");
    for l in &o.lines {
        s.push_str(&format!(
            "<tr><td>{}</td><td>× {}</td><td style=\"text-align:right\">{}</td></tr>",
            escape(l.name),
            l.quantity,
            money(l.line_cents)
        ));
    }
    s.push_str(&format!(
        "<tr><th colspan=\"2\">Total</th><th style=\"text-align:right\">{}</th></tr></table>",
        money(o.total_cents)
    ));
    s
}

pub fn order_placed_customer(a: &Addressing<'_>, o: &OrderSummary<'_>) -> Outgoing {
    let subject = format!("Your order {} at {}", o.number, a.sender);
    let follow = o.link.map(|l| format!("Follow your order at {l}\n\n")).unwrap_or_default();
    let text = format!(
        "Hello {},\n\nthank you for your order {}. It is {}.\n\n{}\n{follow}— {}\n",
        o.customer_name,
        o.number,
        o.status,
        lines_text(o),
        a.sender
    );
    let mut parts = vec![
        format!("Hello {},", escape(o.customer_name)),
        format!("thank you for your order <strong>{}</strong>. It is {}.", escape(o.number), escape(o.status)),
        lines_html(o),
    ];
    if let Some(link) = o.link {
        parts.push(format!("Follow your order at <a href=\"{0}\">{0}</a>", escape(link)));
    }
    parts.push(format!("— {}", escape(a.sender)));
    let html = html_page(&subject, &parts);
    outgoing(a, "order_placed", subject, text, html)
}

pub fn order_placed_admin(a: &Addressing<'_>, o: &OrderSummary<'_>) -> Outgoing {
    let subject = format!("New order {} ({})", o.number, money(o.total_cents));
    let text = format!(
        "{} <{}> placed order {}.\n\n{}\nSee it at /api/admin/orders.\n",
        o.customer_name,
        o.customer_email,
        o.number,
        lines_text(o)
    );
    let html = html_page(
        &subject,
        &[
            format!(
                "{} &lt;{}&gt; placed order <strong>{}</strong>.",
                escape(o.customer_name),
                escape(o.customer_email),
                escape(o.number)
            ),
            lines_html(o),
        ],
    );
    outgoing(a, "order_placed_admin", subject, text, html)
}

pub fn order_status_changed(a: &Addressing<'_>, o: &OrderSummary<'_>, from: &str) -> Outgoing {
    let subject = format!("Your order {} is {}", o.number, o.status);
    let text = format!(
        "Hello {},\n\nyour order {} was {} and is now {}.\n\n{}\n— {}\n",
        o.customer_name,
        o.number,
        from,
        o.status,
        lines_text(o),
        a.sender
    );
    let html = html_page(
        &subject,
        &[
            format!("Hello {},", escape(o.customer_name)),
            format!(
                "your order <strong>{}</strong> was {} and is now <strong>{}</strong>.",
                escape(o.number),
                escape(from),
                escape(o.status)
            ),
            lines_html(o),
            format!("— {}", escape(a.sender)),
        ],
    );
    outgoing(a, "order_status_changed", subject, text, html)
}

pub fn webhook_disabled(a: &Addressing<'_>, url: &str, reason: &str) -> Outgoing {
    let subject = format!("A webhook of {} was disabled", a.sender);
    let text = format!(
        "The webhook endpoint {url} was disabled: {reason}.\n\nNo events are sent to it until you fix the receiver \
         and set it active again (PATCH /api/admin/webhooks/{{id}} {{\"active\": true}}).\n"
    );
    let html = html_page(
        &subject,
        &[
            format!("The webhook endpoint <code>{}</code> was disabled: {}.", escape(url), escape(reason)),
            "No events are sent to it until you fix the receiver and set it active again.".to_string(),
        ],
    );
    outgoing(a, "webhook_disabled", subject, text, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped_in_html_and_headers_stay_on_one_line() {
        let a = Addressing { client_id: Some(1), sender: "Tea\r\nBcc: x@evil", to: "a@b.c" };
        let m = customer_welcome(&a, "<script>alert(1)</script>");
        assert!(m.html.contains("&lt;script&gt;") && !m.html.contains("<script>"));
        assert!(!m.subject.contains('\n') && !m.from_name.contains('\r'));
        assert_eq!(money(1999), "19.99");
        assert_eq!(money(-5), "-0.05");
    }
}
