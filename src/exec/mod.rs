//! Runs a [`Plan`] on an array view.
//!
//! Two paths: when the plan's merges are stride-compatible for the input at
//! hand, the result is a view built from strides alone; otherwise the
//! permuted input ([`kernel::Source`]) is copied by [`kernel::copy`] into
//! a fresh standard-layout array, or by [`kernel::copy_into`] into the
//! caller's. [`reference`] is the element-by-element oracle both are
//! tested against.

#[allow(unsafe_code)]
pub(crate) mod kernel;
pub(crate) mod reduce;
pub(crate) mod reference;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd;
#[cfg(test)]
mod tests;

use ndarray::{ArrayD, ArrayView, ArrayViewMut, CowArray, Dimension, IxDyn};
use smallvec::SmallVec;

use crate::error::Error;
use crate::plan::{Plan, Step};

/// Rearrange or repeat `x` by `plan`: a view when strides suffice, else a
/// standard-layout copy. A standard-layout input takes the plan's prepared
/// view or copy without converting its dimensions.
pub(crate) fn rearrange<'a, A: Clone, D: Dimension>(
    plan: &Plan,
    x: ArrayView<'a, A, D>,
) -> Result<CowArray<'a, A, IxDyn>, Error> {
    // A standard-layout input has its view or copy prepared (for results
    // that are not empty); other layouts are worked out here.
    let prepared = plan.prepared().filter(|p| p.fits(&x));
    if let Some(v) = prepared.and_then(|p| p.view(&x)) {
        return Ok(CowArray::from(v));
    }
    let shape = IxDyn(plan.output_shape());
    let n = shape.size();
    if x.is_empty() || n == 0 {
        let empty = ArrayD::from_shape_vec(shape, Vec::new());
        return Ok(CowArray::from(
            empty.expect("an empty shape holds no elements"),
        ));
    }
    let mut data;
    if let Some(p) = prepared {
        data = plan.buffer(n)?;
        kernel::copy_prepared(p, &x, &mut data);
    } else {
        let x = x.into_dyn();
        let src = kernel::Source::new(&x, plan.kept_steps());
        if let Some(v) = src.merged(plan.output_shape(), plan.output_groups()) {
            return Ok(CowArray::from(v));
        }
        data = plan.buffer(n)?;
        kernel::copy(&src, &mut data);
    }
    let out = ArrayD::from_shape_vec(shape, data);
    Ok(CowArray::from(
        out.expect("the copy holds one element per output element"),
    ))
}

/// Rearrange or repeat `x` by `plan` into `out`, which may have any
/// layout.
///
/// # Errors
///
/// If `out` does not have the plan's output shape.
pub(crate) fn rearrange_into<A: Clone, D: Dimension, E: Dimension>(
    plan: &Plan,
    x: ArrayView<'_, A, D>,
    mut out: ArrayViewMut<'_, A, E>,
) -> Result<(), Error> {
    plan.check_output(out.shape())?;
    if !plan
        .prepared()
        .is_some_and(|p| kernel::copy_into_prepared(p, &x, &mut out))
    {
        let x = x.into_dyn();
        kernel::copy_into(&kernel::Source::new(&x, plan.kept_steps()), out.into_dyn());
    }
    Ok(())
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
    // Each array reads as the stack would, without the list axis: its
    // dimensions are the stack's shifted down by one.
    let steps: SmallVec<[Step; 8]> = plan
        .kept_steps()
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != pos)
        .map(|(_, step)| Step {
            len: step.len,
            source: step.source.map(|(dim, mult)| (dim - 1, mult)),
        })
        .collect();
    for (i, x) in xs.iter().enumerate() {
        let src = kernel::Source::new(x, &steps);
        kernel::copy_into(&src, out.index_axis_mut(ndarray::Axis(pos), i));
    }
    Ok(out
        .into_shape_with_order(shape)
        .expect("standard layout reshapes freely"))
}
