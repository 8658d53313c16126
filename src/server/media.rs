//! Media types as requests name them (`Content-Type`, `Accept`), read one way everywhere:
//! by their essence, lower-cased, without parameters (`Application/JSON; charset=utf-8` is
//! `application/json`).

use axum::http::{header, HeaderMap};

/// The essence of a media type.
pub fn essence(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The essence of the request's `Content-Type`, if it has a readable one.
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).map(essence)
}

/// Whether the request's `Accept` lists `media_type` itself (not through a wildcard).
pub fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|listed| essence(listed) == media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essences_ignore_case_and_parameters() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "Application/JSON; charset=utf-8".parse().unwrap());
        headers.insert(header::ACCEPT, "text/html;q=0.9, TEXT/PLAIN".parse().unwrap());
        assert_eq!(content_type(&headers).as_deref(), Some("application/json"));
        assert!(accepts(&headers, "text/plain") && accepts(&headers, "text/html"));
        assert!(!accepts(&headers, "application/json"));
    }
}
