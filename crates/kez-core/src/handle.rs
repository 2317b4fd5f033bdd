//! Handle syntax and the reserved list (SPEC §3).

use std::fmt;

/// Handles nobody may register: staff-looking names and words the server or
/// mail systems use.
pub const RESERVED: &[&str] = &[
    "abuse",
    "about",
    "account",
    "accounts",
    "admin",
    "administrator",
    "api",
    "app",
    "help",
    "hostmaster",
    "info",
    "kez",
    "mail",
    "mailer-daemon",
    "moderator",
    "noc",
    "nobody",
    "noreply",
    "no-reply",
    "null",
    "owner",
    "postmaster",
    "privacy",
    "root",
    "security",
    "server",
    "settings",
    "signup",
    "status",
    "support",
    "sysadmin",
    "system",
    "test",
    "undefined",
    "webmaster",
    "www",
];

/// Why a string is not a registrable handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// Wrong length or characters.
    #[error("a handle is 3-32 characters of a-z, 0-9, _ and -, starting with a letter or digit")]
    Invalid,
    /// Syntactically fine but kept back by the server.
    #[error("this handle is reserved")]
    Reserved,
}

/// A syntactically valid handle (it may still be reserved for registration).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Handle(String);

impl Handle {
    /// Validates syntax only, for lookups: reserved names simply are not found.
    pub fn parse(s: &str) -> Result<Self, HandleError> {
        let ok_len = (3..=32).contains(&s.len());
        let mut bytes = s.bytes();
        let ok_first = bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok_rest =
            bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok_len && ok_first && ok_rest {
            Ok(Self(s.to_owned()))
        } else {
            Err(HandleError::Invalid)
        }
    }

    /// Validates syntax and refuses reserved names, for registration.
    pub fn parse_registrable(s: &str) -> Result<Self, HandleError> {
        let h = Self::parse(s)?;
        if RESERVED.contains(&h.as_str()) {
            return Err(HandleError::Reserved);
        }
        Ok(h)
    }

    /// The handle text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Handle {
    // Debug output may end up in logs; handles are social-graph data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handle(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_handles() {
        for ok in [
            "abc",
            "a-b",
            "a_b",
            "0day",
            "x".repeat(32).as_str(),
            "tudisco",
        ] {
            assert!(Handle::parse_registrable(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_invalid_handles() {
        for bad in [
            "",
            "ab",
            &"x".repeat(33),
            "Alice",
            "-abc",
            "_abc",
            "a b",
            "a.b",
            "ä12",
            "abc\n",
            "abc@kez",
        ] {
            assert_eq!(Handle::parse(bad), Err(HandleError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn reserved_names_are_refused_for_registration_only() {
        for r in [
            "admin",
            "root",
            "system",
            "support",
            "security",
            "abuse",
            "postmaster",
            "kez",
            "api",
            "www",
            "help",
            "about",
            "settings",
        ] {
            assert!(RESERVED.contains(&r), "{r} must be reserved");
            assert_eq!(Handle::parse_registrable(r), Err(HandleError::Reserved));
            assert!(Handle::parse(r).is_ok());
        }
    }
}
