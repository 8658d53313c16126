//! The `Authorization` header parser takes any bytes a client can send without panicking.
#![no_main]

use axum::http::{header::AUTHORIZATION, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use speckle_tokens::server::doors::bearer::{credentials, Credentials};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else { return };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    match credentials(&headers) {
        Credentials::Token(token) => assert!(std::str::from_utf8(data).unwrap().contains(token.expose_secret())),
        Credentials::Invalid | Credentials::Anonymous => {}
    }
});
