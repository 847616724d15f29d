//! IR + concrete input shape → [`Plan`]: lengths, split, permute, merge.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use smallvec::{SmallVec, smallvec};

use crate::error::{Error, ErrorKind, KnownLengths};
use crate::ir::{AxisName, Ir, Item, Op};
use crate::layout::{self, Lens, Prepared, Step};
use crate::span::Span;

/// The most dimensions an input may have (see *Input safety* in the crate
/// docs).
pub(crate) const MAX_DIMS: usize = 64;

/// A compiled pattern specialised to one input shape.
///
/// A plan describes the operation as strides over *elementary axes*: every
/// input dimension is split into the axes its group names (always possible
/// without moving data), the axes are permuted into output order, reduced
/// axes are folded away, new axes get stride 0, and neighbouring axes are
/// merged into output dimensions. The merge is the only step that can force
/// a copy: it is free exactly when the merged axes are laid out one after
/// another in memory.
///
/// A plan holds no element values and no strides of a particular array, so
/// one plan serves every array of its input shape.
///
/// # Examples
///
/// ```
/// use einplan::Rearrange;
///
/// let op = Rearrange::new("b (c1 c2) h w -> b (c2 c1) h w")?.with("c1", 3)?;
/// let plan = op.plan(&[2, 6, 4, 4])?;
/// assert_eq!(plan.output_shape(), &[2, 6, 4, 4]);
/// assert!(!plan.is_view()); // the shuffle interleaves channels: a copy
///
/// let plan = Rearrange::new("b c h w -> b h w c")?.plan(&[2, 6, 4, 4])?;
/// assert!(plan.is_view()); // a pure permutation only changes strides
/// # Ok::<(), einplan::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pattern: Arc<str>,
    op: Op,
    /// Every elementary axis' length: the IR's axes, then one per ellipsis
    /// dimension.
    lens: Lens,
    /// Every elementary axis' label, for `Display` and errors.
    labels: Labels,
    input_shape: Lens,
    /// For each input dimension, its elementary axes, outermost first.
    input_dims: Dims,
    /// The output's elementary axes (kept and new), in output order.
    kept: Lens,
    /// Input axes that the output drops (reduce only).
    reduced: Lens,
    /// For each output dimension, its range in `kept`.
    output_dims: SmallVec<[(usize, usize); 8]>,
    output_shape: Lens,
    /// How each kept axis, then each reduced axis, reads the input.
    steps: SmallVec<[Step; 8]>,
    /// The view or the copy's loop nest for a standard-layout input, when
    /// the result is not empty (rearrange and repeat). Whether it holds a
    /// view is [`Plan::is_view`]: the same merge that builds the view the
    /// executor returns decides it.
    prepared: Option<Prepared>,
    /// Where errors about the result point: the output side.
    output_span: Span,
    /// Where errors about the input point: the input side.
    input_span: Span,
    /// For each output dimension, the group of the pattern it comes from.
    output_spans: SmallVec<[Span; 8]>,
}

/// For each dimension, its elementary axes (inline for up to four
/// dimensions of up to four axes each: planning allocates only the plan).
pub(crate) type Dims = SmallVec<[SmallVec<[usize; 4]>; 4]>;

/// The labels of elementary axes: a name is the pattern's text at its
/// span; the others (`2`, `...0`, einsum's names) are kept in `text`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Labels {
    spans: SmallVec<[Label; 8]>,
    text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    /// At this span of the pattern.
    Pattern(Span),
    /// At this span of [`Labels::text`].
    Own(Span),
}

impl Labels {
    /// A label that is the pattern's text at `span`.
    fn push_pattern(&mut self, span: Span) {
        self.spans.push(Label::Pattern(span));
    }

    /// A label of its own, written by `args`.
    fn push_own(&mut self, args: fmt::Arguments<'_>) {
        let start = self.text.len();
        // Writing to a `String` cannot fail.
        let _ = self.text.write_fmt(args);
        self.spans
            .push(Label::Own(Span::new(start, self.text.len())));
    }

    /// The label of axis `id` of a plan of `pattern`.
    fn get<'a>(&'a self, pattern: &'a str, id: usize) -> &'a str {
        match self.spans[id] {
            Label::Pattern(span) => &pattern[span.range()],
            Label::Own(span) => &self.text[span.range()],
        }
    }
}

impl Plan {
    /// The input shape this plan was made for.
    ///
    /// # Examples
    ///
    /// ```
    /// let plan = einplan::Rearrange::new("b (h w) -> b h w")?.with("h", 2)?.plan(&[3, 8])?;
    /// assert_eq!(plan.input_shape(), &[3, 8]);
    /// assert_eq!(plan.output_shape(), &[3, 2, 4]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The shape of the result.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Reduce, Reduction};
    ///
    /// let plan = Reduce::new("b c h w -> b c () ()", Reduction::Mean)?.plan(&[2, 3, 7, 7])?;
    /// assert_eq!(plan.output_shape(), &[2, 3, 1, 1]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Whether the result is a view (no data copied) when the input is in
    /// standard (row-major, contiguous) layout.
    ///
    /// For other layouts `apply` decides from the input's actual strides: a
    /// transposed input may need a copy where a standard one does not, and
    /// the other way round. An empty result is always a fresh array.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Rearrange;
    ///
    /// // Merging neighbours in memory: a view.
    /// let flat = Rearrange::new("b c h w -> b (c h w)")?.plan(&[2, 3, 4, 4])?;
    /// assert!(flat.is_view());
    /// // Merging `h w` after moving `c` behind them: a copy.
    /// let nhwc = Rearrange::new("b c h w -> b (h w c)")?.plan(&[2, 3, 4, 4])?;
    /// assert!(!nhwc.is_view());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn is_view(&self) -> bool {
        self.prepared.as_ref().is_some_and(|p| p.view().is_some())
    }

    /// An empty vector with room for `n` values of `T`, or the error that
    /// the result is too large: more than `isize::MAX` bytes, or more than
    /// the allocator can give. Never aborts on a huge request.
    pub(crate) fn buffer<T>(&self, n: usize) -> Result<Vec<T>, Error> {
        let too_large = || {
            let kind = ErrorKind::TooLarge {
                elements: n,
                element_size: std::mem::size_of::<T>(),
            };
            Error::new(&self.pattern, kind, self.output_span)
        };
        let bytes = n.checked_mul(std::mem::size_of::<T>());
        if bytes.is_none_or(|b| b > isize::MAX as usize) {
            return Err(too_large());
        }
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| too_large())?;
        Ok(v)
    }

    /// The error that an integer `operation` overflowed `element`.
    pub(crate) fn integer_overflow(
        &self,
        operation: &'static str,
        element: &'static str,
        wider: Option<&'static str>,
    ) -> Error {
        let kind = ErrorKind::IntegerOverflow {
            operation,
            element,
            wider,
        };
        Error::new(&self.pattern, kind, Span::new(0, self.pattern.len()))
    }

    /// The error that a shape overflows, pointing at the output side.
    pub(crate) fn overflow(&self) -> Error {
        Error::new(&self.pattern, ErrorKind::Overflow, self.output_span)
    }

    /// Checks that a caller's output array has the result's shape.
    pub(crate) fn check_output(&self, shape: &[usize]) -> Result<(), Error> {
        if shape == self.output_shape.as_slice() {
            return Ok(());
        }
        let kind = ErrorKind::OutputShape {
            expected: self.output_shape.to_vec(),
            found: shape.to_vec(),
        };
        Err(Error::new(&self.pattern, kind, self.output_span))
    }

    /// The view or the copy's loop nest for a standard-layout input
    /// (rearrange and repeat plans).
    pub(crate) fn prepared(&self) -> Option<&Prepared> {
        self.prepared.as_ref()
    }

    pub(crate) fn reduced_axes(&self) -> &[usize] {
        &self.reduced
    }

    /// The output's elementary axes, in output order, with their lengths.
    pub(crate) fn kept_lens(&self) -> SmallVec<[usize; 8]> {
        self.kept.iter().map(|&a| self.lens[a]).collect()
    }

    pub(crate) fn kept(&self) -> &[usize] {
        &self.kept
    }

    /// How the output's elementary axes read the input, in output order.
    pub(crate) fn kept_steps(&self) -> &[Step] {
        &self.steps[..self.kept.len()]
    }

    /// The kept axes' steps followed by the reduced axes' steps.
    pub(crate) fn all_steps(&self) -> &[Step] {
        &self.steps
    }

    /// For each output dimension, its range of elementary axes in
    /// [`kept_steps`](Plan::kept_steps).
    pub(crate) fn output_groups(&self) -> &[(usize, usize)] {
        &self.output_dims
    }

    pub(crate) fn axis_len(&self, axis: usize) -> usize {
        self.lens[axis]
    }

    pub(crate) fn input_dims(&self) -> &[SmallVec<[usize; 4]>] {
        &self.input_dims
    }

    pub(crate) fn axis_count(&self) -> usize {
        self.lens.len()
    }
}

/// Specialises `ir` to an input of `shape`.
pub(crate) fn plan(ir: &Ir, shape: &[usize]) -> Result<Arc<Plan>, Error> {
    let err = |kind, span| Error::new(&ir.pattern, kind, span);
    if shape.len() > MAX_DIMS {
        let kind = ErrorKind::TooManyDimensions {
            found: shape.len(),
            limit: MAX_DIMS,
        };
        return Err(err(kind, ir.input_span));
    }
    let has_ellipsis = ir.input_ellipsis.is_some();
    let fixed = ir.input().len() - usize::from(has_ellipsis);
    let rank_error = || {
        let kind = ErrorKind::RankMismatch {
            expected: fixed,
            found: shape.len(),
            at_least: has_ellipsis,
        };
        err(kind, ir.input_span)
    };
    let ellipsis_len = if has_ellipsis {
        shape.len().checked_sub(fixed).ok_or_else(rank_error)?
    } else if shape.len() != fixed {
        return Err(rank_error());
    } else {
        0
    };

    // Built in its `Arc` (new, so `make_mut` copies nothing): a plan is
    // large, and moving one costs more than most of the planning.
    let mut arc = Arc::new(Plan::empty(
        Arc::clone(&ir.pattern),
        ir.op,
        shape,
        ir.input_span,
        ir.output_span,
    ));
    let plan = Arc::make_mut(&mut arc);
    let mut lens: SmallVec<[Option<usize>; 8]> = ir.axes.iter().map(|a| a.len).collect();
    let labels = &mut plan.labels;
    for axis in &ir.axes {
        match axis.name {
            AxisName::Named => labels.push_pattern(axis.span),
            AxisName::Anon => labels.push_own(format_args!("{}", axis.len.unwrap_or(0))),
        }
    }
    let ellipsis_base = lens.len();
    for i in 0..ellipsis_len {
        lens.push(None);
        labels.push_own(format_args!("...{i}"));
    }
    let label = |labels: &Labels, id: usize| labels.get(&ir.pattern, id).to_owned();

    // Split: each input dimension into its elementary axes.
    let input_dims = &mut plan.input_dims;
    input_dims.reserve(shape.len());
    for group in ir.input() {
        if group.is_bare_ellipsis() {
            for i in 0..ellipsis_len {
                let id = ellipsis_base + i;
                lens[id] = Some(shape[input_dims.len()]);
                input_dims.push(smallvec![id]);
            }
            continue;
        }
        let dim = input_dims.len();
        let mut ids: SmallVec<[usize; 4]> = SmallVec::new();
        for item in &group.items {
            if let Item::Axis(id) = item {
                ids.push(id.0);
            }
        }
        infer(ir, &mut lens, labels, &ids, dim, shape[dim], group.span)?;
        input_dims.push(ids);
    }

    // The output's dimensions as groups of axes; only a new axis (repeat)
    // can still be unknown here.
    let mut output = Dims::with_capacity(ir.output().len());
    let output_spans = &mut plan.output_spans;
    for group in ir.output() {
        if group.is_bare_ellipsis() {
            for i in 0..ellipsis_len {
                output.push(smallvec![ellipsis_base + i]);
                output_spans.push(group.span);
            }
            continue;
        }
        let mut ids: SmallVec<[usize; 4]> = SmallVec::new();
        for item in &group.items {
            match item {
                Item::Axis(id) => ids.push(id.0),
                Item::Ellipsis => ids.extend(ellipsis_base..ellipsis_base + ellipsis_len),
            }
        }
        for &id in &ids {
            if lens[id].is_none() {
                let kind = ErrorKind::MissingLength {
                    name: label(labels, id),
                };
                return Err(err(kind, ir.axes[id].span));
            }
        }
        output.push(ids);
        output_spans.push(group.span);
    }
    debug_assert!(
        ir.op == Op::Reduce
            || input_dims
                .iter()
                .flatten()
                .all(|id| output.iter().flatten().any(|o| o == id))
    );
    // Every axis is known now: from the input, the caller or inference.
    plan.lens.extend(lens.iter().map(|l| l.unwrap_or(0)));
    plan.finish(&output)?;
    Ok(arc)
}

/// A plan as data, before its derived parts: the elementary axes with
/// their labels and lengths, how the input's dimensions split into them,
/// and how the output's dimensions group them.
pub(crate) struct Groups<'a> {
    /// The pattern errors point into.
    pub(crate) pattern: &'a str,
    pub(crate) op: Op,
    /// Each elementary axis' label (for `Display`) and length.
    pub(crate) labels: Vec<String>,
    pub(crate) lens: Vec<usize>,
    pub(crate) input_shape: &'a [usize],
    /// For each input dimension, its axes, outermost first; the product of
    /// their lengths is the dimension's length.
    pub(crate) input_dims: Vec<SmallVec<[usize; 4]>>,
    /// For each output dimension, its axes; input axes missing from every
    /// group are reduced, and axes in no input dimension are new.
    pub(crate) output: Vec<SmallVec<[usize; 4]>>,
    /// Where an overflow of each output dimension points.
    pub(crate) output_spans: Vec<Span>,
    /// Where errors about the whole input point.
    pub(crate) input_span: Span,
    /// Where errors about the whole result point.
    pub(crate) output_span: Span,
}

/// The plan that `groups` describes: its output shape (checked), the
/// reduced axes, how every axis reads the input, and the view or copy for a
/// standard-layout input. The typed constructor behind [`plan`] and the
/// rearranges einsum lowers to.
pub(crate) fn from_groups(g: Groups<'_>) -> Result<Plan, Error> {
    let mut labels = Labels::default();
    for label in &g.labels {
        labels.push_own(format_args!("{label}"));
    }
    let mut plan = Plan::empty(
        Arc::from(g.pattern),
        g.op,
        g.input_shape,
        g.input_span,
        g.output_span,
    );
    plan.lens = Lens::from_vec(g.lens);
    plan.labels = labels;
    plan.input_dims = Dims::from_vec(g.input_dims);
    plan.output_spans = SmallVec::from_vec(g.output_spans);
    plan.finish(&g.output)?;
    Ok(plan)
}

impl Plan {
    /// A plan of `pattern` for an input of `input_shape` with no axes yet,
    /// filled in by [`plan`] or [`from_groups`].
    fn empty(
        pattern: Arc<str>,
        op: Op,
        input_shape: &[usize],
        input_span: Span,
        output_span: Span,
    ) -> Plan {
        Plan {
            pattern,
            op,
            lens: Lens::new(),
            labels: Labels::default(),
            input_shape: Lens::from_slice(input_shape),
            input_dims: Dims::new(),
            kept: Lens::new(),
            reduced: Lens::new(),
            output_dims: SmallVec::new(),
            output_shape: Lens::new(),
            steps: SmallVec::new(),
            prepared: None,
            output_span,
            input_span,
            output_spans: SmallVec::new(),
        }
    }

    /// Derives, in place, what [`from_groups`] describes from the axes and
    /// the input's dimensions, and the output's dimensions as groups of
    /// axes (`output`, one per span of `output_spans`).
    fn finish(&mut self, output: &[SmallVec<[usize; 4]>]) -> Result<(), Error> {
        debug_assert_eq!(self.input_dims.len(), self.input_shape.len());
        let err = |kind, span| Error::new(&self.pattern, kind, span);
        // Read through a slice: indexing a `SmallVec` checks where it lives.
        let lens: &[usize] = &self.lens;
        let kept = &mut self.kept;
        for (ids, &span) in output.iter().zip(&self.output_spans) {
            let start = kept.len();
            let mut len: usize = 1;
            for &id in ids {
                len = len
                    .checked_mul(lens[id])
                    .ok_or_else(|| err(ErrorKind::Overflow, span))?;
                kept.push(id);
            }
            self.output_dims.push((start, kept.len()));
            self.output_shape.push(len);
        }
        // A shape ndarray cannot represent is refused here, even when a
        // length of 0 makes it empty: the result's, and, as in einops
        // (whose reshape into the elementary axes would fail), the input's
        // axes split out and then every axis together.
        if layout::checked_size(&self.output_shape).is_none() {
            return Err(err(ErrorKind::Overflow, self.output_span));
        }
        let split = self.input_dims.iter().flatten().map(|&id| lens[id]);
        if layout::checked_size_of(split).is_none() {
            return Err(err(ErrorKind::Overflow, self.input_span));
        }
        if layout::checked_size(lens).is_none() {
            return Err(err(ErrorKind::Overflow, self.output_span));
        }
        let kept: &[usize] = kept;
        self.reduced.extend(
            self.input_dims
                .iter()
                .flatten()
                .copied()
                .filter(|id| !kept.contains(id)),
        );

        // Each elementary axis steps through its input dimension by the
        // product of the lengths of the axes after it in that dimension's
        // group. (With a length 0 the input is empty and the steps are
        // never read.)
        let mut sources: SmallVec<[Option<(usize, usize)>; 8]> = smallvec![None; lens.len()];
        for (dim, ids) in self.input_dims.iter().enumerate() {
            let here = ids.iter().map(|&id| lens[id]);
            for (&id, mult) in ids.iter().rev().zip(layout::split_multipliers_rev(here)) {
                sources[id] = Some((dim, mult));
            }
        }
        self.steps.extend(
            kept.iter()
                .chain(&self.reduced)
                .map(|&id| match sources[id] {
                    Some((dim, mult)) => Step::along(lens[id], dim, mult),
                    None => Step::broadcast(lens[id]),
                }),
        );
        if self.reduced.is_empty() {
            self.prepared = Prepared::new(
                &self.input_shape,
                &self.input_dims,
                lens,
                kept,
                &self.output_dims,
            );
        }
        Ok(())
    }
}

/// What a group of axes says about the dimension it splits.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inference {
    /// Every length is known and they multiply to the dimension's.
    Checked,
    /// The one unknown axis `id` has length `len`.
    Inferred { id: usize, len: usize },
    /// More than one axis is unknown: nothing can be inferred (yet).
    Unknown(SmallVec<[usize; 2]>),
}

/// Why a group of axes does not fit its dimension; `known` is the product
/// of the known lengths.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GroupError {
    /// The known lengths multiply past `usize`.
    Overflow,
    /// Every length is known, and they multiply to `known`, not the
    /// dimension's length.
    Mismatch { known: usize },
    /// The dimension's length is not a multiple of `known`.
    NotDivisible { known: usize },
    /// The known lengths multiply to 0, so the one unknown axis `id`
    /// cannot be inferred.
    Zero { id: usize },
}

/// Length inference, written once for every operation and einsum: the
/// one unknown length of a group of axes (`ids`, lengths `lens`) that
/// splits a dimension of `length`, or a check of the group when every
/// length is known.
pub(crate) fn infer_group(
    lens: &[Option<usize>],
    ids: &[usize],
    length: usize,
) -> Result<Inference, GroupError> {
    let mut known: usize = 1;
    let mut unknown: SmallVec<[usize; 2]> = SmallVec::new();
    for &id in ids {
        match lens[id] {
            Some(len) => known = known.checked_mul(len).ok_or(GroupError::Overflow)?,
            // A repeated unknown (`(i i)` in einsum) counts twice: its
            // length is not a quotient.
            None => unknown.push(id),
        }
    }
    match unknown.as_slice() {
        [] if known == length => Ok(Inference::Checked),
        [] => Err(GroupError::Mismatch { known }),
        [one] if known != 0 && length.is_multiple_of(known) => Ok(Inference::Inferred {
            id: *one,
            len: length / known,
        }),
        [one] if known == 0 => Err(GroupError::Zero { id: *one }),
        [_] => Err(GroupError::NotDivisible { known }),
        _ => Ok(Inference::Unknown(unknown)),
    }
}

/// Infers the one unknown length of an input group, or checks the group
/// when every length is known.
fn infer(
    ir: &Ir,
    lens: &mut [Option<usize>],
    labels: &Labels,
    ids: &[usize],
    dim: usize,
    length: usize,
    span: Span,
) -> Result<(), Error> {
    let err = |kind| Error::new(&ir.pattern, kind, span);
    let label = |id: usize| labels.get(&ir.pattern, id).to_owned();
    // Shown as "b = 2", "b * c = 6", "2" or "1".
    let describe = |lens: &[Option<usize>], product: usize| KnownLengths {
        axes: ids
            .iter()
            .filter(|&&id| lens[id].is_some())
            .map(|&id| label(id))
            .collect(),
        product,
    };
    match infer_group(lens, ids, length) {
        Ok(Inference::Checked) => Ok(()),
        Ok(Inference::Inferred { id, len }) => {
            lens[id] = Some(len);
            Ok(())
        }
        Ok(Inference::Unknown(many)) => {
            let names = many.iter().map(|&id| label(id)).collect();
            Err(err(ErrorKind::Underdetermined { names }))
        }
        Err(GroupError::Overflow) => Err(err(ErrorKind::Overflow)),
        Err(GroupError::Mismatch { known }) => Err(err(ErrorKind::LengthMismatch {
            dim,
            length,
            expected: describe(lens, known),
        })),
        Err(GroupError::NotDivisible { known }) => Err(err(ErrorKind::NotDivisible {
            dim,
            length,
            divisor: describe(lens, known),
        })),
        Err(GroupError::Zero { id }) => Err(err(ErrorKind::ZeroInGroup {
            name: label(id),
            dim,
            length,
            zero: describe(lens, 0),
        })),
    }
}

impl fmt::Display for Plan {
    /// Explains the plan: elementary axes, split, permutation, reduction,
    /// merge, the same as primitive ops ([`Plan::recipe`]), and whether a
    /// standard-layout input gives a view.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let axis = |id: &usize| self.axis_label(*id);
        let groups = |dims: &mut dyn Iterator<Item = &[usize]>| -> String {
            dims.map(|ids| {
                let names: Vec<&str> = ids.iter().map(axis).collect();
                format!("({})", names.join(" "))
            })
            .collect::<Vec<_>>()
            .join(" ")
        };
        writeln!(
            f,
            "{} `{}` on input {:?}",
            self.op.name(),
            self.pattern,
            self.input_shape
        )?;
        let all: Vec<String> = (0..self.axis_count())
            .map(|a| format!("{}={}", self.axis_label(a), self.lens[a]))
            .collect();
        writeln!(f, "  axes:    {}", all.join(" "))?;
        let split = groups(&mut self.input_dims.iter().map(|d| d.as_slice()));
        writeln!(f, "  split:   {split}")?;
        let order: Vec<&str> = self.kept.iter().map(axis).collect();
        writeln!(f, "  permute: {}", order.join(" "))?;
        if !self.reduced.is_empty() {
            let red: Vec<&str> = self.reduced.iter().map(axis).collect();
            writeln!(f, "  reduce:  {}", red.join(" "))?;
        }
        let merge = groups(&mut self.output_dims.iter().map(|&(s, e)| &self.kept[s..e]));
        writeln!(f, "  merge:   {merge} -> {:?}", self.output_shape)?;
        writeln!(f, "  recipe:  {}", self.recipe())?;
        let how = if self.is_view() {
            "view (no data moves for a standard-layout input)"
        } else {
            "copy"
        };
        write!(f, "  result:  {how}")
    }
}

/// Accessors for the layout API (`strided`), the recipe and the views.
impl Plan {
    pub(crate) fn pattern(&self) -> &str {
        &self.pattern
    }

    pub(crate) fn input_span(&self) -> Span {
        self.input_span
    }

    pub(crate) fn output_span(&self) -> Span {
        self.output_span
    }

    /// The span of the pattern's group that output dimension `dim` comes
    /// from.
    pub(crate) fn output_dim_span(&self, dim: usize) -> Span {
        self.output_spans
            .get(dim)
            .copied()
            .unwrap_or(self.output_span)
    }

    /// An elementary axis' name as the plan's `Display` shows it.
    pub(crate) fn axis_label(&self, axis: usize) -> &str {
        self.labels.get(&self.pattern, axis)
    }
}

#[cfg(test)]
mod tests;
