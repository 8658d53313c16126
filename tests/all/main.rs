//! The integration tests: one binary (as crates.io has it), so the server is linked once.
//! Each module drives the real app over a fresh, migrated database per test (SQLite, or
//! PostgreSQL with `TEST_DATABASE_URL`); `common` is the harness. Tests of one backend live in
//! `sqlite_only` / `postgres_only` modules, which the other backend's run skips.

#![cfg(feature = "ssr")]

mod common;

mod api;
mod app_api;
mod apps;
mod backends;
mod consent;
mod flood;
mod headers;
mod hostile;
mod invites;
mod leaks;
mod lifecycle;
mod limited;
mod limits;
mod live;
mod mail;
mod oauth_client;
mod outage;
mod profile_apps;
mod projects;
mod snapshots;
mod token_flow;
mod transport;
