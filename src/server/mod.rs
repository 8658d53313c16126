//! Everything that runs only on the server, in layers that point down only:
//!
//! - [`http`]: the router, the listener, headers and middleware (the whole app in one place);
//! - [`doors`]: how scripts come in: GraphQL, the object transport, secret scanning, all
//!   behind one bearer extractor ([`doors::bearer::BearerAuth`]); the browser's door is
//!   `crate::server_fns`;
//! - [`state`]: what every door and server function reaches;
//! - [`domain`]: the rules that read and write (tokens, users, streams, branches, objects,
//!   activity, leaks, the background pass);
//! - [`auth`]: who is asking (addresses, passwords, devices, sessions, CSRF, throttles);
//!   [`mail`], [`room`], [`config`];
//! - [`db`]: the pool, the one backend dispatch, schema, models, the read cache; [`clock`],
//!   the one "now", which the pool carries.

pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod doors;
pub mod http;
pub mod mail;
pub mod media;
pub mod passwords;
pub mod room;
pub mod state;
