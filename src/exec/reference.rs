//! The plain executor: one element at a time, by index. Slow, safe and
//! obviously right; the oracle that tests and fuzzers hold the fast paths
//! to.

use ndarray::{ArrayD, ArrayView, IxDyn};

use super::reduce::{Fold, check_overflow};
use crate::error::Error;
use crate::plan::Plan;

/// Decomposes the linear index `n` over `lens` (row-major).
fn unravel(mut n: usize, lens: &[usize]) -> Vec<usize> {
    let mut index = vec![0; lens.len()];
    for (slot, &len) in index.iter_mut().zip(lens).rev() {
        *slot = n % len;
        n /= len;
    }
    index
}

/// The input index that the elementary-axis values `at` select.
fn input_index(plan: &Plan, at: &[usize]) -> Vec<usize> {
    plan.input_dims()
        .iter()
        .map(|ids| {
            ids.iter()
                .fold(0, |acc, &id| acc * plan.axis_len(id) + at[id])
        })
        .collect()
}

/// Rearrange or repeat: output element by output element.
pub(crate) fn rearrange<A: Clone>(plan: &Plan, x: &ArrayView<'_, A, IxDyn>) -> ArrayD<A> {
    let lens = plan.kept_lens();
    let total: usize = lens.iter().product();
    let mut at = vec![0; plan.axis_count()];
    let data = (0..total)
        .map(|n| {
            for (&id, i) in plan.kept().iter().zip(unravel(n, &lens)) {
                at[id] = i;
            }
            x[IxDyn(&input_index(plan, &at))].clone()
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(plan.output_shape()), data)
        .expect("the output shape's product is the number of kept elements")
}

/// Reduce: for each output element, fold the reduced axes in row-major
/// order.
pub(crate) fn reduce<A, F: Fold<A>>(
    plan: &Plan,
    x: &ArrayView<'_, A, IxDyn>,
    fold: &F,
) -> Result<ArrayD<A>, Error> {
    let lens = plan.kept_lens();
    let reduced = plan.reduced_axes();
    let red_lens: Vec<usize> = reduced.iter().map(|&a| plan.axis_len(a)).collect();
    let total: usize = lens.iter().product();
    let per: usize = red_lens.iter().product();
    let mut at = vec![0; plan.axis_count()];
    let accs: Vec<F::Acc> = (0..total)
        .map(|n| {
            for (&id, i) in plan.kept().iter().zip(unravel(n, &lens)) {
                at[id] = i;
            }
            let mut acc = fold.init();
            for m in 0..per {
                for (&id, i) in reduced.iter().zip(unravel(m, &red_lens)) {
                    at[id] = i;
                }
                fold.step(&mut acc, &x[IxDyn(&input_index(plan, &at))]);
            }
            acc
        })
        .collect();
    check_overflow::<A, F>(plan, fold, &accs)?;
    let data = accs.into_iter().map(|acc| fold.finish(acc, per)).collect();
    Ok(ArrayD::from_shape_vec(IxDyn(plan.output_shape()), data)
        .expect("the output shape's product is the number of kept elements"))
}
