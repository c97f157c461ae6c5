//! The one way a request body is read: [`Body<T>`], a JSON object within [`JSON_LIMIT`] bytes,
//! arriving within the body timeout, sent as `application/json` in UTF-8.
//!
//! It replaces actix's `web::Json` for input because that one accepts a JSON array for a struct
//! (serde maps sequences onto fields by position), reads past the limit before refusing, waits for
//! a slow body forever and ignores a `charset` parameter.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt as _;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::state::AppState;

/// Largest JSON body accepted.
pub const JSON_LIMIT: usize = 64 * 1024;

/// A request body: a JSON object deserialised into `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Body<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// `application/json` or `application/<x>+json`, with no charset or `charset=utf-8`.
fn check_content_type(req: &HttpRequest) -> Result<(), AppError> {
    let refuse = |why: &str| {
        AppError::bad_request(
            "unsupported_content_type",
            format!("send a JSON body with Content-Type: application/json{why}"),
        )
    };
    let raw = req.headers().get(header::CONTENT_TYPE).ok_or_else(|| refuse(""))?;
    let raw = raw.to_str().map_err(|_| refuse(""))?;
    let mut parts = raw.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    if !json {
        return Err(refuse(""));
    }
    for param in parts {
        let Some((name, value)) = param.split_once('=') else { continue };
        if name.trim().eq_ignore_ascii_case("charset") {
            let value = value.trim().trim_matches('"');
            if !value.eq_ignore_ascii_case("utf-8") && !value.eq_ignore_ascii_case("utf8") {
                return Err(refuse(" (the body must be UTF-8)"));
            }
        }
    }
    Ok(())
}

/// Parses a whole body: 400 when it is not JSON, 422 when it is JSON but not the object `T` wants.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err(AppError::bad_request("malformed_json", "the body is empty; send a JSON object")),
        Some(b'{') => {}
        Some(_) => {
            if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
                return Err(AppError::invalid_field("body", "must be a JSON object"));
            }
            return Err(AppError::bad_request("malformed_json", "the body is not valid JSON"));
        }
    }
    serde_json::from_slice(bytes).map_err(|e| {
        if !e.is_data() {
            return AppError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"));
        }
        let text = e.to_string();
        let missing =
            text.split_once("missing field `").and_then(|(_, rest)| rest.split_once('`')).map(|(f, _)| f.to_string());
        let mut fields = BTreeMap::new();
        match missing {
            Some(f) => fields.insert(f, "is required".to_string()),
            None => fields.insert("body".to_string(), text.clone()),
        };
        AppError::Validation { message: text, fields }
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_body(req, payload);
        Box::pin(async move { parse(&read.await?).map(Body) })
    }
}

/// A JSON object body kept byte for byte as it arrived (for signatures over the exact bytes),
/// with its parsed value; the same checks and limits as [`Body`].
pub struct RawJson {
    pub bytes: web::Bytes,
    pub value: serde_json::Value,
}

impl FromRequest for RawJson {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_body(req, payload);
        Box::pin(async move {
            let bytes = read.await?.freeze();
            let value = parse(&bytes)?;
            Ok(RawJson { bytes, value })
        })
    }
}

/// Reads a JSON request body: content type, size and time limits checked.
fn read_body(req: &HttpRequest, payload: &mut Payload) -> LocalBoxFuture<'static, Result<web::BytesMut, AppError>> {
    let checked = check_content_type(req);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let timeout = req.app_data::<web::Data<AppState>>().map_or(Duration::from_secs(10), |s| s.settings.body_timeout);
    let mut payload = payload.take();
    let req = req.clone();
    Box::pin(async move {
        checked?;
        let read = actix_web::rt::time::timeout(timeout, read_within_limit(&mut payload, declared, JSON_LIMIT)).await;
        match read {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(err)) => {
                if matches!(err, AppError::PayloadTooLarge { .. }) {
                    req.extensions_mut().insert(UnreadPayload(payload));
                }
                Err(err)
            }
            Err(_) => {
                req.extensions_mut().insert(UnreadPayload(payload));
                Err(AppError::RequestTimeout { secs: timeout.as_secs() })
            }
        }
    })
}

async fn read_within_limit(
    payload: &mut Payload,
    declared: Option<u64>,
    limit: usize,
) -> Result<web::BytesMut, AppError> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(AppError::PayloadTooLarge { limit });
    }
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| AppError::bad_request("malformed_body", format!("the body could not be read: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// A raw upload (an image, a CSV file) read into memory: at most `limit` bytes, each chunk within
/// the body timeout; an oversized or stalled body is refused unread (the connection then closes).
pub async fn read_raw(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<web::Bytes, AppError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let timeout = req.app_data::<web::Data<AppState>>().map_or(Duration::from_secs(10), |s| s.settings.body_timeout);
    let mut payload = payload.into_inner();
    match actix_web::rt::time::timeout(timeout, read_within_limit(&mut payload, declared, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes.freeze()),
        Ok(Err(err)) => {
            if matches!(err, AppError::PayloadTooLarge { .. }) {
                park_unread(req, payload);
            }
            Err(err)
        }
        Err(_) => {
            park_unread(req, payload);
            Err(AppError::RequestTimeout { secs: timeout.as_secs() })
        }
    }
}

/// Keeps a payload the handler stopped reading (an upload over its limit) until the answer is sent,
/// so the connection closes instead of draining it.
pub fn park_unread(req: &actix_web::HttpRequest, payload: Payload) {
    req.extensions_mut().insert(UnreadPayload(payload));
}

/// A body refused before it was read to the end, kept until the answer has been sent.
///
/// actix-http drains a dropped chunked body to keep the connection alive, and then serves the
/// next pipelined request, even after a `Connection: close` answer. While the payload is alive
/// and unread it does neither: it stops reading and closes once the answer is written. So the
/// extractor parks the payload in the request and [`hold_unread_payload`] moves it into the
/// answer's body.
struct UnreadPayload(Payload);

/// A response body that owns the request's unread payload until the body is sent.
struct HeldPayload {
    body: BoxBody,
    _payload: Payload,
}

impl MessageBody for HeldPayload {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// Middleware: a response to a request whose body was refused unread carries that body's payload,
/// so the connection is closed after it rather than drained and reused.
pub fn hold_unread_payload<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    let call = srv.call(req);
    async move {
        let res = call.await?;
        let unread = res.request().extensions_mut().remove::<UnreadPayload>();
        Ok(match unread {
            Some(UnreadPayload(payload)) => {
                res.map_body(|_, body| BoxBody::new(HeldPayload { body: body.boxed(), _payload: payload }))
            }
            None => res.map_into_boxed_body(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
    }

    #[test]
    fn only_objects_are_bodies() {
        assert!(parse::<Login>(br#"{"email":"a@b.c","password":"x"}"#).is_ok());
        for (body, status) in [
            (&br#"["a@b.c","x"]"#[..], 422),
            (b"\"text\"", 422),
            (b"12", 422),
            (b"", 400),
            (b"{nope", 400),
            (br#"{"email":"a@b.c"}"#, 422),
        ] {
            let err = parse::<Login>(body).unwrap_err();
            let got = actix_web::ResponseError::status_code(&err).as_u16();
            assert_eq!(got, status, "{}: {err}", String::from_utf8_lossy(body));
        }
    }
}
