//! The web console (issue 14): `/super-admin/` for the super admin, `/admin/` for a shop's admin.
//! Server-rendered HTML ([`views`], maud: compile-time checked, escaping everything it is given),
//! htmx for partial updates (`hx-boost`: links and forms swap the page's body; every page and form
//! works without JavaScript too), assets embedded in the binary.
//!
//! Authorisation is the API's: a console sign-in issues the same bearer token as
//! `POST /api/auth/login`, kept in the signed, HttpOnly, SameSite=Lax session cookie; the console
//! middleware turns it into the request's [`Caller`], so the API's extractors and checks apply
//! unchanged. Every form carries the session's CSRF token, checked before anything is done.

mod kit;
pub mod shop_admin;
pub mod super_admin;
mod views;

use std::collections::HashMap;

use actix_session::{Session, SessionExt as _};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage as _, HttpResponse, ResponseError, web};

use crate::auth::caller::Caller;
use crate::error::AppError;
use crate::state::AppState;

const TOKEN_KEY: &str = "console_token";
const CSRF_KEY: &str = "console_csrf";
const FLASH_KEY: &str = "console_flash";
/// Marks a "sign in first" answer, which the middleware turns into the console's sign-in page.
const SIGN_IN_HEADER: &str = "x-console-sign-in";

const HTMX: &[u8] = include_bytes!("assets/htmx.min.js");
const CSS: &[u8] = include_bytes!("assets/console.css");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/htmx.min.js", web::get().to(|| asset(HTMX, "text/javascript; charset=utf-8")))
        .route("/console/console.css", web::get().to(|| asset(CSS, "text/css; charset=utf-8")))
        .service(web::scope("/super-admin").wrap(from_fn(console_request)).configure(super_admin::routes))
        .service(web::scope("/admin").wrap(from_fn(console_request)).configure(shop_admin::routes));
}

async fn asset(bytes: &'static [u8], content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes)
}

/// Every console request: the session's token becomes the request's [`Caller`] (a token revoked
/// or expired meanwhile is dropped from the session), and every answer carries the console's
/// security headers.
async fn console_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let session = req.get_session();
    if let Ok(Some(token)) = session.get::<String>(TOKEN_KEY) {
        let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered").clone();
        match state.main.run(move |c| crate::auth::caller::identify_with_abilities(c, Some(&token))).await {
            Ok((caller, _)) => {
                req.extensions_mut().insert(caller);
            }
            Err(_) => {
                session.remove(TOKEN_KEY);
            }
        }
    }
    let login = if req.path().starts_with("/admin") { "/admin/login" } else { "/super-admin/login" };
    let res = next.call(req).await?.map_into_boxed_body();
    // Not signed in (or signed out meanwhile): to this console's sign-in page.
    let mut res = if res.headers().contains_key(SIGN_IN_HEADER) {
        res.into_response(redirect(login)).map_into_boxed_body()
    } else {
        res
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The session's CSRF token, made on first use.
fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF_KEY) {
        return token;
    }
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let _ = session.insert(CSRF_KEY, &token);
    token
}

/// A posted form, accepted only with the session's CSRF token in `_csrf`.
fn checked_form(
    session: &Session,
    form: web::Form<HashMap<String, String>>,
) -> Result<HashMap<String, String>, ConsoleError> {
    let form = form.into_inner();
    let expected = session.get::<String>(CSRF_KEY).ok().flatten();
    let given = form.get("_csrf");
    let same = match (expected, given) {
        (Some(e), Some(g)) => {
            e.len() == g.len() && e.bytes().zip(g.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        }
        _ => false,
    };
    if !same {
        return Err(ConsoleError(AppError::forbidden(
            "csrf_failed",
            "this form is out of date or did not come from the console; reload the page and try again",
        )));
    }
    Ok(form)
}

fn flash(session: &Session, message: impl Into<String>) {
    let _ = session.insert(FLASH_KEY, message.into());
}

/// A change's outcome as the next page's flash: done, or refused with the reason (a server error
/// is an error page).
fn after(session: &Session, done: Result<(), AppError>, message: &str) -> Result<(), ConsoleError> {
    match done {
        Ok(()) => flash(session, message),
        Err(e) if e.status_code().is_client_error() => flash(session, format!("Not done: {}", kit::problem(&e))),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH_KEY).and_then(Result::ok)
}

fn html_page(markup: maud::Markup) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(markup.into_string())
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// An error as a console page: not signed in → the sign-in page; anything else → a page saying
/// what went wrong, with the API's status (a 500 says nothing of its cause).
#[derive(Debug)]
pub struct ConsoleError(pub AppError);

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<AppError>> From<E> for ConsoleError {
    fn from(e: E) -> Self {
        ConsoleError(e.into())
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.0.status_code();
        if status == StatusCode::UNAUTHORIZED {
            return HttpResponse::Unauthorized().insert_header((SIGN_IN_HEADER, "1")).finish();
        }
        let message = if status.is_server_error() {
            tracing::error!(error = %self.0, "console request failed");
            "Something went wrong on the server; it has been logged.".to_string()
        } else {
            self.0.to_string()
        };
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(views::error_page(status, &message).into_string())
    }
}

/// The signed-in super admin, or why not (anonymous: to the sign-in page).
fn super_admin(caller: &Caller) -> Result<i64, ConsoleError> {
    match caller {
        Caller::SuperAdmin { user_id, .. } => Ok(*user_id),
        Caller::Anonymous => Err(ConsoleError(AppError::Unauthorized("sign in first".into()))),
        _ => Err(ConsoleError(AppError::forbidden("forbidden", "this console is for super admins"))),
    }
}

/// Which console a sign-in is for: the role it admits, where it lands, what it tells the other role.
struct Door {
    role: &'static str,
    home: &'static str,
    login: &'static str,
    other_role: &'static str,
}

const SUPER_ADMIN_DOOR: Door = Door {
    role: "super_admin",
    home: "/super-admin/",
    login: "/super-admin/login",
    other_role: "This console is for super admins; shop admins sign in at /admin/.",
};
const SHOP_ADMIN_DOOR: Door = Door {
    role: "admin",
    home: "/admin/",
    login: "/admin/login",
    other_role: "This console is for shop admins; super admins sign in at /super-admin/.",
};

/// A console sign-in: the API's own (throttled, the token issued), the token kept in the session
/// for the door's role; another role's token is revoked at once. `refused` renders the sign-in
/// page with a problem.
async fn sign_in(
    state: &AppState,
    req: &actix_web::HttpRequest,
    session: &Session,
    form: web::Form<HashMap<String, String>>,
    door: &Door,
    refused: impl Fn(&str) -> maud::Markup,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(session, form)?;
    let email = form.get("email").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let ip = crate::proxy::remote_address(req, &state.settings);
    let refuse = |message: &str| {
        HttpResponse::Unauthorized().content_type("text/html; charset=utf-8").body(refused(message).into_string())
    };
    match crate::auth::routes::sign_in(state, &ip, email, password).await {
        Ok((issued, user)) if user.role == door.role => {
            session.renew();
            let _ = session.insert(TOKEN_KEY, issued.token);
            Ok(redirect(door.home))
        }
        Ok((issued, _)) => {
            let token = issued.token;
            state
                .main
                .run(move |c| {
                    let (caller, _) = crate::auth::caller::identify_with_abilities(c, Some(&token))?;
                    Ok(crate::auth::tokens::revoke(c, caller.token_id().unwrap_or(0))?)
                })
                .await?;
            Ok(refuse(door.other_role))
        }
        Err(AppError::Unauthorized(_)) => Ok(refuse("E-mail or password is wrong.")),
        Err(e) => Err(e.into()),
    }
}

/// Signing out: the session's token revoked, the session emptied.
async fn sign_out(
    state: &AppState,
    session: &Session,
    caller: Option<Caller>,
    form: web::Form<HashMap<String, String>>,
    door: &Door,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(session, form)?;
    if let Some(token_id) = caller.as_ref().and_then(Caller::token_id) {
        state.main.run(move |c| Ok(crate::auth::tokens::revoke(c, token_id)?)).await?;
    }
    session.purge();
    Ok(redirect(door.login))
}
