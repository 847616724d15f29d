//! Any text as an einsum pattern, with lengths and up to three small
//! operands: the crate accepts and rejects what the oracle does, and
//! agrees on the results.
#![no_main]

use einplan_fuzz::oracle::{self, compare};
use einplan_fuzz::{Layout, NAMES, check, length};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(pattern) = u.arbitrary::<String>() else {
        return;
    };
    let mut lengths = Vec::new();
    let mut layouts = Vec::new();
    for _ in 0..u.int_in_range(0..=3).unwrap_or(0) {
        let nd = u.int_in_range(0..=3).unwrap_or(0);
        let shape = (0..nd)
            .map(|_| u.int_in_range(0..=3).unwrap_or(0))
            .collect();
        let Ok(l) = Layout::generate(&mut u, shape) else {
            return;
        };
        layouts.push(l);
    }
    for _ in 0..u.int_in_range(0..=2).unwrap_or(0) {
        let name = *u.choose(&NAMES).unwrap_or(&"a");
        lengths.push((name, length(&mut u).unwrap_or(1)));
    }
    let storages: Vec<_> = layouts
        .iter()
        .map(|l| l.storage(|i| i as i64 % 5 - 2))
        .collect();
    let bases: Vec<_> = layouts
        .iter()
        .zip(&storages)
        .map(|(l, s)| l.view(s))
        .collect();
    let views: Vec<_> = layouts
        .iter()
        .zip(&bases)
        .map(|(l, b)| l.broadcast(b))
        .collect();
    let tensors: Vec<_> = views.iter().map(compare::tensor).collect();
    let slow = oracle::einsum(&pattern, &tensors, &lengths);
    if compare::skip(&slow) || compare::would_fill_memory::<i64, _>(&slow) {
        return;
    }
    let fast = einplan::Einsum::new(&pattern)
        .and_then(|op| lengths.iter().try_fold(op, |op, &(n, l)| op.with(n, l)))
        .and_then(|op| op.apply(&views));
    let case = (&pattern, &lengths, &layouts);
    check(
        &case,
        "einsum",
        compare::verdict(&fast, &slow, |a, b| compare::same_values(a, b)),
    );
});
