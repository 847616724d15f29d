//! Conformance: replays `tests/data/einsum.json`, generated from einops
//! (numpy underneath) by `tests/data/gen_fixtures.py`. Grouped patterns,
//! which einops' einsum lacks, were computed there by ungrouping with
//! rearrange, calling einops' einsum and regrouping the result.

use ndarray::{ArrayD, ArrayViewD};
use serde_json::Value;

use crate::common::{base, judge, layout, lengths, replay};

/// Cases where einplan deliberately differs from einops, with the reason.
const DIFFERENCES: &[(&str, &str)] = &[];

/// The einsum of a case's operands, or einplan's error. Elements are
/// `f64`; the fixture data are small integers, so the results are exact.
fn compute(case: &Value) -> Result<ArrayD<f64>, einplan::Error> {
    let pattern = case["pattern"].as_str().unwrap();
    let descs = case["operands"].as_array().unwrap();
    let bases: Vec<ArrayD<f64>> = descs.iter().map(base).collect();
    let operands: Vec<ArrayViewD<'_, f64>> =
        bases.iter().zip(descs).map(|(b, d)| layout(b, d)).collect();
    let lens = lengths(case);
    if lens.is_empty() {
        return einplan::einsum(pattern, &operands);
    }
    let mut op = einplan::Einsum::new(pattern)?;
    for (name, len) in &lens {
        op = op.with(name, *len)?;
    }
    op.apply(&operands)
}

#[test]
fn einsum_fixtures() {
    replay("einsum.json", DIFFERENCES, |case| {
        judge(case, compute(case), 1e-9)
    });
}
