//! The one error type every handler returns, rendered as
//! `{"error": "<code>", "message": "<sentence>"}` with a fitting status.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Handler result.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// A stable machine-readable code plus a human sentence.
pub type Reason = (&'static str, Cow<'static, str>);

/// Every failure a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request itself is malformed (JSON, query, path).
    #[error("{}", .0.1)]
    BadRequest(Reason),
    /// 401: a missing, stale or wrong signature.
    #[error("{}", .0.1)]
    Unauthorized(Reason),
    /// 404: no such route or resource.
    #[error("{}", .0.1)]
    NotFound(Reason),
    /// 405: the route exists with other methods.
    #[error("{}", .0.1)]
    MethodNotAllowed(Reason),
    /// 408: the request took longer than `--request-timeout-secs`.
    #[error("{}", .0.1)]
    RequestTimeout(Reason),
    /// 409: the handle or key is taken.
    #[error("{}", .0.1)]
    Conflict(Reason),
    /// 413: the body is over the route's limit.
    #[error("{}", .0.1)]
    PayloadTooLarge(Reason),
    /// 415: a JSON body without a JSON content type.
    #[error("{}", .0.1)]
    UnsupportedMediaType(Reason),
    /// 422: well-formed JSON that breaks a rule.
    #[error("{}", .0.1)]
    Unprocessable(Reason),
    /// 429: the client's rate-limit bucket is empty; `Retry-After` says when to come back.
    #[error("{}", .reason.1)]
    TooManyRequests {
        /// The code and sentence.
        reason: Reason,
        /// Seconds until a token is back.
        retry_after_secs: u64,
    },
    /// 507: a full mailbox or an almost full disk.
    #[error("{}", .0.1)]
    InsufficientStorage(Reason),
    /// 501: a route that is planned but not built.
    #[error("{}", .0.1)]
    NotImplemented(Reason),
    /// 503: a dependency is down for now.
    #[error("{}", .0.1)]
    Unavailable(Reason),
    /// Anything unexpected: logged in full, shown to the client as a generic message.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// Shorthand for the common 404.
    pub fn not_found(what: &'static str) -> Self {
        Self::NotFound(("not_found", Cow::Borrowed(what)))
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest((c, _))
            | Self::Unauthorized((c, _))
            | Self::NotFound((c, _))
            | Self::MethodNotAllowed((c, _))
            | Self::RequestTimeout((c, _))
            | Self::Conflict((c, _))
            | Self::PayloadTooLarge((c, _))
            | Self::UnsupportedMediaType((c, _))
            | Self::Unprocessable((c, _))
            | Self::TooManyRequests { reason: (c, _), .. }
            | Self::InsufficientStorage((c, _))
            | Self::NotImplemented((c, _))
            | Self::Unavailable((c, _)) => c,
            Self::Internal(_) => "internal",
        }
    }
}

/// Marks a response as carrying an internal error, so the logging middleware
/// can report it once with its cause chain.
#[derive(Clone)]
pub struct InternalErrorReport(pub std::sync::Arc<anyhow::Error>);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(_) => "the server hit an unexpected error".to_owned(),
            other => other.to_string(),
        };
        let mut res = (
            status,
            Json(json!({"error": self.code(), "message": message})),
        )
            .into_response();
        match self {
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                res.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs.max(1)),
                );
            }
            Self::Internal(e) => {
                res.extensions_mut()
                    .insert(InternalErrorReport(std::sync::Arc::new(e)));
            }
            _ => {}
        }
        res
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(e.into())
    }
}
