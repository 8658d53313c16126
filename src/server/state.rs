//! What every door, page and server function reaches: the database and this server's shared
//! parts (throttles, the hashing queue, the transport's room, the mailer).

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::server::auth::client::TrustedProxies;
use crate::server::auth::password::Hasher;
use crate::server::auth::scanning_keys::{ScanningKeys, GITHUB_KEYS_URL};
use crate::server::auth::throttle::Throttles;
use crate::server::db::DbPool;
use crate::server::mail::Mailer;
use crate::server::room::Room;

/// What every handler and server function can reach: cloned by every extractor of every
/// request, so one shared allocation ([`Parts`]) behind a counted pointer.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

/// What an [`AppState`] holds.
#[derive(Clone)]
pub struct Parts {
    pub db: DbPool,
    pub leptos_options: LeptosOptions,
    pub secure_cookies: bool,
    pub throttles: Arc<Throttles>,
    pub trusted_proxies: TrustedProxies,
    /// Where alerts about leaked tokens are mailed through, if SMTP is configured.
    pub mailer: Option<Mailer>,
    /// The keys that sign secret scanning alerts.
    pub scanning_keys: Arc<ScanningKeys>,
    /// The memory the object transport's big requests share.
    pub room: Arc<Room>,
    /// Password hashing: this server's thread and its queue.
    pub hasher: Arc<Hasher>,
    /// This server's address as users reach it (PUBLIC_URL), if set: where Speckle's web app
    /// is, for its sign-in's redirect. Without it, a request's own origin.
    pub public_url: Option<String>,
}

impl std::ops::Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// Settings are changed while a server is put together, before it serves (a copy if shared).
impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Parts {
        Arc::make_mut(&mut self.0)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    pub fn new(
        db: DbPool,
        leptos_options: LeptosOptions,
        secure_cookies: bool,
        throttles: Throttles,
    ) -> Self {
        AppState(Arc::new(Parts {
            db,
            leptos_options,
            secure_cookies,
            throttles: Arc::new(throttles),
            trusted_proxies: TrustedProxies::default(),
            mailer: None,
            scanning_keys: Arc::new(ScanningKeys::new(GITHUB_KEYS_URL)),
            room: Arc::new(Room::default()),
            hasher: Arc::new(Hasher::new()),
            public_url: None,
        }))
    }

    /// Mails alerts through this mailer.
    pub fn with_mailer(mut self, mailer: Option<Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// Fetches the secret scanning keys from `url` (GitHub's list by default).
    pub fn with_scanning_keys_url(self, url: &str) -> Self {
        self.with_scanning_keys(Arc::new(ScanningKeys::new(url)))
    }

    pub fn with_scanning_keys(mut self, keys: Arc<ScanningKeys>) -> Self {
        self.scanning_keys = keys;
        self
    }

    /// This server's origin as its users reach it (the issuer of its OAuth answers):
    /// PUBLIC_URL, else the request's own scheme and `Host`.
    pub fn origin(&self, headers: &axum::http::HeaderMap) -> String {
        if let Some(public) = &self.public_url {
            return public.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .filter(|host| {
                !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("localhost");
        let scheme = if self.secure_cookies { "https" } else { "http" };
        format!("{scheme}://{host}")
    }

    /// Says where users reach this server (PUBLIC_URL).
    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url;
        self
    }

    /// Believes `Forwarded` / `X-Forwarded-For` from these proxies (none by default).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }
}
