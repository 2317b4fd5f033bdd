//! Pins the status and code of every mapping, so a wire change shows up here.

use super::*;

/// Each `(error, status, code)` renders with that status and code.
fn check(cases: Vec<(AppError, u16, &str)>) {
    for (e, status, code) in cases {
        assert_eq!((e.status().as_u16(), e.code()), (status, code), "{e:?}");
    }
}

#[test]
fn store_refusals_keep_status_code_and_sentence() {
    use StoreError as S;
    let cases = [
        (
            S::HandleTaken,
            409,
            "handle_taken",
            "this handle is already taken",
        ),
        (
            S::PrimaryTaken,
            409,
            "primary_taken",
            "this key already has a handle on this server",
        ),
        (
            S::UnknownRecipient,
            404,
            "unknown_recipient",
            "no such handle on this server",
        ),
        (
            S::MailboxFull,
            507,
            "mailbox_full",
            "the recipient's mailbox is full; try again later",
        ),
        (
            S::StorageFull,
            507,
            "storage_full",
            "this server is out of disk space; try again later",
        ),
        (
            S::Pool("timed out waiting for a connection".into()),
            503,
            "database_unavailable",
            "the database cannot be reached right now; try again",
        ),
    ];
    for (e, status, code, sentence) in cases {
        let e = AppError::from(e);
        assert_eq!((e.status().as_u16(), e.code()), (status, code));
        assert_eq!(e.to_string(), sentence);
    }
}

#[test]
fn store_failures_are_internal() {
    use StoreError as S;
    let commit = S::CommitFailed(std::sync::Arc::new(anyhow::anyhow!("disk I/O error")));
    check(vec![
        (
            S::Corrupt("stored envelope is not JSON".into()).into(),
            500,
            "internal",
        ),
        (S::WriterGone.into(), 500, "internal"),
        (S::JobDropped.into(), 500, "internal"),
        (S::JobPanicked.into(), 500, "internal"),
        (S::ReaderGone.into(), 500, "internal"),
        (S::WrongBackend.into(), 500, "internal"),
        (commit.into(), 500, "internal"),
        (
            S::Sqlite(rusqlite::Error::QueryReturnedNoRows).into(),
            500,
            "internal",
        ),
    ]);
}

#[test]
fn refused_credentials_are_401_with_their_code() {
    check(vec![
        (AuthError::Malformed.into(), 401, "malformed_auth"),
        (AuthError::Stale.into(), 401, "stale_auth"),
        (AuthError::BadSignature.into(), 401, "bad_signature"),
    ]);
}

#[test]
fn registration_errors_map_as_spec_section_4_says() {
    use RegistrationError as R;
    check(vec![
        (R::UnsafeNumber.into(), 400, "unsafe_number"),
        (R::InvalidBody("x".into()).into(), 422, "invalid_body"),
        (R::WrongEnvelopeTag.into(), 422, "wrong_envelope_tag"),
        (R::WrongPayloadType.into(), 422, "wrong_payload_type"),
        (R::UnsupportedVersion.into(), 422, "unsupported_version"),
        (R::KeyMismatch.into(), 422, "key_mismatch"),
        (R::UnsupportedAlg.into(), 422, "unsupported_alg"),
        (
            R::InvalidKey(IdentityError::Weak).into(),
            422,
            "invalid_key",
        ),
        (R::InvalidSignature.into(), 401, "invalid_signature"),
        (R::WrongServer.into(), 422, "wrong_server"),
        (
            R::InvalidHandle(HandleError::Invalid).into(),
            422,
            "invalid_handle",
        ),
        (
            R::InvalidHandle(HandleError::Reserved).into(),
            422,
            "reserved_handle",
        ),
        (R::InvalidTimestamp.into(), 422, "invalid_timestamp"),
        (R::StaleTimestamp.into(), 422, "stale_timestamp"),
    ]);
}

#[test]
fn handle_key_and_json_errors_are_client_errors() {
    check(vec![
        (HandleError::Invalid.into(), 422, "invalid_handle"),
        (HandleError::Reserved.into(), 422, "reserved_handle"),
        (IdentityError::Malformed.into(), 400, "invalid_key"),
        (IdentityError::NotOnCurve.into(), 400, "invalid_key"),
        (IdentityError::Weak.into(), 400, "invalid_key"),
        (JsonError::Invalid("x".into()).into(), 400, "invalid_json"),
        (JsonError::UnsafeNumber.into(), 400, "unsafe_number"),
    ]);
    // The core's sentence is the message, with nothing of serde's added.
    let e = AppError::from(crate::kez::json::parse_strict(b"{\"a\":1} x").unwrap_err());
    assert_eq!(
        e.to_string(),
        "the body is not valid JSON at line 1, column 9"
    );
}

#[test]
fn constructors_pin_status_and_code() {
    check(vec![
        (
            AppError::bad_request("invalid_path", "m"),
            400,
            "invalid_path",
        ),
        (AppError::invalid_query("m"), 400, "invalid_query"),
        (
            AppError::unauthorized("missing_auth", "m"),
            401,
            "missing_auth",
        ),
        (AppError::not_found("m"), 404, "not_found"),
        (AppError::unknown_recipient(), 404, "unknown_recipient"),
        (AppError::method_not_allowed("m"), 405, "method_not_allowed"),
        (AppError::request_timeout(), 408, "request_timeout"),
        (AppError::conflict("c", "m"), 409, "c"),
        (AppError::payload_too_large("m"), 413, "payload_too_large"),
        (AppError::uri_too_long("m"), 414, "uri_too_long"),
        (AppError::headers_too_large("m"), 431, "headers_too_large"),
        (
            AppError::unsupported_media_type("m"),
            415,
            "unsupported_media_type",
        ),
        (AppError::unprocessable("c", "m"), 422, "c"),
        (AppError::invalid_body("m"), 422, "invalid_body"),
        (
            AppError::too_many_requests("rate_limited", "m", 3),
            429,
            "rate_limited",
        ),
        (AppError::insufficient_storage("c", "m"), 507, "c"),
        (AppError::not_implemented("m"), 501, "not_implemented"),
        (AppError::unavailable("c", "m"), 503, "c"),
        (AppError::internal(anyhow::anyhow!("x")), 500, "internal"),
    ]);
    assert_eq!(
        AppError::request_timeout().to_string(),
        "the request took too long"
    );
}

#[tokio::test]
async fn responses_carry_retry_after_and_hide_internal_causes() {
    let body = |res: Response| async move {
        let bytes = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    let limited = AppError::too_many_requests("rate_limited", "slow down", 0).into_response();
    assert_eq!(limited.headers()[header::RETRY_AFTER], "1");
    assert_eq!(
        body(limited).await,
        json!({"error": "rate_limited", "message": "slow down"})
    );

    let internal = AppError::internal(anyhow::anyhow!("secret cause")).into_response();
    assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(internal.extensions().get::<InternalErrorReport>().is_some());
    assert_eq!(
        body(internal).await,
        json!({"error": "internal", "message": "the server hit an unexpected error"})
    );
}
