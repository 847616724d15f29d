//! Pattern + lengths + shape (any lengths, zero-length beside huge):
//! planning gives the oracle's output shape or an error of the oracle's
//! class, and never allocates in the lengths.
#![no_main]

use einplan_fuzz::oracle::{self, compare};
use einplan_fuzz::{Case, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let (drop, add) = (
        u.ratio(1, 3).unwrap_or(false),
        u.ratio(1, 3).unwrap_or(false),
    );
    let Ok(case) = Case::any(&mut u, drop, add) else {
        return;
    };
    let (p, shape, lengths) = (&case.pattern, &case.layout.shape, case.lengths());

    let slow = oracle::rearrange_shape(p, shape, &lengths);
    if !compare::skip(&slow) {
        let fast = einplan::Rearrange::new(p)
            .and_then(|op| lengths.iter().try_fold(op, |op, &(n, l)| op.with(n, l)))
            .and_then(|op| op.plan(shape));
        if let Ok(plan) = &fast {
            let _ = plan.to_string();
        }
        check(
            &case,
            "rearrange plan",
            compare::verdict(&fast, &slow, |a, b| a.output_shape() == &b[..]),
        );
    }
    let slow = oracle::repeat_shape(p, shape, &lengths);
    if !compare::skip(&slow) {
        let fast = einplan::Repeat::new(p)
            .and_then(|op| lengths.iter().try_fold(op, |op, &(n, l)| op.with(n, l)))
            .and_then(|op| op.plan(shape));
        check(
            &case,
            "repeat plan",
            compare::verdict(&fast, &slow, |a, b| a.output_shape() == &b[..]),
        );
    }
    let slow = oracle::reduce_shape(p, shape, &lengths);
    if !compare::skip(&slow) {
        let fast = einplan::Reduce::new(p, einplan::Reduction::Max)
            .and_then(|op| lengths.iter().try_fold(op, |op, &(n, l)| op.with(n, l)))
            .and_then(|op| op.plan(shape));
        check(
            &case,
            "reduce plan",
            compare::verdict(&fast, &slow, |a, b| a.output_shape() == &b[..]),
        );
    }
});
