//! A mailbox as its owner sees it: envelopes kept byte for byte (SPEC §7.1),
//! cursors ahead of the mailbox (§7.3, §7.4), seqs after a restored backup,
//! releasing what was read and the per-sender share of the quota (§7.5).

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::helpers::*;

/// Valid strict JSON that any parse-and-re-encode changes: an integer above
/// 2^53, one beyond u64, exponents, `-0`, trailing zeros, keys out of
/// order, `\u` and `\/` escapes, tabs and newlines between tokens.
const ODD_ENVELOPE: &str = "{ \"v\" : 2,\n\t\"zz\":9007199254740993 ,\"aa\":\"caf\\u00e9 \\/ \\ud83d\\ude00\",\
    \"n\":[1E5,-0,1.50,1e-7,123456789012345678901234567890],\n  \"ct\" :\"x\"  }";

#[derive(Deserialize)]
struct RawPoll {
    messages: Vec<RawMessage>,
}

#[derive(Deserialize)]
struct RawMessage {
    envelope: Box<RawValue>,
}

async fn post_envelope(app: &TestApp, to: &str, envelope: &str) -> reqwest::Response {
    let body = format!(
        "{{\"to\":\"{to}\",\"id\":\"{}\",\"envelope\":  {envelope}  }}",
        random_id()
    );
    app.post_raw("/v1/messages", "application/json", body.into_bytes())
        .await
}

#[tokio::test]
async fn an_envelope_comes_back_byte_for_byte_through_poll_and_stream() {
    // Arrange
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let mut stream = app.open_stream(&bob, "bob", None).await;

    // Act
    let res = post_envelope(&app, "bob", ODD_ENVELOPE).await;

    // Assert
    assert_eq!(res.status(), 201);
    let polled = app
        .client
        .get(app.url("/v1/inbox/bob?since=0"))
        .header("x-kez-auth", bob.poll_auth("bob", 0))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let polled: RawPoll = serde_json::from_str(&polled).unwrap();
    assert_eq!(polled.messages[0].envelope.get(), ODD_ENVELOPE);
    let event = within(10, "the streamed message", async {
        loop {
            let ev = stream.next().await.expect("stream ended");
            if ev.event == "message" {
                return ev.data;
            }
        }
    })
    .await;
    let streamed: RawMessage = serde_json::from_str(&event).unwrap();
    assert_eq!(streamed.envelope.get(), ODD_ENVELOPE);
}

#[tokio::test]
async fn envelopes_that_are_not_objects_too_large_or_carry_a_cr_are_refused() {
    let app = spawn_app().await;
    app.user("bob").await;
    for not_object in ["[1]", "\"text\"", "7", "null"] {
        let res = post_envelope(&app, "bob", not_object).await;
        assert_error(res, 422, "invalid_body").await;
    }
    let res = post_envelope(&app, "bob", "{\"v\":2,\r\n\"ct\":\"x\"}").await;
    assert_error(res, 422, "invalid_envelope").await;
    // 256 KiB as sent, whitespace included.
    let padded = format!("{{\"ct\":\"x\"{}}}", " ".repeat(256 * 1024));
    assert_error(
        post_envelope(&app, "bob", &padded).await,
        413,
        "payload_too_large",
    )
    .await;
    let fits = format!("{{\"ct\":\"{}\"}}", "x".repeat(256 * 1024 - 10));
    assert_eq!(post_envelope(&app, "bob", &fits).await.status(), 201);
}
