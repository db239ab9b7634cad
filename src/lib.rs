//! aplomb: incident response in one binary. See ARCHITECTURE.md for the map of the code.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod faults;
pub mod http;
pub mod server;
pub mod store;
