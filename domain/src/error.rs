//! Validation errors raised when raw input cannot become a domain value.

/// Input that cannot be turned into a valid domain value. The message names the field and
/// what is wrong with it, so it can be shown to the caller as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Refuses control characters in text from outside: NUL (which PostgreSQL cannot store in
/// text, so accepting it would lose the row there) and every other C0 control character, and
/// DEL. `multiline` text (reasons, notes) may hold tab, line feed and carriage return; other
/// text none.
pub fn check_text(field: &str, raw: &str, multiline: bool) -> Result<(), InvalidInput> {
    let allowed = |c: char| multiline && matches!(c, '\t' | '\n' | '\r');
    match raw.chars().find(|c| (c.is_ascii_control()) && !allowed(*c)) {
        Some(c) => Err(InvalidInput::new(
            field,
            format!(
                "contains the control character U+{:04X}; {}",
                c as u32,
                if multiline {
                    "only tab and line breaks are allowed"
                } else {
                    "none is allowed"
                }
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_naming_the_field() {
        let err = check_text("lastName", "Lind\u{0}", false).unwrap_err();
        assert_eq!(err.field, "lastName");
        assert!(err.message.contains("U+0000"), "{}", err.message);
        assert!(check_text("name", "a\tb", false).is_err());
        assert!(check_text("reason", "line one\nline two\tend", true).is_ok());
        assert!(check_text("reason", "bell\u{7}", true).is_err());
        assert!(check_text("name", "Zoë Ólafsdóttir — 東京", false).is_ok());
    }
}
