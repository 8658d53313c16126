//! One module per page of SPEC §2.

mod activity;
mod auth;
mod consent;
mod home;
mod profile;
mod streams;

pub use activity::{SecurityPage, TokenActivityPage};
pub use auth::{LoginPage, SignupPage};
pub use consent::{AuthorizePage, DevicePage, SpeckleVerifyPage};
pub use home::HomePage;
pub use profile::ProfilePage;
pub use streams::{StreamPage, StreamsPage};
