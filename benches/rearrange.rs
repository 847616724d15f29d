//! Rearrange benchmarks: einplan beside memcpy and ndarray's idiomatic way.
fn main() {}
