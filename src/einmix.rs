//! `EinMix`: einops' linear layer whose weight and bias shapes come from
//! the pattern.
//!
//! Validation mirrors einops' `_EinmixMixin.initialize_einmix`; execution
//! is built from the public ops: one [`Einsum`] (input, weight → the
//! output with its groups flattened; einsum splits input groups itself),
//! the bias added by broadcasting, and a [`Rearrange`] that merges the
//! output groups, which on the einsum's standard-layout result is a
//! reshape.

use std::collections::{HashMap, HashSet};
use std::fmt;

use ndarray::{
    ArrayBase, ArrayD, ArrayViewMutD, Data, DataMut, Dimension, IxDyn, LinalgScalar, Zip,
};

use crate::ast::{AtomKind, Expr, Term};
use crate::error::{Error, ErrorKind, Side};
use crate::parse::{parse_expr, parse_pattern};
use crate::resolve::first_use;
use crate::span::Span;
use crate::{Einsum, Rearrange};

/// The operation name used in error messages.
const OP: &str = "EinMix";

/// The seed of [`EinMix::new`]'s initial weights.
const DEFAULT_SEED: u64 = 0;

/// A linear layer described by an einops pattern, as einops' `EinMix`.
///
/// `EinMix::new(pattern, weight_shape, bias_shape, lengths)` takes the
/// same arguments as einops' `EinMix(pattern, weight_shape=…,
/// bias_shape=…, **axes_lengths)`. Applying it computes
/// `einsum(input, weight)` with the input side of `pattern` as the first
/// operand and `weight_shape` as the second, adds the bias, and shapes the
/// result as the output side of `pattern`:
///
/// - the weight has one axis per name of `weight_shape`, in that order,
///   and every weight axis needs a length in `lengths`;
/// - weight axes on the input side are mixed (summed over when the output
///   does not have them); weight axes only on the output side are
///   produced; input axes missing from both the weight and the output are
///   summed over;
/// - groups on either side of `pattern` split and merge axes as in
///   rearrange, and `...` (on both sides or neither) stands for
///   dimensions that pass through;
/// - the bias depends on the axes of `bias_shape`, which must be output
///   axes with lengths given. As in einops, the bias array has one
///   dimension per named output axis (groups flattened, `...` left out)
///   in the output's order, of length 1 where the bias does not depend on
///   the axis: for `b t (h k)` and bias `h k` its shape is `[1, 1, h, k]`.
///
/// The initial parameters are deterministic (a fixed seed, or
/// [`with_seed`](EinMix::with_seed)) and drawn as einops draws them:
/// the weight uniformly from `±√(3 / fan_in)` and the bias from
/// `±√(1 / fan_in)`, where `fan_in` is the product of the lengths of the
/// weight axes that the output does not have (the number of input
/// elements mixed into each output element). Load trained parameters with
/// [`set_weight`](EinMix::set_weight) and [`set_bias`](EinMix::set_bias).
///
/// The element type is any type [`Einsum`] multiplies ([`LinalgScalar`]);
/// the default initialisation needs a float (`f32` or `f64`). The result is
/// always a fresh array in standard layout.
///
/// # Examples
///
/// A multi-head linear layer: each of 4 heads mixes its 8 channels into
/// 16, with a bias per head and output channel.
///
/// ```
/// use einplan::EinMix;
/// use ndarray::Array3;
///
/// let mix = EinMix::<f32>::new(
///     "b t (h d) -> b t (h k)",
///     "h d k",
///     Some("h k"),
///     &[("h", 4), ("d", 8), ("k", 16)],
/// )?;
/// assert_eq!(mix.weight().shape(), &[4, 8, 16]);
/// assert_eq!(mix.bias().unwrap().shape(), &[1, 1, 4, 16]);
///
/// let x = Array3::<f32>::ones((2, 10, 32));
/// let y = mix.apply(&x)?;
/// assert_eq!(y.shape(), &[2, 10, 64]);
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// Mistakes point into the string they are in, here the weight shape:
///
/// ```
/// use einplan::{EinMix, ErrorKind};
///
/// let err = EinMix::<f32>::new("b (h d) -> b h", "(h d)", None, &[("h", 2), ("d", 3)])
///     .unwrap_err();
/// assert_eq!(err.pattern(), "(h d)");
/// assert!(matches!(err.kind(), ErrorKind::Unsupported { .. }));
/// ```
///
/// # Errors
///
/// [`new`](EinMix::new) enforces einops' rules, each as an [`Error`] whose
/// [`pattern`](Error::pattern) is the string at fault (`pattern`,
/// `weight_shape` or `bias_shape`) with its span on the offending part:
///
/// | rule | [`ErrorKind`] |
/// |---|---|
/// | `pattern` is one input, `->`, one output, without `*` or `_` | syntax kinds, [`Unsupported`](ErrorKind::Unsupported) |
/// | no axis twice on one side or in the weight or bias | [`DuplicateAxis`](ErrorKind::DuplicateAxis) |
/// | every output axis is an input or a weight axis | [`OneSidedAxis`](ErrorKind::OneSidedAxis) |
/// | `...` on both sides or neither, not in an input group | [`OneSidedEllipsis`](ErrorKind::OneSidedEllipsis), [`EllipsisInInputGroup`](ErrorKind::EllipsisInInputGroup) |
/// | no anonymous axes other than `1` in `pattern` or the bias, none in the weight | [`AnonymousAxis`](ErrorKind::AnonymousAxis) |
/// | no `...` or groups in the weight, no `...` in the bias | [`Unsupported`](ErrorKind::Unsupported) |
/// | every weight axis has a length | [`WeightLength`](ErrorKind::WeightLength) |
/// | every length is for an input or a weight axis | [`UnusedLength`](ErrorKind::UnusedLength) |
/// | every weight axis is on a side of `pattern` | [`WeightAxisUnused`](ErrorKind::WeightAxisUnused) |
/// | every bias axis is an output axis with a length | [`BiasAxisNotInOutput`](ErrorKind::BiasAxisNotInOutput), [`BiasLength`](ErrorKind::BiasLength) |
/// | no bias axis before the output's `...` | [`BiasBeforeEllipsis`](ErrorKind::BiasBeforeEllipsis) |
/// | `fan_in` is not zero | [`ZeroFanIn`](ErrorKind::ZeroFanIn) |
/// | no length twice; the weight's size fits in memory | [`DuplicateLength`](ErrorKind::DuplicateLength), [`Overflow`](ErrorKind::Overflow) |
///
/// Unlike einops, a length given for an input axis is always checked
/// against the input, not only when the input side has a group.
#[derive(Clone)]
pub struct EinMix<A = f32> {
    pattern: String,
    weight_shape: String,
    bias_shape: Option<String>,
    /// `input, weight -> output with groups flattened`; the input part is
    /// `pattern`'s input side verbatim, so its spans map back unchanged.
    einsum: Einsum,
    /// Where the input side ends in `pattern` (and in the einsum pattern).
    input_end: usize,
    /// Every named axis of `pattern` with its first span, input side
    /// first, to map einsum errors back into `pattern`.
    names: Vec<(String, Span)>,
    /// The output side's span in `pattern`.
    output_span: Span,
    /// Merges the flattened output into the output's groups.
    post: Option<Rearrange>,
    weight: ArrayD<A>,
    bias: Option<ArrayD<A>>,
    fan_in: usize,
}

impl<A: LinalgScalar + From<f32>> EinMix<A> {
    /// Checks the pattern and the weight and bias shapes as einops does,
    /// and draws the initial parameters from a fixed seed.
    ///
    /// `bias_shape` is `None` for a layer without bias; `Some("")` is a
    /// bias that depends on no axis (a single number).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::EinMix;
    ///
    /// // Mixing along the height, with a bias per output row.
    /// let mix = EinMix::<f64>::new("h w c -> hout w c", "h hout", Some("hout"), &[("h", 32), ("hout", 16)])?;
    /// assert_eq!(mix.fan_in(), 32);
    /// let bound = (3.0f64 / 32.0).sqrt();
    /// assert!(mix.weight().iter().all(|w| w.abs() <= bound));
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The rules listed on [`EinMix`].
    pub fn new(
        pattern: &str,
        weight_shape: &str,
        bias_shape: Option<&str>,
        lengths: &[(&str, usize)],
    ) -> Result<EinMix<A>, Error> {
        let spec = Spec::new(pattern, weight_shape, bias_shape, lengths)?;
        let weight = alloc(weight_shape, &spec.weight_dims)?;
        let bias = match (&spec.bias_dims, bias_shape) {
            (Some(dims), Some(text)) => Some(alloc(text, dims)?),
            _ => None,
        };
        // The einsum and rearrange are built from checked parts, so they
        // should not fail; if they do, the error points at all of
        // `pattern`, not into text the caller never wrote.
        let built = |e: Error| Error::new(pattern, e.kind().clone(), whole(pattern));
        let mut einsum = Einsum::new(&spec.einsum_pattern).map_err(built)?;
        for &(name, len) in lengths {
            if spec.input_names.contains(name) {
                einsum = einsum.with(name, len).map_err(built)?;
            }
        }
        let post = match &spec.post_pattern {
            Some(p) => Some(Rearrange::new(p).map_err(built)?),
            None => None,
        };
        let mix = EinMix {
            pattern: pattern.to_owned(),
            weight_shape: weight_shape.to_owned(),
            bias_shape: bias_shape.map(str::to_owned),
            einsum,
            input_end: spec.input_end,
            names: spec.names,
            output_span: spec.output_span,
            post,
            weight,
            bias,
            fan_in: spec.fan_in,
        };
        Ok(mix.with_seed(DEFAULT_SEED))
    }

    /// Draws new initial parameters from `seed`: the weight (in standard
    /// order) then the bias, uniformly within einops' bounds (see
    /// [`EinMix`]). The same seed always gives the same parameters, and
    /// `f64` layers get the `f32` layer's values widened.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::EinMix;
    ///
    /// let a = EinMix::<f32>::new("b c -> b d", "c d", Some("d"), &[("c", 3), ("d", 2)])?;
    /// let b = a.clone().with_seed(7);
    /// assert_ne!(a.weight(), b.weight());
    /// assert_eq!(b.weight(), a.with_seed(7).weight());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn with_seed(mut self, seed: u64) -> EinMix<A> {
        let mut rng = SplitMix64(seed);
        let fan_in = self.fan_in as f64;
        let weight_bound = (3.0 / fan_in).sqrt();
        let bias_bound = (1.0 / fan_in).sqrt();
        for w in self.weight.iter_mut() {
            *w = A::from(rng.uniform(weight_bound));
        }
        if let Some(bias) = &mut self.bias {
            for b in bias.iter_mut() {
                *b = A::from(rng.uniform(bias_bound));
            }
        }
        self
    }
}

impl<A: LinalgScalar> EinMix<A> {
    /// The pattern as given to [`new`](EinMix::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let mix = einplan::EinMix::<f32>::new("b c -> b d", "c d", None, &[("c", 3), ("d", 2)])?;
    /// assert_eq!(mix.pattern(), "b c -> b d");
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The weight shape as given to [`new`](EinMix::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let mix = einplan::EinMix::<f32>::new("b c -> b d", "d c", None, &[("c", 3), ("d", 2)])?;
    /// assert_eq!(mix.weight_shape(), "d c");
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn weight_shape(&self) -> &str {
        &self.weight_shape
    }

    /// The bias shape as given to [`new`](EinMix::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let mix = einplan::EinMix::<f32>::new("b c -> b d", "c d", Some("d"), &[("c", 3), ("d", 2)])?;
    /// assert_eq!(mix.bias_shape(), Some("d"));
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn bias_shape(&self) -> Option<&str> {
        self.bias_shape.as_deref()
    }

    /// The number of input elements mixed into each output element: the
    /// product of the lengths of the weight axes the output does not have.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::EinMix;
    ///
    /// let lengths = [("h", 4), ("d", 8), ("k", 16)];
    /// let mix = EinMix::<f32>::new("b (h d) -> b (h k)", "h d k", None, &lengths)?;
    /// assert_eq!(mix.fan_in(), 8); // `h` and `k` are output axes
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn fan_in(&self) -> usize {
        self.fan_in
    }

    /// The weight: one dimension per axis of the weight shape, in its
    /// order.
    ///
    /// # Examples
    ///
    /// ```
    /// let mix = einplan::EinMix::<f32>::new("b c -> b d", "d c", None, &[("c", 3), ("d", 2)])?;
    /// assert_eq!(mix.weight().shape(), &[2, 3]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn weight(&self) -> &ArrayD<A> {
        &self.weight
    }

    /// The bias, if the layer has one, in einops' shape (see [`EinMix`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::EinMix;
    ///
    /// let mix = EinMix::<f32>::new("b c h w -> b d h w", "c d", Some("d"), &[("c", 3), ("d", 2)])?;
    /// assert_eq!(mix.bias().unwrap().shape(), &[1, 2, 1, 1]);
    /// let no_bias = EinMix::<f32>::new("b c -> b d", "c d", None, &[("c", 3), ("d", 2)])?;
    /// assert!(no_bias.bias().is_none());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn bias(&self) -> Option<&ArrayD<A>> {
        self.bias.as_ref()
    }

    /// Replaces the weight by `weight` (copied), which must have the shape
    /// of [`weight`](EinMix::weight). Any layout and dimension type is
    /// accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::EinMix;
    /// use ndarray::array;
    ///
    /// let mut mix = EinMix::<f64>::new("b c -> b d", "c d", None, &[("c", 2), ("d", 2)])?;
    /// mix.set_weight(&array![[0.0, 1.0], [1.0, 0.0]])?; // swaps the two channels
    /// assert_eq!(mix.apply(&array![[3.0, 4.0]])?, array![[4.0, 3.0]].into_dyn());
    /// assert!(mix.set_weight(&array![1.0, 2.0]).is_err());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ParameterShape`], pointing at the weight shape, if the shapes
    /// differ; the weight is then left as it was.
    pub fn set_weight<S, D>(&mut self, weight: &ArrayBase<S, D>) -> Result<(), Error>
    where
        S: Data<Elem = A>,
        D: Dimension,
    {
        check_shape(
            "weight",
            &self.weight_shape,
            self.weight.shape(),
            weight.shape(),
        )?;
        self.weight.assign(&weight.view().into_dyn());
        Ok(())
    }

    /// Replaces the bias by `bias` (copied), which must have the shape of
    /// [`bias`](EinMix::bias). Any layout and dimension type is accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::EinMix;
    /// use ndarray::array;
    ///
    /// let mut mix = EinMix::<f64>::new("b c -> b d", "c d", Some("d"), &[("c", 2), ("d", 2)])?;
    /// mix.set_weight(&array![[1.0, 0.0], [0.0, 1.0]])?;
    /// mix.set_bias(&array![[10.0, 20.0]])?; // shape [1, d]
    /// assert_eq!(mix.apply(&array![[3.0, 4.0]])?, array![[13.0, 24.0]].into_dyn());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NoBias`] if the layer has no bias (pointing at the
    /// pattern) or the shapes differ (pointing at the bias shape); the bias
    /// is then left as it was.
    pub fn set_bias<S, D>(&mut self, bias: &ArrayBase<S, D>) -> Result<(), Error>
    where
        S: Data<Elem = A>,
        D: Dimension,
    {
        let (Some(own), Some(text)) = (&mut self.bias, &self.bias_shape) else {
            return Err(Error::new(
                &self.pattern,
                ErrorKind::NoBias,
                whole(&self.pattern),
            ));
        };
        check_shape("bias", text, own.shape(), bias.shape())?;
        own.assign(&bias.view().into_dyn());
        Ok(())
    }

    /// Applies the layer to `x`: a fresh array in standard layout, shaped
    /// as the output side of the pattern.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::EinMix;
    /// use ndarray::Array4;
    ///
    /// // A 1x1 convolution over channels, with a bias per output channel.
    /// let conv = EinMix::<f32>::new("b c h w -> b co h w", "c co", Some("co"), &[("c", 3), ("co", 8)])?;
    /// let y = conv.apply(&Array4::<f32>::zeros((2, 3, 5, 5)))?;
    /// assert_eq!(y.shape(), &[2, 8, 5, 5]);
    /// // A zero input gives the bias.
    /// let bias = conv.bias().unwrap();
    /// assert_eq!(y[[1, 4, 2, 3]], bias[[0, 4, 0, 0]]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The input's errors of [`einsum`](crate::einsum), pointing into the
    /// pattern: a rank that does not match the input side, a length that
    /// does not divide or match a group, an input axis whose length
    /// differs from the weight's or from a given length, overflow, and a
    /// result too large to allocate.
    pub fn apply<S, D>(&self, x: &ArrayBase<S, D>) -> Result<ArrayD<A>, Error>
    where
        S: Data<Elem = A>,
        D: Dimension,
    {
        let operands = [x.view().into_dyn(), self.weight.view()];
        let mut y = self.einsum.apply(&operands).map_err(|e| self.remap(&e))?;
        self.add_bias(y.view_mut())?;
        if let Some(post) = &self.post {
            let shape = post
                .plan(y.shape())
                .map_err(|e| self.remap(&e))?
                .output_shape()
                .to_vec();
            let found = y.shape().to_vec();
            y = y.into_shape_with_order(IxDyn(&shape)).map_err(|_| {
                self.unreachable(ErrorKind::OutputShape {
                    expected: shape.clone(),
                    found,
                })
            })?;
        }
        Ok(y)
    }

    /// Applies the layer to `x`, writing the result into `out`, an array
    /// of the result's shape in any layout.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::EinMix;
    /// use ndarray::{Array2, array};
    ///
    /// let mut mix = EinMix::<f64>::new("b c -> b d", "c d", None, &[("c", 2), ("d", 3)])?;
    /// mix.set_weight(&array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])?;
    /// let mut out = Array2::zeros((1, 3));
    /// mix.apply_into(&array![[1.0, 1.0]], &mut out)?;
    /// assert_eq!(out, array![[5.0, 7.0, 9.0]]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`apply`](EinMix::apply), and [`ErrorKind::OutputShape`] (pointing
    /// at the output side) if `out`'s shape is not the result's; `out` is
    /// then left as it was.
    pub fn apply_into<S, D, S2, D2>(
        &self,
        x: &ArrayBase<S, D>,
        out: &mut ArrayBase<S2, D2>,
    ) -> Result<(), Error>
    where
        S: Data<Elem = A>,
        D: Dimension,
        S2: DataMut<Elem = A>,
        D2: Dimension,
    {
        let operands = [x.view().into_dyn(), self.weight.view()];
        let into = |out: &mut ArrayViewMutD<'_, A>| {
            // The einsum writes straight into `out`; the bias is added there.
            self.einsum
                .apply_into(&operands, out)
                .map_err(|e| match e.kind() {
                    ErrorKind::OutputShape { .. } => {
                        Error::new(&self.pattern, e.kind().clone(), self.output_span)
                    }
                    _ => self.remap(&e),
                })
        };
        let Some(post) = &self.post else {
            let mut out = out.view_mut().into_dyn();
            into(&mut out)?;
            return self.add_bias(out);
        };
        // Merging the einsum's axes into the output's groups keeps their
        // order, so `out` split into the einsum's dimensions (in any
        // layout) takes its result directly.
        let shapes = [x.shape(), self.weight.shape()];
        let flat = self
            .einsum
            .output_shape(&shapes)
            .map_err(|e| self.remap(&e))?;
        let plan = post.plan(&flat).map_err(|e| self.remap(&e))?;
        if out.shape() != plan.output_shape() {
            let kind = ErrorKind::OutputShape {
                expected: plan.output_shape().to_vec(),
                found: out.shape().to_vec(),
            };
            return Err(Error::new(&self.pattern, kind, self.output_span));
        }
        if let Ok(mut flat) = crate::exec::source::split_mut(out.view_mut().into_dyn(), &flat) {
            into(&mut flat)?;
            return self.add_bias(flat);
        }
        // An empty `out` (nothing to split), of the shape checked above.
        let y = self.apply(x)?;
        Zip::from(out.view_mut().into_dyn())
            .and(&y)
            .for_each(|o, &v| *o = v);
        Ok(())
    }

    /// `y += bias`, the bias broadcast over `y` (the einsum's result).
    fn add_bias(&self, mut y: ArrayViewMutD<'_, A>) -> Result<(), Error> {
        let Some(bias) = &self.bias else {
            return Ok(());
        };
        let Some(bias) = bias.broadcast(y.raw_dim()) else {
            return Err(self.unreachable(ErrorKind::ParameterShape {
                parameter: "bias",
                expected: y.shape().to_vec(),
                found: bias.shape().to_vec(),
            }));
        };
        Zip::from(&mut y).and(&bias).for_each(|y, &b| *y = *y + b);
        Ok(())
    }

    /// An einsum or rearrange error, pointed into the user's pattern
    /// instead of the pattern built from it.
    fn remap(&self, e: &Error) -> Error {
        let built = e.pattern();
        let map = |range: std::ops::Range<usize>| -> Span {
            if range.end <= self.input_end {
                return Span::new(range.start, range.end);
            }
            let text = built.get(range).unwrap_or("");
            self.names
                .iter()
                .find(|(name, _)| name == text)
                .map_or(self.output_span, |&(_, span)| span)
        };
        let span = map(e.span());
        let out = Error::new(&self.pattern, e.kind().clone(), span);
        match e.aux_span().map(map) {
            Some(aux) if aux != span => out.with_aux(aux),
            _ => out,
        }
    }

    /// An error that the checks in `new` rule out.
    fn unreachable(&self, kind: ErrorKind) -> Error {
        Error::new(&self.pattern, kind, self.output_span)
    }
}

impl<A> fmt::Debug for EinMix<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EinMix")
            .field("pattern", &self.pattern)
            .field("weight_shape", &self.weight_shape)
            .field("bias_shape", &self.bias_shape)
            .field("weight", &self.weight.shape())
            .field("bias", &self.bias.as_ref().map(ArrayD::shape))
            .field("einsum", &self.einsum.pattern())
            .finish()
    }
}

/// A span covering all of `text`.
fn whole(text: &str) -> Span {
    Span::new(0, text.len())
}

fn check_shape(
    what: &'static str,
    text: &str,
    expected: &[usize],
    found: &[usize],
) -> Result<(), Error> {
    if expected == found {
        return Ok(());
    }
    let kind = ErrorKind::ParameterShape {
        parameter: what,
        expected: expected.to_vec(),
        found: found.to_vec(),
    };
    Err(Error::new(text, kind, whole(text)))
}

/// A zeroed parameter of `dims`, or an error if it cannot be allocated.
fn alloc<A: LinalgScalar>(text: &str, dims: &[usize]) -> Result<ArrayD<A>, Error> {
    let overflow = || Error::new(text, ErrorKind::Overflow, whole(text));
    let n = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| {
            n.checked_mul(size_of::<A>().max(1))
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(overflow)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| overflow())?;
    v.resize(n, A::zero());
    ArrayD::from_shape_vec(IxDyn(dims), v).map_err(|_| overflow())
}

/// What `new` derives from its arguments before allocating.
struct Spec {
    einsum_pattern: String,
    post_pattern: Option<String>,
    input_end: usize,
    input_names: HashSet<String>,
    names: Vec<(String, Span)>,
    output_span: Span,
    weight_dims: Vec<usize>,
    bias_dims: Option<Vec<usize>>,
    fan_in: usize,
}

impl Spec {
    fn new(
        pattern: &str,
        weight_shape: &str,
        bias_shape: Option<&str>,
        lengths: &[(&str, usize)],
    ) -> Result<Spec, Error> {
        let err = |kind, span| Error::new(pattern, kind, span);
        let ast = parse_pattern(pattern)?;
        if let Some(second) = ast.inputs.get(1) {
            let kind = ErrorKind::Unsupported {
                what: "`,`",
                op: OP,
            };
            let span = Span::new(ast.inputs[0].span.end, second.span.start);
            return Err(err(kind, span));
        }
        let left = &ast.inputs[0];
        let right = &ast.output;
        let left_names = side_names(pattern, left, Side::Input)?;
        let right_names = side_names(pattern, right, Side::Output)?;
        let weight = parse_expr(weight_shape)?;
        let weight_names = side_names(weight_shape, &weight, Side::Input)?;
        let bias = bias_shape.map(parse_expr).transpose()?;
        let bias_names = match (&bias, bias_shape) {
            (Some(b), Some(text)) => Some(side_names(text, b, Side::Output)?),
            _ => None,
        };

        // einops' order of checks: output axes come from the input or the
        // weight.
        for (name, span) in &right_names {
            if !left_names.iter().any(|(n, _)| n == name)
                && !weight_names.iter().any(|(n, _)| n == name)
            {
                let kind = ErrorKind::OneSidedAxis {
                    name: name.clone(),
                    side: Side::Output,
                    op: OP,
                };
                return Err(err(kind, *span));
            }
        }
        // The weight has no `...`; `...` is on both sides or neither, and
        // not in an input group.
        if let Some(a) = weight.atoms().find(|a| a.kind == AtomKind::Ellipsis) {
            let kind = ErrorKind::Unsupported {
                what: "`...` (the weight's shape must be fully given)",
                op: "EinMix weight",
            };
            return Err(Error::new(weight_shape, kind, a.span));
        }
        let ellipsis = |e: &Expr| {
            e.atoms()
                .find(|a| a.kind == AtomKind::Ellipsis)
                .map(|a| a.span)
        };
        match (ellipsis(left), ellipsis(right)) {
            (Some(span), None) | (None, Some(span)) => {
                let side = if ellipsis(left).is_some() {
                    Side::Input
                } else {
                    Side::Output
                };
                let kind = ErrorKind::OneSidedEllipsis { side, op: OP };
                return Err(err(kind, span));
            }
            _ => {}
        }
        for term in &left.terms {
            if let Term::Group { atoms, .. } = term
                && let Some(a) = atoms.iter().find(|a| a.kind == AtomKind::Ellipsis)
            {
                return Err(err(ErrorKind::EllipsisInInputGroup, a.span));
            }
        }
        // No anonymous axes but `1` in the pattern, none in the weight.
        for atom in left.atoms().chain(right.atoms()) {
            if let AtomKind::Number(len) = atom.kind
                && len != 1
            {
                let kind = ErrorKind::AnonymousAxis {
                    op: OP,
                    len,
                    side: Side::Input,
                };
                return Err(err(kind, atom.span));
            }
        }
        for atom in weight.atoms() {
            if let AtomKind::Number(len) = atom.kind {
                let kind = ErrorKind::AnonymousAxis {
                    op: "an EinMix weight",
                    len,
                    side: Side::Input,
                };
                return Err(Error::new(weight_shape, kind, atom.span));
            }
        }
        if let Some(Term::Group { span, .. }) = weight
            .terms
            .iter()
            .find(|t| matches!(t, Term::Group { .. }))
        {
            let kind = ErrorKind::Unsupported {
                what: "a group",
                op: "EinMix weight",
            };
            return Err(Error::new(weight_shape, kind, *span));
        }

        // Lengths: each once, every weight axis has one, each for an
        // input or a weight axis.
        let mut given: HashMap<&str, usize> = HashMap::new();
        for &(name, len) in lengths {
            if given.insert(name, len).is_some() {
                let kind = ErrorKind::DuplicateLength { name: name.into() };
                return Err(err(kind, whole(pattern)));
            }
        }
        for (name, span) in &weight_names {
            if !given.contains_key(name.as_str()) {
                let kind = ErrorKind::WeightLength { name: name.clone() };
                return Err(Error::new(weight_shape, kind, *span));
            }
        }
        for &(name, _) in lengths {
            let known = |names: &[(String, Span)]| names.iter().any(|(n, _)| n == name);
            if !known(&left_names) && !known(&weight_names) {
                let kind = ErrorKind::UnusedLength { name: name.into() };
                return Err(err(kind, whole(pattern)));
            }
        }
        for (name, span) in &weight_names {
            let known = |names: &[(String, Span)]| names.iter().any(|(n, _)| n == name);
            if !known(&left_names) && !known(&right_names) {
                let kind = ErrorKind::WeightAxisUnused { name: name.clone() };
                return Err(Error::new(weight_shape, kind, *span));
            }
        }

        let weight_dims: Vec<usize> = weight_names
            .iter()
            .map(|(n, _)| given[n.as_str()])
            .collect();
        let mut fan_in = 1usize;
        for (name, _) in &weight_names {
            if !right_names.iter().any(|(n, _)| n == name) {
                fan_in = fan_in.checked_mul(given[name.as_str()]).ok_or_else(|| {
                    Error::new(weight_shape, ErrorKind::Overflow, whole(weight_shape))
                })?;
            }
        }

        let bias_dims = match (&bias, bias_shape, &bias_names) {
            (Some(bias), Some(text), Some(bias_names)) => Some(bias_dims(
                pattern,
                right,
                text,
                bias,
                bias_names,
                &right_names,
                &given,
            )?),
            _ => None,
        };
        if fan_in == 0 {
            let kind = ErrorKind::ZeroFanIn;
            return Err(Error::new(weight_shape, kind, whole(weight_shape)));
        }

        // The einsum: the input side verbatim, the weight, and the output
        // with its groups and unit axes flattened.
        let input_end = ast.arrow.start;
        let flat: Vec<&str> = right
            .atoms()
            .filter_map(|a| match &a.kind {
                AtomKind::Name(n) => Some(n.as_str()),
                AtomKind::Ellipsis => Some("..."),
                _ => None,
            })
            .collect();
        let flat = flat.join(" ");
        let weight_text: Vec<&str> = weight_names.iter().map(|(n, _)| n.as_str()).collect();
        let einsum_pattern = format!(
            "{}, {} -> {}",
            &pattern[..input_end],
            weight_text.join(" "),
            flat
        );
        let needs_post = right
            .terms
            .iter()
            .any(|t| !matches!(t, Term::Atom(a) if matches!(a.kind, AtomKind::Name(_) | AtomKind::Ellipsis)));
        let post_pattern = needs_post.then(|| format!("{flat} -> {}", &pattern[ast.arrow.end..]));

        let input_names = left_names.iter().map(|(n, _)| n.clone()).collect();
        let mut names = left_names;
        names.extend(right_names);
        Ok(Spec {
            einsum_pattern,
            post_pattern,
            input_end,
            input_names,
            names,
            output_span: right.span,
            weight_dims,
            bias_dims,
            fan_in,
        })
    }
}

/// The named axes of one side with their spans; a name twice is an error.
fn side_names(text: &str, expr: &Expr, side: Side) -> Result<Vec<(String, Span)>, Error> {
    let mut seen = HashMap::new();
    let mut names = Vec::new();
    for atom in expr.atoms() {
        match &atom.kind {
            AtomKind::Name(name) => {
                first_use(text, &mut seen, name, atom.span, side)?;
                names.push((name.clone(), atom.span));
            }
            AtomKind::Star | AtomKind::Skip => {
                let what = if atom.kind == AtomKind::Star {
                    "`*`"
                } else {
                    "`_`"
                };
                let kind = ErrorKind::Unsupported { what, op: OP };
                return Err(Error::new(text, kind, atom.span));
            }
            AtomKind::Number(_) | AtomKind::Ellipsis => {}
        }
    }
    Ok(names)
}

/// The bias's shape as einops makes it: per named output axis, its length
/// if the bias has it, else 1; and no bias axis before the output's `...`.
fn bias_dims(
    pattern: &str,
    right: &Expr,
    text: &str,
    bias: &Expr,
    bias_names: &[(String, Span)],
    right_names: &[(String, Span)],
    given: &HashMap<&str, usize>,
) -> Result<Vec<usize>, Error> {
    for atom in bias.atoms() {
        match atom.kind {
            AtomKind::Ellipsis => {
                let kind = ErrorKind::Unsupported {
                    what: "`...`",
                    op: "EinMix bias",
                };
                return Err(Error::new(text, kind, atom.span));
            }
            AtomKind::Number(len) if len != 1 => {
                let kind = ErrorKind::AnonymousAxis {
                    op: "an EinMix bias",
                    len,
                    side: Side::Output,
                };
                return Err(Error::new(text, kind, atom.span));
            }
            _ => {}
        }
    }
    for (name, span) in bias_names {
        if !right_names.iter().any(|(n, _)| n == name) {
            let kind = ErrorKind::BiasAxisNotInOutput { name: name.clone() };
            return Err(Error::new(text, kind, *span));
        }
    }
    for (name, span) in bias_names {
        if !given.contains_key(name.as_str()) {
            let kind = ErrorKind::BiasLength { name: name.clone() };
            return Err(Error::new(text, kind, *span));
        }
    }
    let mut dims = Vec::new();
    let mut first_bias_axis: Option<Span> = None;
    for atom in right.atoms() {
        match &atom.kind {
            AtomKind::Ellipsis => {
                if let Some(first) = first_bias_axis {
                    let kind = ErrorKind::BiasBeforeEllipsis;
                    return Err(Error::new(pattern, kind, atom.span).with_aux(first));
                }
            }
            AtomKind::Name(name) => match bias_names.iter().find(|(n, _)| n == name) {
                Some(_) => {
                    dims.push(given[name.as_str()]);
                    first_bias_axis.get_or_insert(atom.span);
                }
                None => dims.push(1),
            },
            _ => {}
        }
    }
    Ok(dims)
}

/// splitmix64 (Steele, Lea and Flood, 2014): a small, fast generator with
/// good statistical quality, enough for initial weights.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-bound, bound]`, rounded to `f32`.
    fn uniform(&mut self, bound: f64) -> f32 {
        // The top 53 bits: uniform in [0, 1) with every value a double.
        let unit = (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        (bound * (2.0 * unit - 1.0)) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_its_reference_sequence() {
        // The first outputs for seed 1234567 in the published C code.
        let mut rng = SplitMix64(1234567);
        let got: Vec<u64> = (0..3).map(|_| rng.next()).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423
            ]
        );
    }

    #[test]
    fn builds_einops_einsum_and_rearrange_patterns() {
        let s = Spec::new(
            "a ... (b c) -> a (... d b)",
            "c d b",
            Some("d b"),
            &[("b", 2), ("c", 3), ("d", 4)],
        )
        .unwrap();
        assert_eq!(s.einsum_pattern, "a ... (b c) , c d b -> a ... d b");
        assert_eq!(s.post_pattern.as_deref(), Some("a ... d b ->  a (... d b)"));
        assert_eq!(s.weight_dims, [3, 4, 2]);
        assert_eq!(s.bias_dims, Some(vec![1, 4, 2]));
        assert_eq!(s.fan_in, 3);
    }
}
