//! The one way text from a person or a client is checked: each field is a [`Text`] (its
//! name in messages, its length, whether it is trimmed and whether it may be empty), checked
//! the same on every door, and rendered as the page's `maxlength`.

use super::error::{bad_input, AppResult};

/// How one text field is checked.
#[derive(Clone, Copy, Debug)]
pub struct Text {
    /// How messages name the field: "The name", "description".
    pub field: &'static str,
    pub max_chars: usize,
    /// Leading and trailing whitespace is dropped before anything else.
    pub trim: bool,
    /// What to say when nothing is left; `None`: nothing means no value.
    pub required: Option<&'static str>,
    /// What to say when it is too long, if not "<field> must be at most <max> characters.".
    pub too_long: Option<&'static str>,
}

impl Text {
    /// The text as stored, `None` for an empty optional field; else what is wrong with it.
    pub fn check(&self, text: &str) -> AppResult<Option<String>> {
        let text = if self.trim { text.trim() } else { text };
        if text.is_empty() {
            return match self.required {
                Some(message) => Err(bad_input(message)),
                None => Ok(None),
            };
        }
        if text.chars().count() > self.max_chars {
            return Err(bad_input(match self.too_long {
                Some(message) => message.to_owned(),
                None => format!("{} must be at most {} characters.", self.field, self.max_chars),
            }));
        }
        Ok(Some(text.to_owned()))
    }

    /// A required field's text (an optional one's empty text is the empty string).
    pub fn value(&self, text: &str) -> AppResult<String> {
        Ok(self.check(text)?.unwrap_or_default())
    }

    /// An optional field: absent or empty is `None`.
    pub fn optional(&self, text: Option<&str>) -> AppResult<Option<String>> {
        text.map_or(Ok(None), |text| self.check(text))
    }
}

pub const TOKEN_NAME: Text = Text {
    field: "The name",
    max_chars: 100,
    trim: true,
    required: Some("Give the token a name."),
    too_long: None,
};
pub const TOKEN_DESCRIPTION: Text =
    Text { field: "The description", max_chars: 500, trim: true, required: None, too_long: None };
pub const USER_NAME: Text = Text {
    field: "The name",
    max_chars: 100,
    trim: true,
    required: Some("Enter your name."),
    too_long: None,
};
pub const COMPANY: Text =
    Text { field: "company", max_chars: 200, trim: true, required: None, too_long: None };
pub const BIO: Text = Text { field: "bio", max_chars: 2_000, trim: true, required: None, too_long: None };
pub const STREAM_NAME: Text = Text {
    field: "name",
    max_chars: 512,
    trim: true,
    required: Some("name must be 1 to 512 characters."),
    too_long: Some("name must be 1 to 512 characters."),
};
/// Speckle keeps a stream's description as sent.
pub const STREAM_DESCRIPTION: Text =
    Text { field: "description", max_chars: 10_000, trim: false, required: None, too_long: None };
/// Checked lower-cased, as Speckle stores branch names (see `domain::branches`).
pub const BRANCH_NAME: Text = Text {
    field: "name",
    max_chars: 512,
    trim: true,
    required: Some("name: a branch needs a name."),
    too_long: Some("name: a branch name is at most 512 characters."),
};
pub const BRANCH_DESCRIPTION: Text = STREAM_DESCRIPTION;
pub const APP_NAME: Text = Text {
    field: "The name",
    max_chars: 100,
    trim: true,
    required: Some("Give the app a name."),
    too_long: None,
};
pub const APP_DESCRIPTION: Text =
    Text { field: "The description", max_chars: 1_000, trim: true, required: None, too_long: None };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_required_and_counted_in_characters() {
        assert_eq!(TOKEN_NAME.value("  ci  ").unwrap(), "ci");
        assert!(TOKEN_NAME.value("   ").unwrap_err().to_string().contains("Give the token a name."));
        assert!(TOKEN_NAME.value(&"é".repeat(100)).is_ok());
        assert!(TOKEN_NAME
            .value(&"é".repeat(101))
            .unwrap_err()
            .to_string()
            .contains("at most 100 characters"));
        assert_eq!(TOKEN_DESCRIPTION.optional(Some("  ")).unwrap(), None);
        assert_eq!(STREAM_DESCRIPTION.value(" as sent ").unwrap(), " as sent ");
        // Speckle's words where it has them.
        let long = "n".repeat(513);
        assert!(STREAM_NAME
            .value(&long)
            .unwrap_err()
            .to_string()
            .contains("name must be 1 to 512 characters."));
        assert!(BRANCH_NAME.value(&long).unwrap_err().to_string().contains("is at most 512 characters."));
    }
}
