//! `/api/auth`: sign-in, sign-out and "who am I" for super admins and shop admins.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::throttle::{self, AttemptKeys};
use super::users::{self, MainUser};
use super::{Caller, reset, tokens};
use crate::body::Body;
use crate::error::AppError;
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;

pub fn routes(api: &mut Api) {
    api.post(
        "/api/auth/login",
        Spec::new("Sign in as a super admin or shop admin", Access::Public, Answer::Json(200, schema::<LoginResponse>))
            .body_as(schema::<LoginBody>, "AdminLogin", &["email", "password"]),
        login,
    )
    .post("/api/auth/logout", Spec::new("Revoke this token", Access::MainUser, Answer::NoContent), logout)
    .get(
        "/api/auth/me",
        Spec::new("The signed-in main user", Access::MainUser, Answer::Json(200, schema::<MainUser>)),
        me,
    )
    .post(
        "/api/auth/password/forgot",
        Spec::new(
            "Mail a password reset token to a super admin or shop admin (202 whether or not the account exists)",
            Access::Public,
            Answer::Json(202, schema::<reset::ForgotAccepted>),
        )
        .body_as(schema::<reset::ForgotBody>, "AdminPasswordForgot", &["email"]),
        forgot,
    )
    .post(
        "/api/auth/password/reset",
        Spec::new(
            "Set a new password with a reset token; every session of the account is signed out",
            Access::Public,
            Answer::NoContent,
        )
        .body_as(schema::<reset::ResetBody>, "AdminPasswordReset", &["email", "token", "password"]),
        reset_password,
    );
}

async fn forgot(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<reset::ForgotBody>,
) -> Result<HttpResponse, AppError> {
    let ip = crate::proxy::remote_address(&req, &state.settings);
    reset::forgot(&state, &ip, None, &body.email).await
}

pub(crate) async fn reset_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<reset::ResetBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    reset::check(&state, None, &body).await?;
    let ip = crate::proxy::remote_address(&req, &state.settings);
    state.password_rates.admit(Some("main"), &ip).await?;
    let hash = state.hashing.hash(body.password).await?;
    let (email, token) = (body.email, body.token.trim().to_string());
    state.main.run(move |c| reset::reset_main_user(c, &email, &token, &hash)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"email": "admin@localhost", "password": "the password printed at first start"}))]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct LoginResponse {
    token: String,
    token_type: &'static str,
    expires_at: String,
    user: MainUser,
}

async fn login(state: web::Data<AppState>, req: HttpRequest, body: Body<LoginBody>) -> Result<HttpResponse, AppError> {
    let LoginBody { email, password } = body.into_inner();
    let ip = crate::proxy::remote_address(&req, &state.settings);
    let (issued, user) = sign_in(&state, &ip, email, password).await?;
    Ok(HttpResponse::Ok().json(LoginResponse {
        token: issued.token,
        token_type: "Bearer",
        expires_at: issued.expires_at,
        user,
    }))
}

/// A main user's sign-in (the API's and the web console's): throttled per address, account and
/// scope, the password checked on the hashing threads (an imported bcrypt hash upgraded), a token
/// issued.
pub async fn sign_in(
    state: &AppState,
    ip: &str,
    email: String,
    password: String,
) -> Result<(tokens::IssuedToken, users::MainUser), AppError> {
    let keys = AttemptKeys::new("main", &email, ip);
    throttle::admit_sign_in(state, "main", &keys).await?;
    let found = state.main.run(move |conn| Ok(users::find_for_login(conn, &email)?)).await?;
    // The hash is checked on the hashing threads, holding no database connection.
    let outcome = match state.hashing.verify(password, found).await? {
        Some((user, rehashed)) => {
            let ttl = state.settings.token_ttl;
            let user_id = user.id;
            if let Some(hash) = rehashed {
                // An imported bcrypt hash becomes Argon2id at the first sign-in.
                state.main.run(move |c| Ok(users::set_password_hash(c, user_id, &hash)?)).await?;
                tracing::info!(user_id, "imported password hash upgraded to Argon2id");
            }
            let issued = state.main.run(move |c| Ok(tokens::issue(c, tokens::Owner::MainUser(user_id), ttl)?)).await?;
            Some((issued, user))
        }
        None => None,
    };
    match outcome {
        Some((issued, user)) => {
            state.throttle.record_success(&keys);
            tracing::info!(user_id = user.id, role = %user.role, "signed in");
            Ok((issued, user))
        }
        None => {
            state.throttle.record_failure(&keys);
            tracing::warn!(%ip, "sign-in failed: wrong e-mail or password");
            Err(AppError::Unauthorized("e-mail or password is wrong".into()))
        }
    }
}

async fn logout(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    let Some(token_id) = caller.token_id() else { return Err(AppError::Unauthorized("sign in first".into())) };
    state.main.run(move |conn| Ok(tokens::revoke(conn, token_id)?)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn me(state: web::Data<AppState>, caller: Caller) -> Result<web::Json<MainUser>, AppError> {
    let Some(user_id) = caller.main_user_id() else {
        return Err(match caller {
            Caller::Anonymous => AppError::Unauthorized("sign in first".into()),
            _ => AppError::forbidden("forbidden", "this endpoint is for super admins and shop admins"),
        });
    };
    let user = state.main.run(move |conn| Ok(users::find(conn, user_id)?)).await?;
    user.map(web::Json).ok_or_else(|| AppError::Unauthorized("this account no longer exists".into()))
}
