//! How scripts and apps come in: each door checks who is asking, then calls the domain.

pub mod bearer;
pub mod graphql;
pub mod oauth;
pub mod scanning;
pub mod speckle_auth;
pub mod transport;
