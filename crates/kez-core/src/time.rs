//! The one timestamp form of signed chat objects (SPEC §8 `sent_at`,
//! §14 `updated_at`).

use chrono::{DateTime, Utc};

/// `YYYY-MM-DDTHH:MM:SSZ` naming a real instant (no 24:00, :60 or Feb 30),
/// the only `sent_at` (SPEC §8) and `updated_at` (SPEC §14.4) form allowed.
pub fn strict_utc_seconds(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let shape = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape || &s[17..19] == "60" {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::strict_utc_seconds;

    #[test]
    fn only_the_strict_form_names_an_instant() {
        assert!(strict_utc_seconds("2026-05-25T03:00:00Z").is_some());
        for bad in [
            "2026-05-25T03:00:00+00:00",
            "2026-05-25T03:00:00.5Z",
            "2026-05-25T24:00:00Z",
            "2026-05-25T23:59:60Z",
            "2026-02-30T00:00:00Z",
            "2026-05-25t03:00:00Z",
        ] {
            assert!(strict_utc_seconds(bad).is_none(), "{bad}");
        }
    }
}
