//! The domain: every rule that reads or writes, called by every door alike.

pub mod activity;
pub mod apps;
pub mod branches;
pub mod commits;
pub mod favorites;
pub mod history;
pub mod invites;
pub mod leaks;
pub mod lifecycle;
pub mod objects;
pub mod pagination;
pub mod reach;
pub mod sharing;
pub mod streams;
pub mod tokens;
pub mod users;
