//! The console's page templates (maud escapes every value it interpolates).

use actix_web::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

/// A page: the head with the embedded stylesheet and htmx, the console's navigation when signed
/// in, the flash message and the content.
pub fn page(
    title: &str,
    nav: Option<&[(&str, &str)]>,
    flash: Option<&str>,
    csrf: Option<&str>,
    content: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // A refusal (401, 403, 422…) is a page to show, not an error to drop.
                meta name="htmx-config" content=r#"{"responseHandling":[{"code":"204","swap":false},{"code":".*","swap":true}]}"#;
                title { (title) " · VergeFlow" }
                link rel="stylesheet" href="/console/console.css";
                script src="/console/htmx.min.js" defer {}
            }
            body hx-boost="true" {
                a.skip href="#main" { "Skip to content" }
                header {
                    span.brand { "VergeFlow" }
                    @if let Some(links) = nav {
                        nav aria-label="Console" {
                            @for (href, label) in links {
                                a href=(href) { (label) }
                            }
                        }
                        @if let Some(csrf) = csrf {
                            form.inline method="post" action="/super-admin/logout" {
                                input type="hidden" name="_csrf" value=(csrf);
                                button.secondary type="submit" { "Sign out" }
                            }
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
        None,
        html! {
            h1 { (status.as_u16()) " " (title) }
            p.error role="alert" { (message) }
            p { a href="/super-admin/" { "Back to the console" } }
        },
    )
}

/// The CSRF field every form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}
