//! Runs a [`Schedule`] on operand views.
//!
//! Every operand becomes a strided view (no data moves), private axes are
//! summed, and each step contracts two tensors into a fresh standard-layout
//! array: by matrix products (`ndarray::linalg::general_mat_mul`, which is
//! `matrixmultiply` for `f32` and `f64`, or for wide `f32` products
//! [`exec::gemm`]) or by broadcast multiply-adds.
//! The last step's array, in the output's axis order, is the result.

use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{
    ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, ArrayViewMutD, Axis, CowArray, Dimension, Ix2,
    IxDyn, LinalgScalar, Zip,
};
use smallvec::{SmallVec, smallvec};

use super::checked;
use super::schedule::{Axes, Gemm, Kind, OperandPlan, Schedule, Step};
use super::spec::Spec;
use crate::error::{Error, ErrorKind};
use crate::exec;
use crate::exec::Source;
use crate::layout::{self, Step as ViewStep};
use crate::span::Span;

/// Broadcast passes put a longer axis innermost when the last one is
/// shorter than this.
const SHORT_INNER_LOOP: usize = 32;

/// An operand or an intermediate result, with the axis of each dimension.
struct Tensor<'a, A> {
    axes: Axes,
    data: CowArray<'a, A, IxDyn>,
}

/// Runs `schedule` (made for these operands' shapes) on `operands`.
pub(super) fn run<A: LinalgScalar>(
    spec: &Spec,
    schedule: &Schedule,
    operands: &[ArrayViewD<'_, A>],
) -> Result<ArrayD<A>, Error> {
    if checked::widens::<A>() {
        return run_exactly(spec, schedule, operands);
    }
    let shape = IxDyn(&schedule.out_shape);
    if schedule.empty {
        let data = zeros(spec, shape.size(), spec.output_span)?;
        return Ok(ArrayD::from_shape_vec(shape, data).expect("one zero per element"));
    }
    let mut tensors = prepare_all(spec, schedule, operands)?;
    contract_steps(spec, schedule, &schedule.steps, &mut tensors)?;
    let Some(Some(last)) = tensors.pop() else {
        unreachable!("a schedule leaves one tensor")
    };
    let out = in_output_order(spec, schedule, last)?;
    Ok(out
        .into_shape_with_order(shape)
        .expect("a standard-layout array reshapes freely"))
}

/// Runs `schedule` on `operands` into `out` (of the output's shape). A
/// float einsum whose last step is a matrix product already in output
/// order writes that product straight into `out` when the product's
/// dimensions split `out`'s (in any layout: `(g co) n` into `g co n`) or
/// `out` is in standard layout; everything else is computed by [`run`]
/// and copied in.
pub(super) fn run_into<A: LinalgScalar>(
    spec: &Spec,
    schedule: &Schedule,
    operands: &[ArrayViewD<'_, A>],
    out: ArrayViewMutD<'_, A>,
) -> Result<(), Error> {
    let direct = !schedule.empty
        && checked::integer::<A>().is_none()
        && schedule.steps.last().is_some_and(|last| {
            matches!(last.kind, Kind::Gemm(_)) && last.out[..] == schedule.out_axes[..]
        });
    let copy_in = |mut out: ArrayViewMutD<'_, A>| {
        let y = run(spec, schedule, operands)?;
        out.assign(&y);
        Ok(())
    };
    let (Some((last, before)), true) = (schedule.steps.split_last(), direct) else {
        return copy_in(out);
    };
    let Kind::Gemm(gemm) = &last.kind else {
        unreachable!("checked above")
    };
    // The step's axes are the output's in order: the product's merged
    // dimensions split `out`'s (in any layout), or are a reshape of a
    // standard-layout `out`.
    let dst = match exec::source::split_mut(out, &gemm.out_dims) {
        Ok(dst) => dst,
        Err(out) if out.is_standard_layout() => out
            .into_shape_with_order(IxDyn(&gemm.out_dims))
            .expect("a standard-layout array reshapes freely"),
        Err(out) => return copy_in(out),
    };
    let mut tensors = prepare_all(spec, schedule, operands)?;
    contract_steps(spec, schedule, before, &mut tensors)?;
    let (Some(x), Some(y)) = (tensors[last.x].take(), tensors[last.y].take()) else {
        unreachable!("a schedule uses every tensor once")
    };
    matrix_products(gemm, x.data.view(), y.data.view(), dst)
}

/// Every operand as a [`Tensor`] of its distinct axes.
fn prepare_all<'a, A: LinalgScalar>(
    spec: &Spec,
    schedule: &Schedule,
    operands: &'a [ArrayViewD<'_, A>],
) -> Result<Vec<Option<Tensor<'a, A>>>, Error> {
    schedule
        .operands
        .iter()
        .zip(operands)
        .map(|(plan, x)| prepare(spec, plan, &schedule.lens, x).map(Some))
        .collect()
}

/// Runs `steps`, each contracting two tensors into a new one pushed last.
fn contract_steps<A: LinalgScalar>(
    spec: &Spec,
    schedule: &Schedule,
    steps: &[Step],
    tensors: &mut Vec<Option<Tensor<'_, A>>>,
) -> Result<(), Error> {
    for step in steps {
        let x = tensors[step.x].take();
        let y = tensors[step.y].take();
        let (Some(x), Some(y)) = (x, y) else {
            unreachable!("a schedule uses every tensor once")
        };
        let data = contract(spec, schedule, step, &x, &y)?;
        tensors.push(Some(Tensor {
            axes: step.out.clone(),
            data: CowArray::from(data),
        }));
    }
    Ok(())
}

/// Runs an integer einsum of at most 64-bit elements in `i128` (where a
/// product of two elements always fits and sums are checked), then narrows
/// the result: an error only if a result element does not fit `A`.
fn run_exactly<A: LinalgScalar>(
    spec: &Spec,
    schedule: &Schedule,
    operands: &[ArrayViewD<'_, A>],
) -> Result<ArrayD<A>, Error> {
    let wide: Vec<ArrayD<i128>> = operands
        .iter()
        .map(|x| x.mapv(|v| checked::to_i128(v).unwrap_or(0)))
        .collect();
    let views: Vec<ArrayViewD<'_, i128>> = wide.iter().map(|w| w.view()).collect();
    let out = run::<i128>(spec, schedule, &views).map_err(|e| match e.kind() {
        ErrorKind::IntegerOverflow { .. } => integer_overflow::<A>(spec),
        _ => e,
    })?;
    let mut fits = true;
    let narrow = out.mapv(|w| {
        checked::from_i128::<A>(w).unwrap_or_else(|| {
            fits = false;
            A::zero()
        })
    });
    if fits {
        Ok(narrow)
    } else {
        Err(integer_overflow::<A>(spec))
    }
}

/// The operand as a view with one axis per distinct axis (a diagonal where
/// an axis is repeated), its private axes summed.
fn prepare<'a, A: LinalgScalar>(
    spec: &Spec,
    plan: &OperandPlan,
    lens: &[usize],
    x: &ArrayViewD<'a, A>,
) -> Result<Tensor<'a, A>, Error> {
    // One step per view axis; a repeated axis steps along every dimension
    // it names (a diagonal).
    let mut steps: Vec<ViewStep> = plan
        .axes
        .iter()
        .map(|&id| ViewStep::broadcast(lens[id]))
        .collect();
    for (dim, ids) in plan.dims.iter().enumerate() {
        let here: SmallVec<[usize; 4]> = ids.iter().map(|&id| lens[id]).collect();
        for (id, mult) in ids.iter().zip(layout::split_multipliers(&here)) {
            if let Some(p) = plan.axes.iter().position(|a| a == id) {
                steps[p].sources.push((dim, mult));
            }
        }
    }
    let mut data = CowArray::from(checked_view(x, &steps));
    let mut axes = plan.axes.clone();
    for &p in &plan.summed {
        data = CowArray::from(match checked::integer::<A>() {
            None => data.sum_axis(Axis(p)),
            Some(_) => {
                let sums = data.fold_axis(Axis(p), Some(A::zero()), |acc, &v| {
                    acc.and_then(|acc| checked::add(acc, v))
                });
                if sums.iter().any(Option::is_none) {
                    return Err(integer_overflow::<A>(spec));
                }
                sums.mapv(|v| v.unwrap_or_else(A::zero))
            }
        });
        axes.remove(p);
    }
    Ok(Tensor { axes, data })
}

/// Contracts `x` and `y` by `step` into a standard-layout array with
/// `step.out` as its axes.
fn contract<A: LinalgScalar>(
    spec: &Spec,
    schedule: &Schedule,
    step: &Step,
    x: &Tensor<'_, A>,
    y: &Tensor<'_, A>,
) -> Result<ArrayD<A>, Error> {
    let lens = &schedule.lens;
    let shape: Axes = step.out.iter().map(|&id| lens[id]).collect();
    let size = shape.iter().product();
    let data = zeros(spec, size, spec.inputs_span)?;
    if checked::integer::<A>().is_some() {
        // Integers take the checked loop, whatever the schedule chose: a
        // matrix product would wrap. Every axis of `x` or `y` that the
        // result lacks is contracted (private axes were summed before).
        let contracted: Axes = x
            .axes
            .iter()
            .chain(y.axes.iter().filter(|a| !x.axes.contains(a)))
            .filter(|a| !step.out.contains(a))
            .copied()
            .collect();
        let mut out = ArrayD::from_shape_vec(IxDyn(&shape), data).expect("one slot per element");
        if !multiply_add(lens, &step.out, &contracted, x, y, out.view_mut()) {
            return Err(integer_overflow::<A>(spec));
        }
        return Ok(out);
    }
    match &step.kind {
        Kind::Broadcast { contracted } => {
            let mut out =
                ArrayD::from_shape_vec(IxDyn(&shape), data).expect("one slot per element");
            multiply_add(lens, &step.out, contracted, x, y, out.view_mut());
            Ok(out)
        }
        Kind::Gemm(gemm) => {
            let mut out = ArrayD::from_shape_vec(IxDyn(&gemm.out_dims), data)
                .expect("merging axes keeps the size");
            matrix_products(gemm, x.data.view(), y.data.view(), out.view_mut())?;
            Ok(out
                .into_shape_with_order(IxDyn(&shape))
                .expect("a standard-layout array reshapes freely"))
        }
    }
}

/// `out = Σ_c x * y` over the `contracted` axes, with `x` and `y` viewed
/// on `out_axes + contracted` (stride 0 along axes they do not have).
/// `false` if an integer product or sum overflowed (see [`checked`]).
fn multiply_add<A: LinalgScalar>(
    lens: &[usize],
    out_axes: &[usize],
    contracted: &[usize],
    x: &Tensor<'_, A>,
    y: &Tensor<'_, A>,
    out: ArrayViewMutD<'_, A>,
) -> bool {
    let target: Axes = out_axes.iter().chain(contracted).copied().collect();
    let x_all = spread(x, &target, lens);
    let y_all = spread(y, &target, lens);
    let inner: Axes = contracted.iter().map(|&id| lens[id]).collect();
    // `Zip` runs its inner loop along the last axis; when that axis is
    // short, stepping through the others would dominate, so the longest
    // axis goes last (in all three views alike).
    let mut order: Axes = (0..out_axes.len()).collect();
    let longest = (0..out_axes.len()).max_by_key(|&p| (lens[out_axes[p]], p));
    if let (Some(&last), Some(longest)) = (order.last(), longest)
        && lens[out_axes[last]] < SHORT_INNER_LOOP
    {
        order.remove(longest);
        order.push(longest);
    }
    let mut out = out.permuted_axes(IxDyn(&order));
    let mut index: Axes = smallvec![0; contracted.len()];
    let mut first = true;
    loop {
        let (mut xs, mut ys) = (x_all.view(), y_all.view());
        for (c, &i) in index.iter().enumerate().rev() {
            xs.index_axis_inplace(Axis(out_axes.len() + c), i);
            ys.index_axis_inplace(Axis(out_axes.len() + c), i);
        }
        let xs = xs.permuted_axes(IxDyn(&order));
        let ys = ys.permuted_axes(IxDyn(&order));
        let zip = Zip::from(&mut out).and(&xs).and(&ys);
        if checked::integer::<A>().is_some() {
            let mut ok = true;
            let start = first;
            zip.for_each(|o, &a, &b| {
                let acc = if start { A::zero() } else { *o };
                match checked::mul_add(acc, a, b) {
                    Some(v) => *o = v,
                    None => ok = false,
                }
            });
            if !ok {
                return false;
            }
            first = false;
        } else if first {
            zip.for_each(|o, &a, &b| *o = a * b);
            first = false;
        } else {
            zip.for_each(|o, &a, &b| *o = *o + a * b);
        }
        if !advance(&mut index, &inner) {
            return true;
        }
    }
}

/// `t` viewed with the axes `target` (of lengths `lens[target]`), stride 0
/// along the ones it does not have.
fn spread<'v, A>(t: &'v Tensor<'_, A>, target: &[usize], lens: &[usize]) -> ArrayViewD<'v, A> {
    let v = t.data.view();
    let steps: Vec<ViewStep> = target
        .iter()
        .map(|id| match t.axes.iter().position(|a| a == id) {
            Some(p) => ViewStep::along(lens[*id], p, 1),
            None => ViewStep::broadcast(lens[*id]),
        })
        .collect();
    checked_view(&v, &steps)
}

/// The view of `x` through `steps`, which the schedule made from `x`'s
/// shape: [`Source::try_new`] proves every index an element of `x`.
fn checked_view<'a, A>(x: &ArrayViewD<'a, A>, steps: &[ViewStep]) -> ArrayViewD<'a, A> {
    Source::try_new(x, steps)
        .and_then(|src| src.view())
        .expect("the schedule's steps fit the operand's shape")
}

/// One matrix product per loop index: `out[loops] = x[loops] · y[loops]`.
fn matrix_products<A: LinalgScalar>(
    gemm: &Gemm,
    x: ArrayViewD<'_, A>,
    y: ArrayViewD<'_, A>,
    mut out: ArrayViewMutD<'_, A>,
) -> Result<(), Error> {
    let xa = exec::rearrange(&gemm.x, x)?;
    let ya = exec::rearrange(&gemm.y, y)?;
    let loop_lens: Axes = gemm.loops.iter().map(|l| l.len).collect();
    let mut index: Axes = smallvec![0; gemm.loops.len()];
    loop {
        let (mut a, mut b) = (xa.view(), ya.view());
        for (l, &i) in gemm.loops.iter().zip(&index) {
            // Each operand's loop axes lead, in loop order.
            if l.in_x {
                a.index_axis_inplace(Axis(0), i);
            }
            if l.in_y {
                b.index_axis_inplace(Axis(0), i);
            }
        }
        let mut c = out.view_mut();
        for (l, &i) in gemm.loops.iter().zip(&index).rev() {
            c.index_axis_inplace(Axis(l.out_pos), i);
        }
        // What is left of `c` is the rows and columns that exist, in
        // layout order; make it rows × columns.
        match (gemm.rows, gemm.cols) {
            (true, true) if !gemm.rows_first => c = c.reversed_axes(),
            (true, true) => {}
            (true, false) => c.insert_axis_inplace(Axis(1)),
            (false, true) => c.insert_axis_inplace(Axis(0)),
            (false, false) => {
                c.insert_axis_inplace(Axis(0));
                c.insert_axis_inplace(Axis(0));
            }
        }
        let a = a.into_dimensionality::<Ix2>().expect("rows × contracted");
        let b = b
            .into_dimensionality::<Ix2>()
            .expect("contracted × columns");
        let mut c = c.into_dimensionality::<Ix2>().expect("rows × columns");
        product(&a, &b, &mut c);
        if !advance(&mut index, &loop_lens) {
            return Ok(());
        }
    }
}

/// `c = a · b`. A product with a single row or column is a matrix-vector
/// product (or a dot product), which `general_mat_mul` would pad out to
/// whole blocks of rows and columns; those go to ndarray's vector
/// routines when the matrix's rows are contiguous, or for `f32` to
/// [`exec::gemm::mat_vec`]. `f32` products that [`exec::gemm::product`]
/// takes run there.
fn product<A: LinalgScalar>(
    a: &ArrayView2<'_, A>,
    b: &ArrayView2<'_, A>,
    c: &mut ArrayViewMut2<'_, A>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let unit = |stride: isize| stride == 1 || k == 1;
    match (m, n) {
        (1, 1) => c[[0, 0]] = a.row(0).dot(&b.column(0)),
        (_, 1) if unit(a.strides()[1]) => {
            let (x, mut y) = (b.column(0), c.column_mut(0));
            if !exec::gemm::mat_vec(a, &x, &mut y) {
                general_mat_vec_mul(A::one(), a, &x, A::zero(), &mut y);
            }
        }
        (1, _) if unit(b.strides()[0]) => {
            let (x, mut y) = (a.row(0), c.row_mut(0));
            if !exec::gemm::mat_vec(&b.t(), &x, &mut y) {
                general_mat_vec_mul(A::one(), &b.t(), &x, A::zero(), &mut y);
            }
        }
        _ if exec::gemm::product(a, b, c) => {}
        _ => general_mat_mul(A::one(), a, b, A::zero(), c),
    }
}

/// Steps a row-major multi-index; `false` once it wraps around to zero.
fn advance(index: &mut [usize], lens: &[usize]) -> bool {
    for (i, &len) in index.iter_mut().zip(lens).rev() {
        *i += 1;
        if *i < len {
            return true;
        }
        *i = 0;
    }
    false
}

/// The last tensor as a standard-layout array in output axis order.
fn in_output_order<A: LinalgScalar>(
    spec: &Spec,
    schedule: &Schedule,
    last: Tensor<'_, A>,
) -> Result<ArrayD<A>, Error> {
    let perm: Axes = schedule
        .out_axes
        .iter()
        .map(|id| {
            let p = last.axes.iter().position(|a| a == id);
            p.expect("the last tensor has the output's axes")
        })
        .collect();
    if perm.iter().enumerate().all(|(i, &p)| i == p) && last.data.is_standard_layout() {
        return Ok(last.data.into_owned());
    }
    let shape: Axes = schedule
        .out_axes
        .iter()
        .map(|&id| schedule.lens[id])
        .collect();
    let data = zeros(spec, shape.iter().product(), spec.output_span)?;
    let mut out = ArrayD::from_shape_vec(IxDyn(&shape), data).expect("one slot per element");
    out.assign(&last.data.view().permuted_axes(IxDyn(&perm)));
    Ok(out)
}

/// The error for an integer einsum whose products or sums overflow `A`.
fn integer_overflow<A: 'static>(spec: &Spec) -> Error {
    let kind = ErrorKind::IntegerOverflow {
        operation: "einsum",
        element: std::any::type_name::<A>(),
        wider: checked::integer::<A>().flatten(),
    };
    Error::new(&spec.pattern, kind, spec.output_span)
}

/// `n` zeros, or the error that they do not fit in memory (pointing at
/// `span`). Never aborts on a huge request.
fn zeros<A: LinalgScalar>(spec: &Spec, n: usize, span: Span) -> Result<Vec<A>, Error> {
    let too_large = || {
        let kind = ErrorKind::TooLarge {
            elements: n,
            element_size: std::mem::size_of::<A>(),
        };
        Error::new(&spec.pattern, kind, span)
    };
    let bytes = n.checked_mul(std::mem::size_of::<A>());
    if bytes.is_none_or(|b| b > isize::MAX as usize) {
        return Err(too_large());
    }
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| too_large())?;
    v.resize(n, A::zero());
    Ok(v)
}
