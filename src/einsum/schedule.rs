//! [`Spec`] + operand shapes → [`Schedule`]: every length inferred and
//! checked, and the einsum lowered to a sequence of pairwise contractions.
//!
//! Axes get numbers here: the spec's named axes first, then one per
//! dimension that `...` stands for (outermost first). An axis of length 1
//! takes no further part: it is dropped from every view and loop.
//!
//! Lowering, per operand and then per contraction:
//!
//! 1. **Diagonal and split.** Each operand becomes one strided view with
//!    one axis per distinct axis it names. Splitting a group only needs
//!    strides, and an axis named twice gets the sum of its strides: the
//!    diagonal, still a view.
//! 2. **Private sums.** An axis that appears in one operand and not in the
//!    output is summed there, before any product.
//! 3. **Pairwise contractions**, chosen greedily: the pair whose result is
//!    smallest goes first. For a pair `x`, `y` the result's axes are
//!    *batch* axes (in both and kept), *row* axes (only in `x`) and *column*
//!    axes (only in `y`); the *contracted* axes are in both and dropped.
//!    The result is written in a layout chosen up front — the output's own
//!    layout for the last contraction — and the longest run of row axes
//!    and the longest run of column axes that lie next to each other in that
//!    layout become the rows and columns of one matrix product. Every other
//!    result axis becomes a loop around it. Each operand is rearranged to
//!    `[its loop axes…] (rows) (contracted)` (or `(contracted) (columns)`),
//!    which is a view when its strides allow the merges and a copy
//!    otherwise, and every loop index runs one `general_mat_mul`.
//!    Contractions without contracted axes (outer and elementwise products),
//!    or whose matrix products would be tiny and many, run as broadcast
//!    multiply-adds instead.
//!
//! The last contraction writes straight into the output array, so output
//! groups such as `(g co)` cost nothing: they merge neighbouring axes of a
//! standard-layout array.

use std::sync::Arc;

use smallvec::{SmallVec, smallvec};

use super::spec::{Dim, Item, Spec};
use crate::error::{Error, ErrorKind, KnownLengths};
use crate::ir::Op;
use crate::layout::checked_size;
use crate::plan::{GroupError, Groups, Inference, MAX_DIMS, Plan, from_groups, infer_group};
use crate::span::Span;

/// A contraction that would loop over matrix products smaller than this
/// (`m * n * k` multiply-adds each), over at most [`FEW_CONTRACTED`]
/// contracted indices, runs as broadcast passes instead: starting a matrix
/// product costs a few hundred multiply-adds' time, while each broadcast
/// pass streams through the result once.
const SMALL_PRODUCT: usize = 256;

/// See [`SMALL_PRODUCT`]: more passes than this stream the operands too
/// often.
const FEW_CONTRACTED: usize = 16;

/// How contractions run. Only the tests choose anything but `Auto`: they
/// check that every choice gives the same result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(super) enum Lowering {
    /// Matrix products, except where they would be many and tiny or there
    /// is nothing to sum.
    Auto,
    /// Matrix products for every contraction.
    Products,
    /// Broadcast passes for every contraction.
    Broadcast,
}

/// A list of axis numbers.
pub(super) type Axes = SmallVec<[usize; 8]>;

/// An einsum specialised to one set of operand shapes.
#[derive(Debug)]
pub(super) struct Schedule {
    /// The length of every axis.
    pub(super) lens: Vec<usize>,
    pub(super) operands: Vec<OperandPlan>,
    pub(super) steps: Vec<Step>,
    /// The output's axes of length > 1, in output order: the layout the
    /// last step writes.
    pub(super) out_axes: Axes,
    pub(super) out_shape: Vec<usize>,
    /// Some axis has length 0, so the result is all zeros and nothing runs.
    pub(super) empty: bool,
}

/// How one operand becomes a strided view and what is summed from it.
#[derive(Debug)]
pub(super) struct OperandPlan {
    /// For each dimension of the operand, its axes, outermost first.
    pub(super) dims: Vec<SmallVec<[usize; 4]>>,
    /// The axes of the operand's view: each axis of length > 1 once, in
    /// order of first appearance.
    pub(super) axes: Axes,
    /// Positions in `axes` summed before any product, largest first.
    pub(super) summed: SmallVec<[usize; 4]>,
}

/// One pairwise contraction. Tensors are numbered in order of creation:
/// the operands are `0..n`, and step `i` creates tensor `n + i`.
#[derive(Debug)]
pub(super) struct Step {
    pub(super) x: usize,
    pub(super) y: usize,
    /// The axes of the result, in its (standard) layout order.
    pub(super) out: Axes,
    pub(super) kind: Kind,
}

#[derive(Debug)]
pub(super) enum Kind {
    /// One pass of `out += x * y` over the result per index of the
    /// contracted axes, with `x` and `y` broadcast to the result's axes.
    Broadcast { contracted: Axes },
    /// Matrix products in a loop.
    Gemm(Box<Gemm>),
}

#[derive(Debug)]
pub(super) struct Gemm {
    /// Arranges `x` as `[loop axes of x…] (rows) (contracted)`.
    pub(super) x: Arc<Plan>,
    /// Arranges `y` as `[loop axes of y…] (contracted) (columns)`.
    pub(super) y: Arc<Plan>,
    /// The loop axes, in result order.
    pub(super) loops: SmallVec<[Loop; 8]>,
    /// The result's shape with the row axes merged into one dimension and
    /// the column axes into another (when there are any).
    pub(super) out_dims: Axes,
    pub(super) rows: bool,
    pub(super) cols: bool,
    /// Whether the rows come before the columns in the result.
    pub(super) rows_first: bool,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Loop {
    pub(super) len: usize,
    /// Its position in [`Gemm::out_dims`].
    pub(super) out_pos: usize,
    pub(super) in_x: bool,
    pub(super) in_y: bool,
}

/// Where an axis got its length, for errors that point at both places.
#[derive(Clone, Copy)]
enum Source {
    Unknown,
    Given,
    At(Span),
}

/// Specialises `spec` to operands of `shapes`.
pub(super) fn schedule(spec: &Spec, shapes: &[&[usize]]) -> Result<Schedule, Error> {
    schedule_with(spec, shapes, Lowering::Auto)
}

/// [`schedule`] with a choice of how contractions run.
pub(super) fn schedule_with(
    spec: &Spec,
    shapes: &[&[usize]],
    lowering: Lowering,
) -> Result<Schedule, Error> {
    let err = |kind, span| Error::new(&spec.pattern, kind, span);
    let n = spec.operands.len();
    if shapes.len() != n {
        let kind = ErrorKind::OperandCount {
            expected: n,
            found: shapes.len(),
        };
        return Err(err(kind, spec.inputs_span));
    }

    // Ranks, and how many dimensions each `...` stands for.
    let mut covered = Vec::with_capacity(n);
    for (op, shape) in spec.operands.iter().zip(shapes) {
        if shape.len() > MAX_DIMS {
            let kind = ErrorKind::TooManyDimensions {
                found: shape.len(),
                limit: MAX_DIMS,
            };
            return Err(err(kind, op.span));
        }
        let fixed = op.fixed_dims();
        let at_least = op.ellipsis.is_some();
        let rank_error = || {
            let kind = ErrorKind::RankMismatch {
                expected: fixed,
                found: shape.len(),
                at_least,
            };
            err(kind, op.span)
        };
        covered.push(match shape.len().checked_sub(fixed) {
            Some(extra) if at_least => extra,
            Some(0) => 0,
            _ => return Err(rank_error()),
        });
    }
    let ellipsis_len = covered.iter().copied().max().unwrap_or(0);
    let named = spec.axes.len();

    // Each operand's dimensions as axes; `...` aligns to the right, as in
    // numpy, so an operand with fewer such dimensions has the inner ones.
    let mut lens: Vec<Option<usize>> = spec.axes.iter().map(|a| a.len).collect();
    lens.resize(named + ellipsis_len, None);
    let mut source: Vec<Source> = lens
        .iter()
        .map(|l| l.map_or(Source::Unknown, |_| Source::Given))
        .collect();
    let mut dims_of: Vec<Vec<SmallVec<[usize; 4]>>> = Vec::with_capacity(n);
    // Groups of other than one axis, solved after the lone axes:
    // (operand, dimension, axes, span).
    let mut groups: Vec<(usize, usize, SmallVec<[usize; 4]>, Span)> = Vec::new();
    for (k, (op, shape)) in spec.operands.iter().zip(shapes).enumerate() {
        let mut dims: Vec<SmallVec<[usize; 4]>> = Vec::with_capacity(shape.len());
        for dim in &op.dims {
            match dim {
                Dim::Ellipsis => {
                    let span = op.ellipsis.unwrap_or(op.span);
                    let first = named + ellipsis_len - covered[k];
                    for id in first..named + ellipsis_len {
                        let d = dims.len();
                        let known = (lens[id], source[id]);
                        if let (Some(len), Source::At(other)) = known
                            && len != shape[d]
                        {
                            let kind = ErrorKind::EllipsisLengths {
                                here: shape[d],
                                there: len,
                            };
                            return Err(err(kind, span).with_aux(other));
                        }
                        lens[id] = Some(shape[d]);
                        source[id] = Source::At(span);
                        dims.push(smallvec![id]);
                    }
                }
                Dim::Group { items, span } => {
                    let d = dims.len();
                    let ids: SmallVec<[usize; 4]> = items
                        .iter()
                        .filter_map(|item| match item {
                            Item::Axis(id, _) => Some(*id),
                            Item::Ellipsis => None,
                        })
                        .collect();
                    if let [Item::Axis(id, at)] = items.as_slice() {
                        fix(spec, &mut lens, &mut source, *id, d, shape[d], *at)?;
                    } else {
                        groups.push((k, d, ids.clone(), *span));
                    }
                    dims.push(ids);
                }
            }
        }
        dims_of.push(dims);
    }
    solve_groups(spec, shapes, &mut lens, &mut source, groups)?;
    // Every axis is now known: each is a lone axis somewhere, in a solved
    // group, or under a `...`.
    let lens: Vec<usize> = lens.into_iter().map(|l| l.unwrap_or(0)).collect();
    // Each operand's dimensions split into their axes must form a shape an
    // array can have, even when a length 0 empties it: einops' reshape
    // into them would fail.
    for dims in &dims_of {
        let split: Vec<usize> = dims.iter().flatten().map(|&id| lens[id]).collect();
        if checked_size(&split).is_none() {
            return Err(err(ErrorKind::Overflow, spec.inputs_span));
        }
    }

    // The output.
    let ellipsis_axes = named..named + ellipsis_len;
    let mut out_elementary: Axes = SmallVec::new();
    let mut out_shape = Vec::with_capacity(spec.output.len());
    for dim in &spec.output {
        match dim {
            Dim::Ellipsis => {
                out_elementary.extend(ellipsis_axes.clone());
                out_shape.extend(ellipsis_axes.clone().map(|id| lens[id]));
            }
            Dim::Group { items, span } => {
                let mut len: usize = 1;
                for item in items {
                    let ids = match *item {
                        Item::Axis(id, _) => id..id + 1,
                        Item::Ellipsis => ellipsis_axes.clone(),
                    };
                    for id in ids {
                        len = len
                            .checked_mul(lens[id])
                            .ok_or_else(|| err(ErrorKind::Overflow, *span))?;
                        out_elementary.push(id);
                    }
                }
                out_shape.push(len);
            }
        }
    }
    let out_split: Vec<usize> = out_elementary.iter().map(|&id| lens[id]).collect();
    if checked_size(&out_shape).is_none() || checked_size(&out_split).is_none() {
        return Err(err(ErrorKind::Overflow, spec.output_span));
    }
    let out_axes: Axes = out_elementary
        .iter()
        .copied()
        .filter(|&id| lens[id] > 1)
        .collect();
    let empty = lens.contains(&0);
    if empty {
        return Ok(Schedule {
            lens,
            operands: Vec::new(),
            steps: Vec::new(),
            out_axes,
            out_shape,
            empty,
        });
    }

    // Operand views and their private sums.
    let mut in_output = vec![false; lens.len()];
    for &id in &out_axes {
        in_output[id] = true;
    }
    let view_axes: Vec<Axes> = dims_of
        .iter()
        .map(|dims| {
            let mut axes = Axes::new();
            for &id in dims.iter().flatten() {
                if lens[id] > 1 && !axes.contains(&id) {
                    axes.push(id);
                }
            }
            axes
        })
        .collect();
    let mut operands = Vec::with_capacity(n);
    let mut live: Vec<(usize, Axes)> = Vec::with_capacity(n);
    for (k, (dims, axes)) in dims_of.into_iter().zip(&view_axes).enumerate() {
        let private = |id: usize| {
            !in_output[id]
                && !view_axes
                    .iter()
                    .enumerate()
                    .any(|(j, other)| j != k && other.contains(&id))
        };
        let summed: SmallVec<[usize; 4]> = (0..axes.len())
            .rev()
            .filter(|&p| private(axes[p]))
            .collect();
        live.push((k, axes.iter().copied().filter(|&id| !private(id)).collect()));
        operands.push(OperandPlan {
            dims,
            axes: axes.clone(),
            summed,
        });
    }

    let steps = contractions(spec, &lens, &in_output, &out_axes, live, lowering)?;
    Ok(Schedule {
        lens,
        operands,
        steps,
        out_axes,
        out_shape,
        empty,
    })
}

/// Records that axis `id` is dimension `dim` (of length `len`) alone, at
/// `at`; an error if it already has another length.
fn fix(
    spec: &Spec,
    lens: &mut [Option<usize>],
    source: &mut [Source],
    id: usize,
    dim: usize,
    len: usize,
    at: Span,
) -> Result<(), Error> {
    let name = &spec.axes[id].name;
    match (lens[id], source[id]) {
        (Some(known), _) if known == len => Ok(()),
        (Some(known), Source::At(other)) => {
            let kind = ErrorKind::AxisLengths {
                name: name.clone(),
                here: len,
                there: known,
            };
            Err(Error::new(&spec.pattern, kind, at).with_aux(other))
        }
        (Some(known), _) => {
            let kind = ErrorKind::LengthMismatch {
                dim,
                length: len,
                expected: KnownLengths {
                    axes: vec![name.clone()],
                    product: known,
                },
            };
            Err(Error::new(&spec.pattern, kind, at))
        }
        (None, _) => {
            lens[id] = Some(len);
            source[id] = Source::At(at);
            Ok(())
        }
    }
}

/// Infers the lengths in groups of several axes (and checks units), as
/// long as some group has one unknown; then any group left has several.
fn solve_groups(
    spec: &Spec,
    shapes: &[&[usize]],
    lens: &mut [Option<usize>],
    source: &mut [Source],
    mut groups: Vec<(usize, usize, SmallVec<[usize; 4]>, Span)>,
) -> Result<(), Error> {
    let err = |kind, span| Error::new(&spec.pattern, kind, span);
    loop {
        let before = groups.len();
        let mut i = 0;
        while i < groups.len() {
            let (k, dim, ref ids, span) = groups[i];
            let length = shapes[k][dim];
            // Shown as "b = 2", "b * c = 6" or "1".
            let describe = |lens: &[Option<usize>], product: usize| KnownLengths {
                axes: ids
                    .iter()
                    .filter(|&&id| lens[id].is_some())
                    .map(|&id| spec.axes[id].name.clone())
                    .collect(),
                product,
            };
            match infer_group(lens, ids, length) {
                Ok(Inference::Checked) => {}
                Ok(Inference::Inferred { id, len }) => {
                    lens[id] = Some(len);
                    source[id] = Source::At(span);
                }
                Ok(Inference::Unknown(_)) => {
                    i += 1;
                    continue;
                }
                Err(GroupError::Overflow) => return Err(err(ErrorKind::Overflow, span)),
                Err(GroupError::Mismatch { known }) => {
                    let kind = ErrorKind::LengthMismatch {
                        dim,
                        length,
                        expected: describe(lens, known),
                    };
                    return Err(err(kind, span));
                }
                Err(GroupError::NotDivisible { known }) => {
                    let kind = ErrorKind::NotDivisible {
                        dim,
                        length,
                        divisor: describe(lens, known),
                    };
                    return Err(err(kind, span));
                }
                Err(GroupError::Zero { id }) => {
                    let kind = ErrorKind::ZeroInGroup {
                        name: spec.axes[id].name.clone(),
                        dim,
                        length,
                        zero: describe(lens, 0),
                    };
                    return Err(err(kind, span));
                }
            }
            groups.remove(i);
        }
        if groups.len() == before {
            break;
        }
    }
    let Some((_, _, ids, span)) = groups.first() else {
        return Ok(());
    };
    let mut names: Vec<String> = Vec::new();
    for &id in ids {
        let name = &spec.axes[id].name;
        if lens[id].is_none() && !names.contains(name) {
            names.push(name.clone());
        }
    }
    Err(err(ErrorKind::Underdetermined { names }, *span))
}

/// Chooses the order of the pairwise contractions (greedily, smallest
/// result first) and lowers each one.
fn contractions(
    spec: &Spec,
    lens: &[usize],
    in_output: &[bool],
    out_axes: &Axes,
    mut live: Vec<(usize, Axes)>,
    lowering: Lowering,
) -> Result<Vec<Step>, Error> {
    // How many live tensors have each axis.
    let mut count = vec![0usize; lens.len()];
    for (_, axes) in &live {
        for &id in axes {
            count[id] += 1;
        }
    }
    let mut steps = Vec::with_capacity(live.len().saturating_sub(1));
    let mut next = live.len();
    while live.len() > 1 {
        let mut best: Option<((usize, usize), usize, usize)> = None;
        for i in 0..live.len() {
            for j in i + 1..live.len() {
                let (a, b) = (&live[i].1, &live[j].1);
                let (mut size, mut work) = (1usize, 1usize);
                for &id in a.iter().chain(b.iter().filter(|id| !a.contains(id))) {
                    work = work.saturating_mul(lens[id]);
                    let here = usize::from(a.contains(&id)) + usize::from(b.contains(&id));
                    if in_output[id] || count[id] > here {
                        size = size.saturating_mul(lens[id]);
                    }
                }
                if best.is_none_or(|(key, _, _)| (size, work) < key) {
                    best = Some(((size, work), i, j));
                }
            }
        }
        let Some((_, i, j)) = best else { break };
        let (y_id, y) = live.remove(j);
        let (x_id, x) = live.remove(i);
        for &id in x.iter().chain(&y) {
            count[id] -= 1;
        }
        let keep = |id: &usize| in_output[*id] || count[*id] > 0;
        let out: Axes = if live.is_empty() {
            out_axes.clone()
        } else {
            // Batch axes, then the rest of x's, then the rest of y's.
            let batch = x.iter().filter(|id| y.contains(id) && keep(id));
            let rows = x.iter().filter(|id| !y.contains(id) && keep(id));
            let cols = y.iter().filter(|id| !x.contains(id) && keep(id));
            batch.chain(rows).chain(cols).copied().collect()
        };
        let shape: Vec<usize> = out.iter().map(|&id| lens[id]).collect();
        if checked_size(&shape).is_none() {
            return Err(Error::new(
                &spec.pattern,
                ErrorKind::Overflow,
                spec.inputs_span,
            ));
        }
        let kind = lower(spec, lens, &x, &y, &out, lowering)?;
        for &id in &out {
            count[id] += 1;
        }
        steps.push(Step {
            x: x_id,
            y: y_id,
            out: out.clone(),
            kind,
        });
        live.push((next, out));
        next += 1;
    }
    Ok(steps)
}

/// Lowers the contraction of `x` and `y` into `out`.
fn lower(
    spec: &Spec,
    lens: &[usize],
    x: &Axes,
    y: &Axes,
    out: &Axes,
    lowering: Lowering,
) -> Result<Kind, Error> {
    let product = |ids: &mut dyn Iterator<Item = usize>| -> usize {
        ids.fold(1usize, |acc, id| acc.saturating_mul(lens[id]))
    };
    // Contracted axes in the larger operand's order, so that at least the
    // larger one can be a view.
    let (large, small) = if product(&mut x.iter().copied()) >= product(&mut y.iter().copied()) {
        (x, y)
    } else {
        (y, x)
    };
    let contracted: Axes = large
        .iter()
        .copied()
        .filter(|id| small.contains(id) && !out.contains(id))
        .collect();

    let only_x: Vec<bool> = out
        .iter()
        .map(|id| x.contains(id) && !y.contains(id))
        .collect();
    let only_y: Vec<bool> = out
        .iter()
        .map(|id| y.contains(id) && !x.contains(id))
        .collect();
    let rows = longest_run(lens, out, &only_x);
    let cols = longest_run(lens, out, &only_y);
    let m = product(&mut out[rows.clone()].iter().copied());
    let n = product(&mut out[cols.clone()].iter().copied());
    let k = product(&mut contracted.iter().copied());
    let looped = |p: usize| !rows.contains(&p) && !cols.contains(&p);
    let calls = product(&mut (0..out.len()).filter(|&p| looped(p)).map(|p| out[p]));
    let broadcast = match lowering {
        Lowering::Auto => {
            let tiny = k <= FEW_CONTRACTED && m.saturating_mul(n).saturating_mul(k) < SMALL_PRODUCT;
            contracted.is_empty() || (calls > 1 && tiny)
        }
        Lowering::Products => false,
        Lowering::Broadcast => true,
    };
    if broadcast {
        return Ok(Kind::Broadcast { contracted });
    }

    let mut loops: SmallVec<[Loop; 8]> = SmallVec::new();
    let mut out_dims = Axes::new();
    let mut p = 0;
    while p < out.len() {
        if p == rows.start && !rows.is_empty() {
            out_dims.push(m);
            p = rows.end;
        } else if p == cols.start && !cols.is_empty() {
            out_dims.push(n);
            p = cols.end;
        } else {
            let id = out[p];
            loops.push(Loop {
                len: lens[id],
                out_pos: out_dims.len(),
                in_x: x.contains(&id),
                in_y: y.contains(&id),
            });
            out_dims.push(lens[id]);
            p += 1;
        }
    }
    let loop_axes: Axes = (0..out.len())
        .filter(|&p| looped(p))
        .map(|p| out[p])
        .collect();
    let x_loops: Axes = loop_axes
        .iter()
        .copied()
        .filter(|id| x.contains(id))
        .collect();
    let y_loops: Axes = loop_axes
        .iter()
        .copied()
        .filter(|id| y.contains(id))
        .collect();
    let x_plan = arrange(spec, lens, x, &x_loops, &out[rows.clone()], &contracted)?;
    let y_plan = arrange(spec, lens, y, &y_loops, &contracted, &out[cols.clone()])?;
    Ok(Kind::Gemm(Box::new(Gemm {
        x: x_plan,
        y: y_plan,
        loops,
        out_dims,
        rows: !rows.is_empty(),
        cols: !cols.is_empty(),
        rows_first: rows.start < cols.start,
    })))
}

/// The positions in `out` of the run of neighbouring axes with `class`
/// that holds the most elements (the innermost of equals); empty if none.
fn longest_run(lens: &[usize], out: &[usize], class: &[bool]) -> std::ops::Range<usize> {
    let mut best = 0..0;
    let mut best_size = 0;
    let mut p = 0;
    while p < out.len() {
        if !class[p] {
            p += 1;
            continue;
        }
        let start = p;
        let mut size: usize = 1;
        while p < out.len() && class[p] {
            size = size.saturating_mul(lens[out[p]]);
            p += 1;
        }
        if size >= best_size {
            best = start..p;
            best_size = size;
        }
    }
    best
}

/// The rearrange plan that turns a tensor with `axes` into
/// `[outer…] (first) (second)`: a view when its strides allow, else a copy.
/// Built from the groups as data ([`from_groups`]); its errors (only a
/// result too large to allocate can occur) point at the einsum's inputs.
fn arrange(
    spec: &Spec,
    lens: &[usize],
    axes: &Axes,
    outer: &[usize],
    first: &[usize],
    second: &[usize],
) -> Result<Arc<Plan>, Error> {
    let local = |id: &usize| axes.iter().position(|a| a == id).unwrap_or(axes.len());
    let mut output: Vec<SmallVec<[usize; 4]>> =
        outer.iter().map(|id| smallvec![local(id)]).collect();
    output.push(first.iter().map(local).collect());
    output.push(second.iter().map(local).collect());
    let labels = axes
        .iter()
        .map(|&id| match spec.axes.get(id) {
            Some(axis) => axis.name.clone(),
            None => format!("...{}", id - spec.axes.len()),
        })
        .collect();
    let shape: Vec<usize> = axes.iter().map(|&id| lens[id]).collect();
    let plan = from_groups(Groups {
        pattern: &spec.pattern,
        op: Op::Rearrange,
        labels,
        lens: shape.clone(),
        input_shape: &shape,
        input_dims: (0..axes.len()).map(|k| smallvec![k]).collect(),
        output_spans: vec![spec.inputs_span; output.len()],
        output,
        input_span: spec.inputs_span,
        output_span: spec.inputs_span,
    })?;
    Ok(Arc::new(plan))
}
