//! Read receipts and typing (SPEC §8.6): the bodies of the sealed kinds
//! `read` and `typing`, which are only ever sent ephemeral (§7.7, nostr
//! kind 24244) and never stored, acked or self-copied.

/// The `type` of a typing body.
pub const TYPING_TYPE: &str = "kez-typing-v1";
/// The nostr event kind of ephemeral sealed messages (NIP-01 ephemeral
/// range 20000-29999: relays do not store it).
pub const EPHEMERAL_EVENT_KIND: u16 = 24244;

/// What a `typing` message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypingState {
    /// The sender is typing.
    Active,
    /// The sender stopped (emptied the composer, sent, left the thread).
    Paused,
}

impl TypingState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
        }
    }
}

/// The exact body of a `typing` message: the JCS of
/// `{"state":..,"type":"kez-typing-v1"}` (keys sorted).
#[must_use]
pub fn typing_body(state: TypingState) -> String {
    format!(r#"{{"state":"{}","type":"{TYPING_TYPE}"}}"#, state.as_str())
}

/// The state a `typing` body names, if it is byte for byte one of the two
/// allowed bodies (SPEC §8.6), else `None` (`malformed_message`).
#[must_use]
pub fn parse_typing(body: &str) -> Option<TypingState> {
    [TypingState::Active, TypingState::Paused]
        .into_iter()
        .find(|s| typing_body(*s) == body)
}

/// The ids a `read` body names: the same rule as an ack body (1 to 100
/// distinct message ids joined by single commas, SPEC §8.1), or `None`.
#[cfg(feature = "envelope")]
#[must_use]
pub fn read_ids(body: &str) -> Option<Vec<&str>> {
    crate::envelope::ack_ids(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_bodies_are_exact_jcs() {
        let v = serde_json::json!({"type": TYPING_TYPE, "state": "active"});
        assert_eq!(
            typing_body(TypingState::Active).as_bytes(),
            crate::json::canonical_bytes(&v)
        );
        assert_eq!(
            parse_typing(&typing_body(TypingState::Paused)),
            Some(TypingState::Paused)
        );
        for bad in [
            r#"{"type":"kez-typing-v1","state":"active"}"#,
            r#"{"state":"idle","type":"kez-typing-v1"}"#,
            r#"{"state": "active","type":"kez-typing-v1"}"#,
            r#"{"state":"active","type":"kez-typing-v1","x":1}"#,
            "",
        ] {
            assert_eq!(parse_typing(bad), None, "{bad}");
        }
    }
}
