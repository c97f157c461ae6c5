//! The `Caller` extractor: who signed this request, from its bearer token.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::tokens;
use crate::error::AppError;
use crate::state::AppState;

/// The authenticated identity behind a request. Anonymous when no token was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    SuperAdmin { user_id: i64, token_id: i64 },
    Admin { user_id: i64, client_id: i64, token_id: i64 },
    Customer { client_id: i64, customer_id: i64, token_id: i64 },
}

impl Caller {
    /// The shop this identity belongs to (resolution step 1). Super admins belong to none.
    pub fn client_id(&self) -> Option<i64> {
        match self {
            Caller::Admin { client_id, .. } | Caller::Customer { client_id, .. } => Some(*client_id),
            _ => None,
        }
    }

    pub fn token_id(&self) -> Option<i64> {
        match self {
            Caller::Anonymous => None,
            Caller::SuperAdmin { token_id, .. }
            | Caller::Admin { token_id, .. }
            | Caller::Customer { token_id, .. } => Some(*token_id),
        }
    }

    /// Who this is in histories and logs: `user:N`, `customer:N` or `anonymous`.
    pub fn actor(&self) -> String {
        match self {
            Caller::SuperAdmin { user_id, .. } | Caller::Admin { user_id, .. } => format!("user:{user_id}"),
            Caller::Customer { customer_id, .. } => format!("customer:{customer_id}"),
            Caller::Anonymous => "anonymous".into(),
        }
    }

    /// The main-registry user id, for super admins and shop admins.
    pub fn main_user_id(&self) -> Option<i64> {
        match self {
            Caller::SuperAdmin { user_id, .. } | Caller::Admin { user_id, .. } => Some(*user_id),
            _ => None,
        }
    }

    fn from_row(row: tokens::TokenRow) -> Result<Self, AppError> {
        match (row.user_id, row.role.as_deref(), row.customer_id, row.client_id) {
            (Some(user_id), Some("super_admin"), None, _) => Ok(Caller::SuperAdmin { user_id, token_id: row.id }),
            (Some(user_id), Some("admin"), None, _) => match row.user_client_id {
                Some(client_id) => Ok(Caller::Admin { user_id, client_id, token_id: row.id }),
                None => Err(AppError::Internal(anyhow::anyhow!("admin user {user_id} has no client"))),
            },
            (None, _, Some(customer_id), Some(client_id)) => {
                Ok(Caller::Customer { client_id, customer_id, token_id: row.id })
            }
            _ => Err(AppError::Unauthorized("this token is not valid".into())),
        }
    }
}

/// The bearer token of a request: `Ok(None)` when there is none, 401 when it is malformed.
pub fn bearer_token(req: &HttpRequest) -> Result<Option<String>, AppError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| AppError::Unauthorized("malformed Authorization header".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| AppError::Unauthorized("expected 'Authorization: Bearer <token>'".into()))?;
    if !tokens::looks_valid(token) {
        return Err(AppError::Unauthorized("this token is not valid".into()));
    }
    Ok(Some(token.to_string()))
}

/// Looks the token up (synchronously; callers are already off the async workers).
pub fn identify(conn: &rusqlite::Connection, token: Option<&str>) -> Result<Caller, AppError> {
    identify_with_abilities(conn, token).map(|(caller, _)| caller)
}

/// The caller and, for an API token, its abilities (JSON list).
pub fn identify_with_abilities(
    conn: &rusqlite::Connection,
    token: Option<&str>,
) -> Result<(Caller, Option<String>), AppError> {
    let Some(token) = token else { return Ok((Caller::Anonymous, None)) };
    match tokens::find_valid(conn, token)? {
        Some(mut row) => {
            let abilities = row.abilities.take();
            Ok((Caller::from_row(row)?, abilities))
        }
        None => Err(AppError::Unauthorized("this token is not valid, expired or revoked".into())),
    }
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(caller) = req.extensions().get::<Caller>() {
                return Ok(caller.clone());
            }
            let token = bearer_token(&req)?;
            let caller = match token {
                None => Caller::Anonymous,
                Some(token) => {
                    let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered").clone();
                    let (caller, abilities) =
                        state.main.run(move |conn| identify_with_abilities(conn, Some(&token))).await?;
                    // An API token reaches only what its abilities cover.
                    if let Some(abilities) = abilities {
                        super::api_tokens::allow(&abilities, req.method(), req.match_pattern().as_deref())?;
                    }
                    caller
                }
            };
            req.extensions_mut().insert(caller.clone());
            Ok(caller)
        })
    }
}

/// A signed-in super admin; anyone else gets 401 (not signed in) or 403.
pub struct SuperAdmin {
    pub user_id: i64,
    pub caller: Caller,
}

impl FromRequest for SuperAdmin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            match caller.await? {
                c @ Caller::SuperAdmin { user_id, .. } => Ok(SuperAdmin { user_id, caller: c }),
                Caller::Anonymous => Err(AppError::Unauthorized("sign in first".into())),
                _ => Err(AppError::forbidden("forbidden", "only super admins may do this")),
            }
        })
    }
}
