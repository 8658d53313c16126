//! Who is asking: the client's address, passwords and trusted devices, sessions, CSRF, the
//! failure throttles and lanes, the keys that sign leak alerts. Below the domain: nothing
//! here reads tokens or streams (the bearer check is a door, `doors::bearer`).

pub mod client;
pub mod csrf;
pub mod device;
pub mod handover;
pub mod password;
pub mod scanning_keys;
pub mod session;
pub mod throttle;
