//! The integration tests, built as one binary.

#[cfg(feature = "candle")]
mod candle;
mod common;
mod einsum;
mod errors;
mod kernels;
mod pack;
mod prop;
mod rearrange;
mod recipe;
mod regression_fuzz;
mod slice_api;
mod threads;
