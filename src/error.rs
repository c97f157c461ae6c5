//! One error type for the whole application and the one place that turns it into HTTP + JSON.

use std::collections::BTreeMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Everything a request, a CLI command or a job can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 405 with `Allow`: the path exists, the method does not.
    #[error("this endpoint answers {allow}")]
    MethodNotAllowed { allow: String },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{message}")]
    Validation { message: String, fields: BTreeMap<String, String> },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 429: `too_many_attempts` (failed sign-ins) or `rate_limited` (too many requests).
    #[error("too many requests; try again in {retry_after_secs} s")]
    TooManyRequests { code: &'static str, retry_after_secs: u64 },
    /// 503 with `Retry-After`: the server refuses work it cannot start now rather than queue it.
    #[error("the server is busy; try again in {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    /// 408: the request body did not arrive in time.
    #[error("the request body did not arrive within {secs} s")]
    RequestTimeout { secs: u64 },
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// 502: a service the request needed (a payment provider) failed or refused.
    #[error("{message}")]
    BadGateway { code: &'static str, message: String },
    /// The shop's file reached its size limit or the disk is full.
    #[error("{0}")]
    StorageFull(String),
    /// Anything unexpected: logged with its context chain, answered with an opaque 500.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden { code, message: message.into() }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound { code, message: message.into() }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into() }
    }
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unavailable { code, message: message.into() }
    }
    /// A 422 naming a single field.
    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(field.to_string(), problem.into());
        Self::Validation { message: format!("{field} is invalid"), fields }
    }

    /// The snake_case code sent as `error`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Unavailable { code, .. }
            | Self::BadGateway { code, .. }
            | Self::TooManyRequests { code, .. } => code,
            Self::Unauthorized(_) => "unauthenticated",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::StorageFull(_) => "storage_full",
            Self::Validation { .. } => "validation_failed",
            Self::Overloaded { .. } => "overloaded",
            Self::RequestTimeout { .. } => "request_timeout",
            Self::Internal(_) => "internal_error",
        }
    }
}

/// Collects field problems so one 422 can name every bad field at once.
#[derive(Debug, Default)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, problem: impl Into<String>) {
        self.0.entry(field.to_string()).or_insert_with(|| problem.into());
    }
    /// Records the error of a parse result and returns its value, if any.
    pub fn take<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        parsed.map_err(|problem| self.add(field, problem)).ok()
    }
    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }
    pub fn into_result(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        Err(AppError::Validation { message: format!("invalid fields: {}", names.join(", ")), fields: self.0 })
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a BTreeMap<String, String>>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Validation { .. } | Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } | Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
                "something went wrong on our side; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        let fields = match self {
            Self::Validation { fields, .. } => Some(fields),
            _ => None,
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::TooManyRequests { retry_after_secs, .. } | Self::Overloaded { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.clone()));
            }
            // The rest of the body is not worth reading: close instead of draining it.
            Self::PayloadTooLarge { .. } | Self::RequestTimeout { .. } => {
                response.force_close();
            }
            _ => {}
        }
        response.json(ErrorBody { error: self.code(), message, fields })
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match err {
            rusqlite::Error::QueryReturnedNoRows => AppError::not_found("not_found", "no such record"),
            rusqlite::Error::SqliteFailure(e, ref detail) => match e.code {
                ErrorCode::DiskFull => {
                    tracing::warn!(detail = ?detail, "write refused: storage full");
                    AppError::StorageFull("this shop has reached its storage limit; nothing was changed".into())
                }
                ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::SystemIoFailure | ErrorCode::NotADatabase => {
                    tracing::error!(error = %err, "storage refused an operation");
                    AppError::unavailable(
                        "storage_unavailable",
                        "this shop's storage cannot be used right now; nothing was changed",
                    )
                }
                _ => AppError::Internal(anyhow::Error::new(err).context("database query")),
            },
            other => AppError::Internal(anyhow::Error::new(other).context("database query")),
        }
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        AppError::Internal(anyhow::anyhow!("blocking task failed: {err}"))
    }
}

/// True when a SQLite error is a UNIQUE constraint failure mentioning `column`.
pub fn is_unique_violation(err: &rusqlite::Error, column: &str) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, Some(msg))
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE && msg.contains(column))
}

/// Adds context to infrastructure errors, the way `anyhow::Context` does, ending in an AppError.
pub trait Context<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T, AppError>;
}

impl<T, E> Context<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context(self, what: impl std::fmt::Display) -> Result<T, AppError> {
        self.map_err(|e| AppError::Internal(anyhow::Error::new(e).context(what.to_string())))
    }
}
