//! The integration tests, built as one binary.

#[cfg(feature = "candle")]
mod candle;
mod common;
mod einmix;
mod einsum;
mod error_render;
mod errors;
mod everyday;
mod kernels;
mod oracle;
mod oracle_fixtures;
mod pack;
mod prop;
mod rearrange;
mod recipe;
mod regression_fuzz;
mod slice_api;
#[cfg(feature = "proptest")]
mod strategies;
mod threads;
