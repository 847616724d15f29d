//! Runs a [`Plan`] on an array view.
//!
//! Two paths: when the plan's merges are stride-compatible for the input at
//! hand, the result is a view built from strides alone; otherwise the
//! permuted elementary view is copied into a fresh standard-layout array by
//! [`kernel::copy`]. [`reference`] is the element-by-element oracle both
//! are tested against.

#[allow(unsafe_code)]
pub(crate) mod kernel;
pub(crate) mod reduce;
pub(crate) mod reference;
#[cfg(test)]
mod tests;

use ndarray::{ArrayD, ArrayView, CowArray, Dimension, IxDyn};
use smallvec::SmallVec;

use crate::error::Error;
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
) -> Result<CowArray<'a, A, IxDyn>, Error> {
    let shape = IxDyn(plan.output_shape());
    if x.is_empty() || shape.size() == 0 {
        let empty = ArrayD::from_shape_vec(shape, Vec::new());
        return Ok(CowArray::from(
            empty.expect("an empty shape holds no elements"),
        ));
    }
    let strides = plan.axis_strides(x.strides());
    if let Some(merged) = plan.merged_strides(&strides) {
        return Ok(CowArray::from(kernel::view(
            &x,
            plan.output_shape(),
            &merged,
        )));
    }
    let mut data = plan.buffer(shape.size())?;
    kernel::copy(&permuted(plan, &x), &mut data);
    let out = ArrayD::from_shape_vec(shape, data);
    Ok(CowArray::from(
        out.expect("the copy holds one element per output element"),
    ))
}

/// Rearrange or repeat a list of same-shape arrays as if they were stacked
/// on a new leading axis, without building the stack when that axis is a
/// single elementary axis: each array is copied into its slice of the
/// output.
pub(crate) fn gather<A: Clone>(
    plan: &Plan,
    xs: &[ArrayView<'_, A, IxDyn>],
) -> Result<ArrayD<A>, Error> {
    let shape = IxDyn(plan.output_shape());
    let list_axis = match plan.input_dims().first().map(|d| d.as_slice()) {
        Some(&[axis]) => plan.kept().iter().position(|&a| a == axis),
        _ => None,
    };
    let (Some(pos), Some(first)) = (list_axis, xs.first().and_then(|x| x.first())) else {
        // The stacked axis is split (or the result is empty): stack first.
        let stacked = ndarray::stack(ndarray::Axis(0), xs).expect("list_shape checked the shapes");
        return Ok(rearrange(plan, stacked.view())?.into_owned());
    };
    if shape.size() == 0 {
        let empty = ArrayD::from_shape_vec(shape, Vec::new());
        return Ok(empty.expect("an empty shape holds no elements"));
    }
    let lens = plan.kept_lens();
    let mut data = plan.buffer(shape.size())?;
    data.resize(shape.size(), first.clone());
    let mut out = ArrayD::from_shape_vec(IxDyn(&lens), data).expect("one slot per element");
    for (i, x) in xs.iter().enumerate() {
        // Strides as if stacked, with stride 0 on the list axis.
        let mut stacked: SmallVec<[isize; 8]> = SmallVec::from_elem(0, 1);
        stacked.extend_from_slice(x.strides());
        let strides = plan.axis_strides(&stacked);
        let kept: SmallVec<[isize; 8]> = plan.kept().iter().map(|&id| strides[id]).collect();
        let src = kernel::view(x, &lens, &kept);
        out.index_axis_mut(ndarray::Axis(pos), i)
            .assign(&src.index_axis(ndarray::Axis(pos), 0));
    }
    Ok(out
        .into_shape_with_order(shape)
        .expect("standard layout reshapes freely"))
}
