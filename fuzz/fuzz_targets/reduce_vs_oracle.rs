//! Every reduction on u8, i32, i64 and f64 tensors in random layouts, with
//! values near the type's limits and extreme lengths beside zero-length
//! axes: results and accept/reject agree with the oracle (which refuses
//! integer results that do not fit the element type).
#![no_main]

use einplan::Reduction;
use einplan_fuzz::oracle::{self, Elem, compare};
use einplan_fuzz::{Case, Values, check};
use libfuzzer_sys::fuzz_target;

const REDUCTIONS: [(Reduction, oracle::Reduction); 5] = [
    (Reduction::Sum, oracle::Reduction::Sum),
    (Reduction::Prod, oracle::Reduction::Prod),
    (Reduction::Min, oracle::Reduction::Min),
    (Reduction::Max, oracle::Reduction::Max),
    (Reduction::Mean, oracle::Reduction::Mean),
];

fn run<T: Elem + einplan::Reducible>(case: &Case, value: impl Fn(usize) -> T) {
    let storage = case.layout.storage(value);
    let base = case.layout.view(&storage);
    let x = case.layout.broadcast(&base);
    let t = oracle::compare::tensor(&x);
    let lengths = case.lengths();
    for (fast_r, slow_r) in REDUCTIONS {
        let slow = oracle::reduce(&t, &case.pattern, slow_r, &lengths);
        if compare::skip(&slow) || compare::would_fill_memory::<T, _>(&slow) {
            continue;
        }
        let fast = einplan::reduce(&x, &case.pattern, fast_r, &lengths);
        let what = format!("reduce {fast_r:?} {}", T::NAME);
        check(
            case,
            &what,
            compare::verdict(&fast, &slow, |a, b| compare::same_values(a, b)),
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(case) = Case::any(&mut u, true, false) else {
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
