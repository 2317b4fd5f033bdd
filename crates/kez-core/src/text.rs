//! Text shown to a person as a name (file names, SPEC §13; display names,
//! SPEC §14.1): characters that change how the text around them reads
//! without being seen themselves.

/// Whether `c` is a bidi control or an invisible character SPEC §13/§14.1
/// forbid in names: U+061C, U+200B, U+200E, U+200F, U+2028–U+202E,
/// U+2060–U+2064, U+2066–U+2069, U+FEFF. `invoice\u{202E}fdp.exe` reads as
/// `invoiceexe.pdf`, and a zero-width space makes two names that look the
/// same differ. ZWNJ/ZWJ (U+200C/U+200D) stay allowed: scripts such as
/// Persian and emoji sequences need them, and they reorder nothing.
#[must_use]
pub fn is_spoofing_char(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::is_spoofing_char;

    #[test]
    fn bidi_and_invisible_characters() {
        for c in [
            '\u{61C}', '\u{200B}', '\u{200E}', '\u{200F}', '\u{2028}', '\u{202A}', '\u{202E}',
            '\u{2060}', '\u{2066}', '\u{2069}', '\u{FEFF}',
        ] {
            assert!(is_spoofing_char(c), "{:04X}", c as u32);
        }
        for c in ['a', 'é', '\u{200C}', '\u{200D}', '\u{2065}', '✓', ' '] {
            assert!(!is_spoofing_char(c), "{:04X}", c as u32);
        }
    }
}
