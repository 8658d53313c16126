//! Response headers for the open internet: what a browser may run and embed, what it may
//! cache, and static files compressed and cached for as long as their names say they can be.

use std::time::Duration;

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// What an answer that is not a page may do in a browser: nothing.
const NOTHING: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Two years, as browsers' HSTS preload lists ask.
const HSTS: Duration = Duration::from_secs(2 * 365 * 24 * 3600);

/// Our pages: our own scripts, the inline hydration script that carries this response's
/// nonce, and WebAssembly; never framed.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sets the page's policy, with the nonce Leptos put on its inline scripts, while the page
/// is rendered on the server.
pub fn set_page_policy() {
    use leptos::prelude::use_context;
    let nonce = leptos::nonce::use_nonce();
    let response = use_context::<leptos_axum::ResponseOptions>();
    if let (Some(nonce), Some(response)) = (nonce, response) {
        if let Ok(policy) = HeaderValue::from_str(&page_policy(&nonce)) {
            response.insert_header(CONTENT_SECURITY_POLICY, policy);
        }
    }
}

/// On every answer: no MIME sniffing, no referrer to other sites (`same-origin`: with
/// `no-referrer` browsers send `Origin: null` on our own form posts, which the CSRF check
/// refuses), no framing, a policy that allows nothing
/// unless the answer set its own, and `no-store` unless it said how to cache (pages and API
/// answers can carry secrets: a new token, a session). With TLS in front (`secure`), HSTS.
pub async fn security_headers(secure: bool, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(NOTHING));
    headers.entry(CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    if secure {
        let value = format!("max-age={}; includeSubDomains", HSTS.as_secs());
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(STRICT_TRANSPORT_SECURITY, value);
        }
    }
    response
}

/// The built site's static files: `/pkg` (the WASM, its JavaScript and the stylesheet) and
/// `/graphiql` (GraphiQL's pinned files), sent precompressed (brotli or gzip) when the build
/// made `.br` / `.gz` files and the browser takes them. Names that change with their content
/// (`hashed`: the build's `hash-files`; GraphiQL's carry their version) are cached for a year;
/// others are revalidated.
pub fn static_files<S: Clone + Send + Sync + 'static>(
    site_root: &str,
    pkg_dir: &str,
    hashed: bool,
) -> Router<S> {
    let serve = |dir: String| ServeDir::new(dir).precompressed_br().precompressed_gzip();
    let cache = |immutable: bool| {
        let value = if immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
        SetResponseHeaderLayer::overriding(CACHE_CONTROL, move |response: &Response| {
            response.status().is_success().then(|| HeaderValue::from_static(value))
        })
    };
    Router::new()
        .nest_service(&format!("/{pkg_dir}"), serve(format!("{site_root}/{pkg_dir}")))
        .layer(cache(hashed))
        .merge(
            Router::new()
                .nest_service("/graphiql", serve(format!("{site_root}/graphiql")))
                .layer(cache(true)),
        )
}
