//! The one error type every handler returns, rendered as
//! `{"error": "<code>", "message": "<sentence>"}` with a fitting status.
//!
//! The layers below HTTP have their own errors (`StoreError`, the KEZ core's
//! `AuthError`, `RegistrationError`, …) and say *what* went wrong; the
//! `From` impls here are the one place that picks the status and code for
//! each (SPEC §4, §7, §10 list them).

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::kez::auth::AuthError;
use crate::kez::handle::HandleError;
use crate::kez::identity::IdentityError;
use crate::kez::json::JsonError;
use crate::kez::signed::RegistrationError;
use crate::store::StoreError;

/// Handler result.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// A stable machine-readable code plus a human sentence. Its fields are
/// private, so only this module makes one: every error goes through a
/// constructor below or a `From`, and a code is spelled in one place.
#[derive(Debug)]
pub struct Reason {
    code: &'static str,
    message: Cow<'static, str>,
}

impl Reason {
    fn new(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Every failure a request can end in. Build them with the constructors
/// below or through `From`, never from a hand-made [`Reason`].
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request itself is malformed (JSON, query, path).
    #[error("{}", .0.message)]
    BadRequest(Reason),
    /// 401: a missing, stale or wrong signature.
    #[error("{}", .0.message)]
    Unauthorized(Reason),
    /// 404: no such route or resource.
    #[error("{}", .0.message)]
    NotFound(Reason),
    /// 405: the route exists with other methods.
    #[error("{}", .0.message)]
    MethodNotAllowed(Reason),
    /// 408: the request took longer than `--request-timeout-secs`.
    #[error("{}", .0.message)]
    RequestTimeout(Reason),
    /// 409: the handle or key is taken.
    #[error("{}", .0.message)]
    Conflict(Reason),
    /// 413: the body is over the route's limit.
    #[error("{}", .0.message)]
    PayloadTooLarge(Reason),
    /// 414: a request target over the edge's limit.
    #[error("{}", .0.message)]
    UriTooLong(Reason),
    /// 415: a JSON body without a JSON content type.
    #[error("{}", .0.message)]
    UnsupportedMediaType(Reason),
    /// 422: well-formed JSON that breaks a rule.
    #[error("{}", .0.message)]
    Unprocessable(Reason),
    /// 431: more request headers, or more header bytes, than the edge allows.
    #[error("{}", .0.message)]
    HeadersTooLarge(Reason),
    /// 429: the client's rate-limit bucket is empty; `Retry-After` says when to come back.
    #[error("{}", .reason.message)]
    TooManyRequests {
        /// The code and sentence.
        reason: Reason,
        /// Seconds until a token is back.
        retry_after_secs: u64,
    },
    /// 507: a full mailbox or an almost full disk.
    #[error("{}", .0.message)]
    InsufficientStorage(Reason),
    /// 501: a route that is planned but not built.
    #[error("{}", .0.message)]
    NotImplemented(Reason),
    /// 503: a dependency is down for now.
    #[error("{}", .0.message)]
    Unavailable(Reason),
    /// Anything unexpected: logged in full, shown to the client as a generic message.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A sentence, borrowed when static and owned when formatted.
type Message = Cow<'static, str>;

impl AppError {
    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<Message>) -> Self {
        Self::BadRequest(Reason::new(code, message))
    }

    /// 400 `invalid_query`: a query string that does not parse or lacks a parameter.
    pub fn invalid_query(message: impl Into<Message>) -> Self {
        Self::bad_request("invalid_query", message)
    }

    /// 401 with `code`.
    pub fn unauthorized(code: &'static str, message: impl Into<Message>) -> Self {
        Self::Unauthorized(Reason::new(code, message))
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<Message>) -> Self {
        Self::NotFound(Reason::new("not_found", message))
    }

    /// 404 `unknown_recipient`: a message for a handle this server does not have.
    pub fn unknown_recipient() -> Self {
        StoreError::UnknownRecipient.into()
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed(message: impl Into<Message>) -> Self {
        Self::MethodNotAllowed(Reason::new("method_not_allowed", message))
    }

    /// 408 `request_timeout`.
    pub fn request_timeout() -> Self {
        Self::RequestTimeout(Reason::new("request_timeout", "the request took too long"))
    }

    /// 409 with `code`.
    pub fn conflict(code: &'static str, message: impl Into<Message>) -> Self {
        Self::Conflict(Reason::new(code, message))
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(message: impl Into<Message>) -> Self {
        Self::PayloadTooLarge(Reason::new("payload_too_large", message))
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(message: impl Into<Message>) -> Self {
        Self::UnsupportedMediaType(Reason::new("unsupported_media_type", message))
    }

    /// 422 with `code`.
    pub fn unprocessable(code: &'static str, message: impl Into<Message>) -> Self {
        Self::Unprocessable(Reason::new(code, message))
    }

    /// 422 `invalid_body`: JSON that does not have the endpoint's fields.
    pub fn invalid_body(message: impl Into<Message>) -> Self {
        Self::unprocessable("invalid_body", message)
    }

    /// 429 with `code`; `Retry-After` is `retry_after_secs`, at least 1.
    pub fn too_many_requests(
        code: &'static str,
        message: impl Into<Message>,
        retry_after_secs: u64,
    ) -> Self {
        Self::TooManyRequests {
            reason: Reason::new(code, message),
            retry_after_secs,
        }
    }

    /// 414 `uri_too_long`.
    pub fn uri_too_long(message: impl Into<Message>) -> Self {
        Self::UriTooLong(Reason::new("uri_too_long", message))
    }

    /// 431 `headers_too_large`.
    pub fn headers_too_large(message: impl Into<Message>) -> Self {
        Self::HeadersTooLarge(Reason::new("headers_too_large", message))
    }

    /// 507 with `code`.
    pub fn insufficient_storage(code: &'static str, message: impl Into<Message>) -> Self {
        Self::InsufficientStorage(Reason::new(code, message))
    }

    /// 501 `not_implemented`.
    pub fn not_implemented(message: impl Into<Message>) -> Self {
        Self::NotImplemented(Reason::new("not_implemented", message))
    }

    /// 503 with `code`.
    pub fn unavailable(code: &'static str, message: impl Into<Message>) -> Self {
        Self::Unavailable(Reason::new(code, message))
    }

    /// 500: logged with its cause chain, shown as a generic sentence.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
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
            Self::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
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
            Self::BadRequest(Reason { code: c, .. })
            | Self::Unauthorized(Reason { code: c, .. })
            | Self::NotFound(Reason { code: c, .. })
            | Self::MethodNotAllowed(Reason { code: c, .. })
            | Self::RequestTimeout(Reason { code: c, .. })
            | Self::Conflict(Reason { code: c, .. })
            | Self::PayloadTooLarge(Reason { code: c, .. })
            | Self::UriTooLong(Reason { code: c, .. })
            | Self::HeadersTooLarge(Reason { code: c, .. })
            | Self::UnsupportedMediaType(Reason { code: c, .. })
            | Self::Unprocessable(Reason { code: c, .. })
            | Self::TooManyRequests {
                reason: Reason { code: c, .. },
                ..
            }
            | Self::InsufficientStorage(Reason { code: c, .. })
            | Self::NotImplemented(Reason { code: c, .. })
            | Self::Unavailable(Reason { code: c, .. }) => c,
            Self::Internal(_) => "internal",
        }
    }
}

/// The store's refusals are the client's doing; its failures are internal.
impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::HandleTaken => Self::conflict("handle_taken", e.to_string()),
            StoreError::PrimaryTaken => Self::conflict("primary_taken", e.to_string()),
            StoreError::UnknownRecipient => {
                Self::NotFound(Reason::new("unknown_recipient", e.to_string()))
            }
            StoreError::MailboxFull => Self::insufficient_storage("mailbox_full", e.to_string()),
            StoreError::StorageFull => Self::insufficient_storage("storage_full", e.to_string()),
            StoreError::Pool(_) | StoreError::Postgres(_) if e.is_unreachable() => {
                tracing::warn!(error = %e, "the database cannot serve this request now");
                Self::unavailable(
                    "database_unavailable",
                    "the database cannot be reached right now; try again",
                )
            }
            other => Self::Internal(other.into()),
        }
    }
}

/// SPEC §7.2: every refused credential is a 401 with the credential's code.
impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        Self::unauthorized(e.code(), e.to_string())
    }
}

/// SPEC §4: an unsafe number is a malformed request, a bad signature an
/// authentication failure, anything else a well-formed body breaking a rule.
impl From<RegistrationError> for AppError {
    fn from(e: RegistrationError) -> Self {
        let reason = Reason::new(e.code(), e.to_string());
        match e {
            RegistrationError::UnsafeNumber => Self::BadRequest(reason),
            RegistrationError::InvalidSignature => Self::Unauthorized(reason),
            _ => Self::Unprocessable(reason),
        }
    }
}

/// A handle in a body that is not registrable: 422, as in a registration.
/// Lookups map a bad handle to a plain 404 themselves (it simply is not there).
impl From<HandleError> for AppError {
    fn from(e: HandleError) -> Self {
        let code = match e {
            HandleError::Invalid => "invalid_handle",
            HandleError::Reserved => "reserved_handle",
        };
        Self::unprocessable(code, e.to_string())
    }
}

/// A key given in a path or query: 400 `invalid_key`. (Inside a registration
/// body it is a [`RegistrationError::InvalidKey`], 422.)
impl From<IdentityError> for AppError {
    fn from(e: IdentityError) -> Self {
        Self::bad_request("invalid_key", e.to_string())
    }
}

/// A body that is not strict JSON (SPEC §2): 400.
impl From<JsonError> for AppError {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Invalid(m) => Self::bad_request("invalid_json", m),
            JsonError::UnsafeNumber => Self::bad_request("unsafe_number", e.to_string()),
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

#[cfg(test)]
mod tests;
