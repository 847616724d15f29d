//! Any text as a parse_shape pattern, on any shape (zero-length shapes
//! may have huge lengths): the crate agrees with the oracle on the
//! lengths it reads and on what it rejects.
#![no_main]

use einplan_fuzz::oracle::{self, compare};
use einplan_fuzz::{buildable, check, length};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(pattern) = u.arbitrary::<String>() else {
        return;
    };
    let nd = u.int_in_range(0..=6).unwrap_or(0);
    let shape: Vec<usize> = (0..nd).map(|_| length(&mut u).unwrap_or(0)).collect();
    if !buildable(&shape) {
        return;
    }
    let x = ndarray::ArrayD::<u8>::zeros(ndarray::IxDyn(&shape));
    let slow = oracle::parse_shape(&shape, &pattern);
    let fast = einplan::parse_shape(&x, &pattern);
    check(
        &(&pattern, &shape),
        "parse_shape",
        compare::verdict(&fast, &slow, |a, b| {
            a.len() == b.len() && b.iter().all(|(k, v)| a.get(k) == Some(v))
        }),
    );
});
