//! Random einsums (diagonals, groups, unit, zero and extreme lengths) on
//! u8, i32, i64 and f64 tensors in random layouts: results and
//! accept/reject agree with the oracle's einsum by its definition.
#![no_main]

use einplan_fuzz::oracle::{self, Elem, compare};
use einplan_fuzz::{EinsumCase, Values, check};
use libfuzzer_sys::fuzz_target;
use ndarray::LinalgScalar;

fn run<T: Elem + LinalgScalar>(case: &EinsumCase, value: impl Fn(usize) -> T + Copy) {
    let storages: Vec<_> = case.layouts.iter().map(|l| l.storage(value)).collect();
    let bases: Vec<_> = case
        .layouts
        .iter()
        .zip(&storages)
        .map(|(l, s)| l.view(s))
        .collect();
    let views: Vec<_> = case
        .layouts
        .iter()
        .zip(&bases)
        .map(|(l, b)| l.broadcast(b))
        .collect();
    let tensors: Vec<_> = views.iter().map(compare::tensor).collect();
    let pattern = case.pattern();
    let lengths = case.lengths();
    let slow = oracle::einsum(&pattern, &tensors, &lengths);
    if compare::skip(&slow) || compare::would_fill_memory::<T, _>(&slow) {
        return;
    }
    let fast = einplan::Einsum::new(&pattern)
        .and_then(|op| lengths.iter().try_fold(op, |op, &(n, l)| op.with(n, l)))
        .and_then(|op| op.apply(&views));
    let what = format!("einsum {pattern} {}", T::NAME);
    check(
        case,
        &what,
        compare::verdict(&fast, &slow, |a, b| compare::same_values(a, b)),
    );
}

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(case) = EinsumCase::generate(&mut u) else {
        return;
    };
    let values = u.arbitrary::<Values>().unwrap_or(Values::Small);
    match u.int_in_range(0..=3).unwrap_or(0) {
        0 => run(&case, values.i64()),
        1 => run(&case, values.i32()),
        2 => run(&case, values.u8()),
        _ => run(&case, values.f64()),
    }
});
