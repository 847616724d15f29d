//! einsum benchmarks.
fn main() {}
