//! The console's page templates (maud escapes every value it interpolates).

use actix_web::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

/// A signed-in page's navigation: its links, where signing out posts, the session's CSRF token.
pub struct Nav<'a> {
    pub links: &'a [(&'a str, &'a str)],
    pub logout: &'a str,
    pub csrf: &'a str,
}

/// A page: the head with the embedded stylesheet and htmx, the console's navigation when signed
/// in, the flash message and the content.
pub fn page(title: &str, nav: Option<&Nav<'_>>, flash: Option<&str>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // A refusal (401, 403, 422…) is a page to show, not an error to drop; no inline
                // style (the content policy allows none).
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"responseHandling":[{"code":"204","swap":false},{"code":".*","swap":true}]}"#;
                title { (title) " · VergeFlow" }
                link rel="stylesheet" href="/console/console.css";
                script src="/console/htmx.min.js" defer {}
            }
            body hx-boost="true" {
                a.skip href="#main" { "Skip to content" }
                header {
                    span.brand { "VergeFlow" }
                    @if let Some(n) = nav {
                        nav aria-label="Console" {
                            @for (href, label) in n.links {
                                a href=(href) { (label) }
                            }
                        }
                        form.inline method="post" action=(n.logout) {
                            input type="hidden" name="_csrf" value=(n.csrf);
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    @if let Some(message) = flash {
                        p.flash role="status" { (message) }
                    }
                    (content)
                }
            }
        }
    }
}

pub fn error_page(status: StatusCode, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    page(
        title,
        None,
        None,
        html! {
            h1 { (status.as_u16()) " " (title) }
            p.error role="alert" { (message) }
            p { "Use your browser's back button to return." }
        },
    )
}

/// The CSRF field every form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}
