//! `/api/auth`: sign-in, sign-out and "who am I" for super admins and shop admins.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::throttle::AttemptKeys;
use super::users::{self, MainUser};
use super::{Caller, password, tokens};
use crate::error::AppError;
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;

pub fn routes(api: &mut Api) {
    api.post(
        "/api/auth/login",
        Spec::new("Sign in as a super admin or shop admin", Access::Public, Answer::Json(200, schema::<LoginResponse>))
            .body(schema::<LoginBody>),
        login,
    )
    .post("/api/auth/logout", Spec::new("Revoke this token", Access::MainUser, Answer::NoContent), logout)
    .get(
        "/api/auth/me",
        Spec::new("The signed-in main user", Access::MainUser, Answer::Json(200, schema::<MainUser>)),
        me,
    );
}

#[derive(Deserialize, schemars::JsonSchema)]
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

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, AppError> {
    let LoginBody { email, password } = body.into_inner();
    let keys = AttemptKeys::new("main", &email, &crate::proxy::remote_address(&req, &state.settings));
    state.throttle.check(&keys)?;
    let ttl = state.settings.token_ttl;
    let outcome = state
        .main
        .run(move |conn| {
            let Some((user, hash)) = users::find_for_login(conn, email.trim())? else {
                password::verify_dummy(&password);
                return Ok(None);
            };
            if !password::verify(&password, &hash) {
                return Ok(None);
            }
            let issued = tokens::issue(conn, tokens::Owner::MainUser(user.id), ttl)?;
            Ok(Some((issued, user)))
        })
        .await?;
    match outcome {
        Some((issued, user)) => {
            state.throttle.record_success(&keys);
            tracing::info!(user_id = user.id, role = %user.role, "signed in");
            Ok(HttpResponse::Ok().json(LoginResponse {
                token: issued.token,
                token_type: "Bearer",
                expires_at: issued.expires_at,
                user,
            }))
        }
        None => {
            state.throttle.record_failure(&keys);
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
