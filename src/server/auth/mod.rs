//! Who is calling: bearer tokens for the API, sessions for the browser.

pub mod bearer;
pub mod client;
pub mod csrf;
pub mod device;
pub mod handover;
pub mod password;
pub mod session;
pub mod throttle;
