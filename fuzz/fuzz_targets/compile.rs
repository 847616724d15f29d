//! Pattern + axis lengths + shape: a plan or an error, never a panic and
//! never an absurd allocation (planning allocates in the rank, not in the
//! lengths).
#![no_main]

use libfuzzer_sys::{arbitrary, fuzz_target};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    pattern: String,
    lengths: Vec<(String, usize)>,
    shape: Vec<usize>,
}

fuzz_target!(|input: Input| {
    let lens = || input.lengths.iter().map(|(n, l)| (n.as_str(), *l));
    if let Ok(op) = einplan::Rearrange::new(&input.pattern) {
        if let Ok(op) = lens().try_fold(op, |op, (n, l)| op.with(n, l)) {
            if let Ok(plan) = op.plan(&input.shape) {
                let _ = plan.to_string();
            }
        }
    }
    if let Ok(op) = einplan::Repeat::new(&input.pattern) {
        if let Ok(op) = lens().try_fold(op, |op, (n, l)| op.with(n, l)) {
            let _ = op.plan(&input.shape);
        }
    }
    if let Ok(op) = einplan::Reduce::new(&input.pattern, einplan::Reduction::Max) {
        if let Ok(op) = lens().try_fold(op, |op, (n, l)| op.with(n, l)) {
            let _ = op.plan(&input.shape);
        }
    }
});
