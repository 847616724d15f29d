//! The integration tests, built as one binary.

mod common;
mod einmix;
mod einsum;
mod error_render;
mod errors;
mod kernels;
mod oracle;
mod oracle_fixtures;
mod pack;
mod prop;
mod rearrange;
mod regression_fuzz;
#[cfg(feature = "proptest")]
mod strategies;
mod threads;
