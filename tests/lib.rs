//! The integration tests, built as one binary.

mod common;
mod einmix;
mod einsum;
mod errors;
mod kernels;
mod pack;
mod prop;
mod rearrange;
mod regression_fuzz;
#[cfg(feature = "proptest")]
mod strategies;
mod threads;
