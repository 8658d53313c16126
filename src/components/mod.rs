//! Components named for what the user sees.

pub mod account;
pub mod apps;
pub mod dialog;
pub mod narrow;
pub mod reach;
pub mod security;
pub mod tokens;
