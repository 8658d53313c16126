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

    /// Log filter, in tracing's EnvFilter syntax (e.g. `info,speckle_tokens=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
}
