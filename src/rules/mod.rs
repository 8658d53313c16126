//! The rules, compiled for both builds (the server and the browser): what a scope is, every
//! limit and choice a person or a client meets, how text is checked, the one error type.
//! Nothing here reads a database or a request.

pub mod error;
pub mod limits;
pub mod scopes;
pub mod text;
