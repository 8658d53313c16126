//! Configuration, from flags or the environment.

use std::net::SocketAddr;

use clap::Parser;

use crate::server::db::DatabaseUrl;

/// The server's settings. Every flag can also be set by the environment variable named.
#[derive(Clone, Debug, Parser)]
#[command(name = "speckle-tokens", version, about = "A Speckle-style server with personal access tokens")]
pub struct Config {
    /// Where the data lives: `sqlite://<path>` (the folder is created).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/speckle-tokens.db")]
    pub database_url: DatabaseUrl,

    /// Address to listen on; overrides LEPTOS_SITE_ADDR and Cargo.toml's site-addr.
    #[arg(long, env = "LISTEN_ADDR")]
    pub listen: Option<SocketAddr>,

    /// Mark the session cookie `Secure` (set this when TLS terminates in front of us).
    #[arg(long, env = "SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,

    /// Failed sign-ins for one email from one address before it must wait (429).
    #[arg(long, env = "MAX_FAILED_SIGN_INS", default_value_t = 10)]
    pub max_failed_sign_ins: u32,

    /// The window, in seconds, in which failed sign-ins are counted.
    #[arg(long, env = "SIGN_IN_WINDOW_SECS", default_value_t = 900)]
    pub sign_in_window_secs: u64,

    /// Failed sign-ins from one address, whatever the emails, before it must wait (429).
    #[arg(long, env = "MAX_FAILED_SIGN_INS_PER_ADDRESS", default_value_t = 50)]
    pub max_failed_sign_ins_per_address: u32,

    /// Accounts one address may make in an hour.
    #[arg(long, env = "MAX_SIGN_UPS_PER_HOUR", default_value_t = 100)]
    pub max_sign_ups_per_hour: u32,

    /// Our reverse proxies, as comma-separated CIDRs or addresses (`10.0.0.0/8,::1`): only
    /// from these are `Forwarded` and `X-Forwarded-For` believed. Empty: none.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: crate::server::auth::client::TrustedProxies,

    /// The header those proxies write the client's address into; the other is ignored.
    #[arg(long, env = "FORWARDED_HEADER", value_enum, default_value = "x-forwarded-for")]
    pub forwarded_header: crate::server::auth::client::ForwardingHeader,

    /// Connections open at once; past it a new one is closed at once.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Seconds a client has to send a request's headers.
    #[arg(long, env = "HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Seconds a request body may pause between two pieces.
    #[arg(long, env = "BODY_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub body_idle_timeout_secs: u64,

    /// Failed bearer checks from one address before it must wait (429).
    #[arg(long, env = "MAX_FAILED_BEARER", default_value_t = 100)]
    pub max_failed_bearer: u32,

    /// The window, in seconds, in which failed bearer checks are counted.
    #[arg(long, env = "BEARER_WINDOW_SECS", default_value_t = 60)]
    pub bearer_window_secs: u64,

    /// Verified tokens (and users' stream counts) kept in memory for the API; 0 reads the
    /// database on every request. Revocations are seen at once either way.
    #[arg(long, env = "READ_CACHE_ENTRIES", default_value_t = crate::server::db::cache::DEFAULT_ENTRIES)]
    pub read_cache_entries: usize,

    /// Where expiry warnings are mailed through: `smtp://host:port` (plain, for a local relay),
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465`; `user:password@` before
    /// the host to log in. With MAIL_FROM; without both, no mail is sent.
    #[arg(long, env = "SMTP_URL")]
    pub smtp_url: Option<String>,

    /// The sender of the warnings, e.g. `Speckle Tokens <tokens@example.com>`.
    #[arg(long, env = "MAIL_FROM")]
    pub mail_from: Option<String>,

    /// This server's address as users reach it (`https://speckle.example.com`), for links in
    /// mail.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Where the keys that sign secret scanning alerts are listed (GitHub's by default).
    #[arg(long, env = "SECRET_SCANNING_KEYS_URL", default_value = crate::server::auth::scanning_keys::GITHUB_KEYS_URL)]
    pub secret_scanning_keys_url: String,

    /// Seconds between two passes of the background work (expiry events and warnings).
    #[arg(long, env = "LIFECYCLE_INTERVAL_SECS", default_value_t = 60)]
    pub lifecycle_interval_secs: u64,

    /// Log filter, in tracing's EnvFilter syntax (e.g. `info,speckle_tokens=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    /// The mailer, if SMTP_URL and MAIL_FROM are both set.
    pub fn mailer(&self) -> Result<Option<crate::server::mail::Mailer>, String> {
        match (&self.smtp_url, &self.mail_from) {
            (Some(url), Some(from)) => {
                crate::server::mail::Mailer::new(url, from, self.public_url.clone()).map(Some)
            }
            (None, None) => Ok(None),
            _ => Err("set both SMTP_URL and MAIL_FROM to send expiry warnings, or neither".to_owned()),
        }
    }

    /// How patient the listener is with clients.
    pub fn connection_limits(&self) -> crate::server::http::listen::ConnectionLimits {
        use std::time::Duration;
        crate::server::http::listen::ConnectionLimits {
            max_connections: self.max_connections.max(1),
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            body_idle_timeout: Duration::from_secs(self.body_idle_timeout_secs.max(1)),
        }
    }

    /// This server's brute-force limits.
    pub fn throttles(&self) -> crate::server::auth::throttle::Throttles {
        use crate::server::auth::throttle::{FailureThrottle, Throttles};
        use std::time::Duration;
        let sign_in_window = Duration::from_secs(self.sign_in_window_secs);
        Throttles {
            sign_in: FailureThrottle::new(self.max_failed_sign_ins, sign_in_window),
            sign_in_address: FailureThrottle::new(self.max_failed_sign_ins_per_address, sign_in_window),
            sign_up: FailureThrottle::new(self.max_sign_ups_per_hour, Duration::from_secs(3600)),
            bearer: FailureThrottle::new(
                self.max_failed_bearer,
                Duration::from_secs(self.bearer_window_secs),
            ),
            ..Throttles::default()
        }
    }
}
