//! The `Authorization: Bearer …` header of API requests.

use axum::http::{header::AUTHORIZATION, HeaderMap};

use crate::server::tokens::PlainToken;

/// What an API request says about who it is.
#[derive(Debug)]
pub enum Credentials {
    /// No `Authorization` header: an anonymous request.
    Anonymous,
    /// A well-formed token (prefix and checksum checked; not yet looked up).
    Token(PlainToken),
    /// A header that cannot hold a valid token: wrong scheme, bad bytes, bad checksum.
    Invalid,
}

/// Reads the header. The scheme is case-insensitive (RFC 7235); anything but exactly one
/// `Bearer <token>` header is invalid.
pub fn credentials(headers: &HeaderMap) -> Credentials {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Credentials::Anonymous };
    if values.next().is_some() {
        return Credentials::Invalid;
    }
    let Ok(value) = value.to_str() else { return Credentials::Invalid };
    let Some((scheme, token)) = value.trim().split_once(' ') else { return Credentials::Invalid };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Credentials::Invalid;
    }
    match PlainToken::parse(token.trim()) {
        Ok(token) => Credentials::Token(token),
        Err(_) => Credentials::Invalid,
    }
}
