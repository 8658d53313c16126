//! The token parser takes any string without panicking, and accepts only what it would issue.
#![no_main]

use libfuzzer_sys::fuzz_target;
use speckle_tokens::server::domain::tokens::{PlainToken, TOKEN_LEN, TOKEN_PREFIX};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(token) = PlainToken::parse(text) {
        assert_eq!(token.expose_secret(), text);
        assert!(text.starts_with(TOKEN_PREFIX) && text.len() == TOKEN_LEN);
        assert!(text.bytes().skip(TOKEN_PREFIX.len()).all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(token.last_chars(), &text[TOKEN_LEN - 4..]);
        let _ = token.hashed();
    }
});
