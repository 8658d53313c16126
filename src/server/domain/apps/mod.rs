//! Apps (SPEC §11): third-party and Speckle's own apps that a person authorizes to act for
//! them. The protocol's own rules, which every door of the flow (standard OAuth under
//! `/oauth/*`, Speckle's `/authn/verify` and `/auth/token`) applies alike: the proof of
//! possession of a code (`pkce`) and where an app may send a person back (`redirect`).

pub mod pkce;
pub mod redirect;
