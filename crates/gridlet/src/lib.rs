//! The gridlet daemon: configuration, assembly of the site from it, the control loop driver,
//! HTTP, and the command line. The binary (`main.rs`) only calls [`cli::main`].
//!
//! This is the only crate that uses `anyhow`: errors end here, at the edge.

pub mod assemble;
pub mod can;
pub mod cli;
pub mod compare;
pub mod config;
mod drive;
pub mod history_front;
pub mod http;
mod mqtt;
/// The control loop and its bus (crate `runner`), at its old path for the front ends here.
pub use ::runner;
pub mod settings;
mod systemd;
pub mod web;
