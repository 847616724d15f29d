//! Runs a [`Plan`] on an array view.
//!
//! Two paths: when the plan's merges are stride-compatible for the input at
//! hand, the result is a view built from strides alone; otherwise the
//! permuted elementary view is copied into a fresh standard-layout array by
//! [`kernel::copy`]. [`reference`] is the element-by-element oracle both
//! are tested against.

#[allow(unsafe_code)]
pub(crate) mod kernel;
pub(crate) mod reference;

use ndarray::{ArrayD, ArrayView, CowArray, Dimension, IxDyn};
use smallvec::SmallVec;

use crate::plan::Plan;

/// The permuted elementary view of `x`: one axis per output elementary
/// axis, in output order (new axes with stride 0). `x` must be non-empty.
fn permuted<'a, A>(plan: &Plan, x: &ArrayView<'a, A, IxDyn>) -> ArrayView<'a, A, IxDyn> {
    let strides = plan.axis_strides(x.strides());
    let lens = plan.kept_lens();
    let kept: SmallVec<[isize; 8]> = plan.kept().iter().map(|&id| strides[id]).collect();
    kernel::view(x, &lens, &kept)
}

/// Rearrange or repeat `x` by `plan`: a view when strides suffice, else a
/// standard-layout copy.
pub(crate) fn rearrange<'a, A: Clone>(
    plan: &Plan,
    x: ArrayView<'a, A, IxDyn>,
) -> CowArray<'a, A, IxDyn> {
    let shape = IxDyn(plan.output_shape());
    if x.is_empty() || shape.size() == 0 {
        let empty = ArrayD::from_shape_vec(shape, Vec::new());
        return CowArray::from(empty.expect("an empty shape holds no elements"));
    }
    let strides = plan.axis_strides(x.strides());
    if let Some(merged) = plan.merged_strides(&strides) {
        return CowArray::from(kernel::view(&x, plan.output_shape(), &merged));
    }
    let data = kernel::copy(&permuted(plan, &x));
    let out = ArrayD::from_shape_vec(shape, data);
    CowArray::from(out.expect("the copy holds one element per output element"))
}
