//! einops patterns on [`candle_core::Tensor`] (the `candle` feature).
//!
//! Every pattern is planned by einplan as for `ndarray`, then run one of
//! two ways:
//!
//! - **the kernel path**, for tensors on the CPU with an element type
//!   einplan's kernels take (`u8`, `u32`, `i16`, `i32`, `i64`, `f32`,
//!   `f64`): the tensor's storage is read in place through its layout
//!   (any strides and start offset) and the result is written by the same
//!   tiled, SIMD and threaded kernels as the `ndarray` entry points, into
//!   a new contiguous tensor. A result that is a plain reshape of a
//!   contiguous input shares the input's storage instead.
//! - **the recipe path** ([`apply_recipe`]), for every other tensor (GPU
//!   devices, `f16`, `bf16`): the plan's [`Recipe`](crate::Recipe) run with
//!   candle's own `reshape`, `permute`, `sum`/`max`/`min`/`mean`,
//!   `unsqueeze` and `broadcast_as`, on the tensor's device.
//!
//! Both give einops' results; `tests/candle.rs` replays the einops
//! fixtures through each. Errors are [`Error`]s that point into the
//! pattern; a failure inside candle comes back as
//! [`ErrorKind::Candle`] with candle's own error inside.
//!
//! ```
//! use candle_core::{Device, Tensor};
//!
//! let x = Tensor::arange(0f32, 24., &Device::Cpu)?.reshape((1, 2, 3, 4))?;
//! let y = einplan::candle::rearrange(&x, "b h w c -> b c (h w)", &[])?;
//! assert_eq!(y.dims(), &[1, 4, 6]);
//! assert_eq!(y.get(0)?.get(1)?.to_vec1::<f32>()?, [1., 5., 9., 13., 17., 21.]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;

use candle_core::{DType, Device, Storage, Tensor, WithDType};
use ndarray::{ArrayD, ArrayViewD, IxDyn, LinalgScalar};

use crate::args::Lengths;
use crate::compiled::cached;
use crate::einsum::Einsum;
use crate::error::{Error, ErrorKind};
use crate::ir::Op;
use crate::ops::{Rearrange, Reduce, Repeat};
use crate::plan::Plan;
use crate::recipe::Primitive;
use crate::reducible::Reducible;
use crate::reduction::Reduction;
use crate::span::Span;
use crate::strided::Layout;

/// An error from candle, kept whole inside an [`Error`]
/// ([`ErrorKind::Candle`]): [`CandleError::get`] gives candle's own
/// error to match on. Two `CandleError`s are equal when they are the same
/// error (candle's errors cannot be compared).
///
/// # Examples
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use einplan::ErrorKind;
///
/// // Candle has no bool tensors, so `any` fails inside candle's dtype checks
/// // or einplan's; either way the error points into the pattern.
/// let x = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
/// let err = einplan::candle::reduce(&x, "a b -> a", einplan::Reduction::Any, &[]).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::UnsupportedReduction { .. } | ErrorKind::Candle(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CandleError(Arc<candle_core::Error>);

impl CandleError {
    /// Candle's error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use candle_core::{Device, Tensor};
    /// # let x = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu)?;
    /// # if let Err(e) = einplan::candle::rearrange(&x, "a b -> b a", &[]) {
    /// if let einplan::ErrorKind::Candle(c) = e.kind() {
    ///     eprintln!("candle says: {}", c.get());
    /// }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> &candle_core::Error {
        &self.0
    }
}

impl PartialEq for CandleError {
    fn eq(&self, other: &CandleError) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CandleError {}

impl fmt::Debug for CandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for CandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for CandleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Wraps candle's error, pointing at the whole pattern.
fn wrap(pattern: &str) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| {
        let kind = ErrorKind::Candle(CandleError(Arc::new(e)));
        Error::new(pattern, kind, Span::new(0, pattern.len()))
    }
}

/// [`crate::rearrange`] on a candle tensor.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// // ShuffleNet's channel shuffle.
/// let x = Tensor::arange(0u32, 6, &Device::Cpu)?.reshape((1, 6, 1, 1))?;
/// let y = einplan::candle::rearrange(&x, "b (g c) h w -> b (c g) h w", &[("g", 2)])?;
/// assert_eq!(y.flatten_all()?.to_vec1::<u32>()?, [0, 3, 1, 4, 2, 5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`crate::rearrange`], and [`ErrorKind::Candle`] if candle fails.
pub fn rearrange<L>(x: &Tensor, pattern: &str, axes_lengths: &L) -> Result<Tensor, Error>
where
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Rearrange, pattern, axes_lengths)?;
    let plan = compiled.plan(x.dims())?;
    apply(&plan, x)
}

/// [`crate::repeat`] on a candle tensor.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let x = Tensor::new(&[1f32, 2.], &Device::Cpu)?;
/// let y = einplan::candle::repeat(&x, "w -> (w 2)", &[])?;
/// assert_eq!(y.to_vec1::<f32>()?, [1., 1., 2., 2.]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`crate::repeat`], and [`ErrorKind::Candle`] if candle fails.
pub fn repeat<L>(x: &Tensor, pattern: &str, axes_lengths: &L) -> Result<Tensor, Error>
where
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Repeat, pattern, axes_lengths)?;
    let plan = compiled.plan(x.dims())?;
    apply(&plan, x)
}

/// [`crate::reduce`] on a candle tensor. On the CPU every [`Reduction`]
/// runs in einplan's kernels (`f32` sums accumulate in `f64`); on other
/// devices `Sum`, `Mean`, `Min` and `Max` run as candle's reductions and
/// `Prod` is an error (candle has no product).
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// use einplan::Reduction;
///
/// let x = Tensor::arange(0f32, 16., &Device::Cpu)?.reshape((1, 4, 4))?;
/// let y = einplan::candle::reduce(&x, "c (h 2) (w 2) -> c h w", Reduction::Max, &[])?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [5., 7., 13., 15.]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`crate::reduce`], and [`ErrorKind::Candle`] if candle fails.
pub fn reduce<L>(
    x: &Tensor,
    pattern: &str,
    reduction: Reduction,
    axes_lengths: &L,
) -> Result<Tensor, Error>
where
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Reduce, pattern, axes_lengths)?;
    let plan = compiled.plan(x.dims())?;
    apply_reduce(&plan, x, reduction)
}

impl Rearrange {
    /// Rearranges a candle tensor; see [`rearrange`].
    ///
    /// # Examples
    ///
    /// ```
    /// let to_nchw = einplan::Rearrange::new("b h w c -> b c h w")?;
    /// let x = candle_core::Tensor::zeros((2, 8, 8, 3), candle_core::DType::F32, &candle_core::Device::Cpu)?;
    /// assert_eq!(to_nchw.apply_candle(&x)?.dims(), &[2, 3, 8, 8]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`rearrange`].
    pub fn apply_candle(&self, x: &Tensor) -> Result<Tensor, Error> {
        let plan = self.plan(x.dims())?;
        apply(&plan, x)
    }
}

impl Repeat {
    /// Repeats a candle tensor; see [`repeat`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rgb = einplan::Repeat::new("h w -> h w 3")?;
    /// let x = candle_core::Tensor::zeros((4, 4), candle_core::DType::U8, &candle_core::Device::Cpu)?;
    /// assert_eq!(rgb.apply_candle(&x)?.dims(), &[4, 4, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`repeat`].
    pub fn apply_candle(&self, x: &Tensor) -> Result<Tensor, Error> {
        let plan = self.plan(x.dims())?;
        apply(&plan, x)
    }
}

impl Reduce {
    /// Reduces a candle tensor; see [`reduce`].
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Reduce, Reduction};
    ///
    /// let pool = Reduce::new("b c h w -> b c", Reduction::Mean)?;
    /// let x = candle_core::Tensor::ones((2, 3, 4, 4), candle_core::DType::F32, &candle_core::Device::Cpu)?;
    /// assert_eq!(pool.apply_candle(&x)?.to_vec2::<f32>()?, [[1.0; 3]; 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`reduce`].
    pub fn apply_candle(&self, x: &Tensor) -> Result<Tensor, Error> {
        let plan = self.plan(x.dims())?;
        apply_reduce(&plan, x, self.reduction())
    }
}

/// Runs a rearrange or repeat plan on `x`: on the CPU through einplan's
/// kernels into a contiguous tensor (or a reshape that shares `x`'s
/// storage), elsewhere through the recipe with candle's ops.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let plan = einplan::Rearrange::new("h w c -> c h w")?.plan(&[2, 2, 3])?;
/// let x = Tensor::arange(0u8, 12, &Device::Cpu)?.reshape((2, 2, 3))?;
/// let y = einplan::candle::apply(&plan, &x)?;
/// assert!(y.is_contiguous());
/// assert_eq!(y.flatten_all()?.to_vec1::<u8>()?, [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::LayoutShape`] if `x` does not have the plan's input
/// shape, [`ErrorKind::ReducesAxes`] for a reduce plan, and
/// [`ErrorKind::Candle`] if candle fails.
pub fn apply(plan: &Plan, x: &Tensor) -> Result<Tensor, Error> {
    plan.check_no_reduction()?;
    let err = wrap(plan.pattern());
    let empty = x.elem_count() == 0 || plan.output_shape().contains(&0);
    if x.is_contiguous() && x.dims() == plan.input_shape() && !empty {
        // A result that is the input reshaped shares its storage.
        let standard = Layout::standard(x.dims())?;
        if plan.view(&standard)?.is_some_and(|v| v.is_standard()) {
            return x.reshape(plan.output_shape()).map_err(err);
        }
    }
    macro_rules! kernel {
        ($($dtype:ident => $t:ty),*) => {
            match x.dtype() {
                $(DType::$dtype => return with_slice::<$t, _>(plan, x, |src, layout| {
                    copy_slice::<$t>(plan, src, layout, x.device())
                }),)*
                _ => {}
            }
        };
    }
    if x.device().is_cpu() {
        kernel!(U8 => u8, U32 => u32, I16 => i16, I32 => i32, I64 => i64, F32 => f32, F64 => f64);
    }
    apply_recipe(plan, x, None)
}

/// Runs a reduce plan on `x` with `reduction`; see [`reduce`].
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
/// use einplan::{Reduce, Reduction};
///
/// let plan = Reduce::new("a b -> b", Reduction::Prod)?.plan(&[2, 3])?;
/// let x = Tensor::new(&[[1i64, 2, 3], [4, 5, 6]], &Device::Cpu)?;
/// let y = einplan::candle::apply_reduce(&plan, &x, Reduction::Prod)?;
/// assert_eq!(y.to_vec1::<i64>()?, [4, 10, 18]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`reduce`].
pub fn apply_reduce(plan: &Plan, x: &Tensor, reduction: Reduction) -> Result<Tensor, Error> {
    macro_rules! kernel {
        ($($dtype:ident => $t:ty),*) => {
            match x.dtype() {
                $(DType::$dtype => return with_slice::<$t, _>(plan, x, |src, layout| {
                    reduce_slice::<$t>(plan, reduction, src, layout, x.device())
                }),)*
                _ => {}
            }
        };
    }
    if x.device().is_cpu() {
        kernel!(U8 => u8, U32 => u32, I16 => i16, I32 => i32, I64 => i64, F32 => f32, F64 => f64);
    }
    apply_recipe(plan, x, Some(reduction))
}

/// Runs `plan` on `x` as its [`Recipe`](crate::Recipe), with candle's own
/// operations on `x`'s device: `reshape`, `permute`, `sum`, `mean`,
/// `max`, `min`, `unsqueeze` and `broadcast_as`. `reduction` is the
/// reduction of a reduce plan (`None` for rearrange and repeat).
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let plan = einplan::Repeat::new("h w -> h w c")?.with("c", 2)?.plan(&[1, 2])?;
/// let x = Tensor::new(&[[1f32, 2.]], &Device::Cpu)?;
/// let y = einplan::candle::apply_recipe(&plan, &x, None)?;
/// assert_eq!(y.to_vec3::<f32>()?, [[[1., 1.], [2., 2.]]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::LayoutShape`] if `x` does not have the plan's input
/// shape; [`ErrorKind::UnsupportedReduction`] for `Mean` on an integer
/// tensor, `Prod`, `Any` and `All` (which candle cannot compute), or a
/// reduce plan without a reduction; [`ErrorKind::EmptyReduction`] for
/// `Min` and `Max` over zero elements; [`ErrorKind::Candle`] if candle
/// fails.
pub fn apply_recipe(
    plan: &Plan,
    x: &Tensor,
    reduction: Option<Reduction>,
) -> Result<Tensor, Error> {
    plan.check_input_shape(x.dims())?;
    let err = wrap(plan.pattern());
    if let Some(r) = reduction {
        plan.check_min_max(r)?;
    }
    if plan.output_shape().contains(&0) {
        // Nothing to compute (candle cannot broadcast to a length of 0).
        return Tensor::zeros(plan.output_shape(), x.dtype(), x.device()).map_err(err);
    }
    let recipe = plan.recipe();
    let mut t = x.clone();
    for step in recipe.steps() {
        t = match step {
            Primitive::Reshape(shape) => t.reshape(shape.as_slice()),
            Primitive::Permute(order) => t.permute(order.as_slice()),
            Primitive::Reduce(axes) => {
                let Some(r) = reduction else {
                    return Err(plan.check_no_reduction().expect_err("the recipe reduces"));
                };
                reduce_axes(plan, &t, axes, r)?
            }
            Primitive::InsertAxes(at) => {
                let mut u = t;
                for &p in at {
                    u = u.unsqueeze(p).map_err(&err)?;
                }
                Ok(u)
            }
            Primitive::Broadcast(shape) => t.broadcast_as(shape.as_slice()),
        }
        .map_err(&err)?;
    }
    Ok(t)
}

/// `x` with the trailing `axes` reduced by candle's ops.
fn reduce_axes(
    plan: &Plan,
    x: &Tensor,
    axes: &[usize],
    reduction: Reduction,
) -> Result<candle_core::Result<Tensor>, Error> {
    let integer = !x.dtype().is_float();
    match reduction {
        Reduction::Sum => return Ok(x.sum(axes)),
        Reduction::Mean if !integer => return Ok(x.mean(axes)),
        Reduction::Min | Reduction::Max => {
            let mut t = Ok(x.clone());
            for &a in axes.iter().rev() {
                t = t.and_then(|t| match reduction {
                    Reduction::Min => t.min(a),
                    _ => t.max(a),
                });
            }
            return Ok(t);
        }
        _ => {}
    }
    Err(plan.unsupported_reduction(reduction, x.dtype().as_str()))
}

/// Runs `f` on `x`'s CPU storage as a slice of `T` with `x`'s layout.
fn with_slice<T: WithDType, R>(
    plan: &Plan,
    x: &Tensor,
    f: impl FnOnce(&[T], &Layout) -> Result<R, Error>,
) -> Result<R, Error> {
    let err = wrap(plan.pattern());
    let (storage, layout) = x.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        unreachable!("callers check that the tensor is on the CPU");
    };
    let data: &[T] = cpu.as_slice::<T>().map_err(&err)?;
    f(data, &layout_of(layout, data.len())?)
}

/// Copies `src` at `layout` by a rearrange or repeat plan into a fresh
/// contiguous tensor on `device`: the copy kernels write a new buffer
/// without zeroing it first (a zeroed `Vec` from recycled memory would
/// cost a pass of its own), which becomes the tensor's storage.
fn copy_slice<T: WithDType>(
    plan: &Plan,
    src: &[T],
    layout: &Layout,
    device: &Device,
) -> Result<Tensor, Error> {
    plan.check_input_shape(layout.shape())?;
    let x = layout.array_view(src)?;
    let y = crate::exec::rearrange_owned(plan, x)?;
    let n = y.len();
    let (mut data, offset) = y.into_raw_vec_and_offset();
    // Standard layout: the elements are `data[offset..offset + n]` in
    // order (for a fresh array, all of `data`).
    data.truncate(offset.unwrap_or(0) + n);
    data.drain(..offset.unwrap_or(0));
    Tensor::from_vec(data, plan.output_shape(), device).map_err(wrap(plan.pattern()))
}

/// Reduces `src` at `layout` into a fresh tensor on `device`.
fn reduce_slice<T: WithDType + Reducible>(
    plan: &Plan,
    reduction: Reduction,
    src: &[T],
    layout: &Layout,
    device: &Device,
) -> Result<Tensor, Error> {
    let out = Layout::standard(plan.output_shape())?;
    let mut dst = vec![T::from_f64(0.0); out.len()];
    plan.reduce_into(reduction, src, layout, &mut dst, &out)?;
    Tensor::from_vec(dst, plan.output_shape(), device).map_err(wrap(plan.pattern()))
}

/// [`crate::pack`] on candle tensors: each tensor's axes at `*` flattened
/// (candle's `reshape`) and the tensors concatenated along that axis
/// (candle's `cat`), on their device.
///
/// # Examples
///
/// ```
/// use candle_core::{DType, Device, Tensor};
///
/// let a = Tensor::zeros((2, 5), DType::F32, &Device::Cpu)?;
/// let b = Tensor::ones((2, 3, 4, 5), DType::F32, &Device::Cpu)?;
/// let (packed, shapes) = einplan::candle::pack(&[a, b], "b * c")?;
/// assert_eq!(packed.dims(), &[2, 13, 5]);
/// assert_eq!(shapes, [vec![], vec![3, 4]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`crate::pack`], and [`ErrorKind::Candle`] if candle fails.
pub fn pack(inputs: &[Tensor], pattern: &str) -> Result<(Tensor, Vec<Vec<usize>>), Error> {
    // einplan checks the pattern and the shapes on elements of size 0.
    let shapes_only: Vec<ArrayD<()>> = inputs.iter().map(|x| shape_only(x.dims())).collect();
    let views: Vec<ArrayViewD<'_, ()>> = shapes_only.iter().map(|a| a.view()).collect();
    let (packed, star_shapes) = crate::pack(&views, pattern)?;
    let before = crate::pack::star_position(pattern, "pack")?;
    let err = wrap(pattern);
    let mut parts = Vec::with_capacity(inputs.len());
    for (x, star) in inputs.iter().zip(&star_shapes) {
        let dims = x.dims();
        let mut shape = dims[..before].to_vec();
        shape.push(star.iter().product());
        shape.extend_from_slice(&dims[before + star.len()..]);
        parts.push(x.reshape(shape).map_err(&err)?);
    }
    let y = Tensor::cat(&parts, before).map_err(&err)?;
    debug_assert_eq!(y.dims(), packed.shape());
    Ok((y, star_shapes))
}

/// [`crate::unpack`] on a candle tensor: the axis at `*` cut with
/// candle's `narrow` and each piece reshaped, on the tensor's device.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let packed = Tensor::arange(0u32, 14, &Device::Cpu)?.reshape((2, 7))?;
/// let parts = einplan::candle::unpack(&packed, &[vec![], vec![2, 3]], "b *")?;
/// assert_eq!(parts[0].dims(), &[2]);
/// assert_eq!(parts[1].dims(), &[2, 2, 3]);
/// assert_eq!(parts[1].get(1)?.flatten_all()?.to_vec1::<u32>()?, [8, 9, 10, 11, 12, 13]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`crate::unpack`], and [`ErrorKind::Candle`] if candle fails.
pub fn unpack(
    x: &Tensor,
    packed_shapes: &[Vec<usize>],
    pattern: &str,
) -> Result<Vec<Tensor>, Error> {
    let parts = crate::unpack(&shape_only(x.dims()), packed_shapes, pattern)?;
    let before = crate::pack::star_position(pattern, "unpack")?;
    let err = wrap(pattern);
    let mut start = 0;
    let mut out = Vec::with_capacity(parts.len());
    for (part, shape) in parts.iter().zip(packed_shapes) {
        let size: usize = shape.iter().product();
        let piece = x.narrow(before, start, size).map_err(&err)?;
        start += size;
        out.push(piece.reshape(part.shape()).map_err(&err)?);
    }
    Ok(out)
}

/// An array of `shape` whose elements take no memory.
fn shape_only(shape: &[usize]) -> ArrayD<()> {
    ArrayD::from_elem(IxDyn(shape), ())
}

/// [`crate::einsum`] on candle tensors of one element type, axis groups
/// included. It runs through einplan's GEMM lowering on the CPU: tensors
/// on the CPU are read in place; tensors on another device are copied to
/// the CPU and the result back.
///
/// # Examples
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// // A grouped 1×1 convolution: 2 groups of 2 channels in, 1 out each.
/// let x = Tensor::arange(0f32, 4., &Device::Cpu)?.reshape((1, 4, 1, 1))?;
/// let w = Tensor::new(&[[[1f32, 1.]], [[1., -1.]]], &Device::Cpu)?;
/// let y = einplan::candle::einsum("b (g ci) h w, g co ci -> b (g co) h w", &[&x, &w])?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [1., -1.]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`crate::einsum`]; [`ErrorKind::MixedElementTypes`] for operands of
/// different element types, [`ErrorKind::UnsupportedElementType`] for a
/// type einsum does not take (`f16`, `bf16`); [`ErrorKind::Candle`] if
/// candle fails.
pub fn einsum(pattern: &str, operands: &[&Tensor]) -> Result<Tensor, Error> {
    einsum_by(Which::Free(pattern), operands)
}

impl Einsum {
    /// einsum on candle tensors; see [`einsum`].
    ///
    /// # Examples
    ///
    /// ```
    /// use candle_core::{Device, Tensor};
    ///
    /// let grouped = einplan::Einsum::new("(g i) -> g")?.with("g", 2)?;
    /// let x = Tensor::new(&[1i64, 2, 3, 4], &Device::Cpu)?;
    /// assert_eq!(grouped.apply_candle(&[&x])?.to_vec1::<i64>()?, [3, 7]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`einsum`].
    pub fn apply_candle(&self, operands: &[&Tensor]) -> Result<Tensor, Error> {
        einsum_by(Which::Compiled(self), operands)
    }
}

/// The free function or a compiled einsum.
#[derive(Clone, Copy)]
enum Which<'a> {
    Free(&'a str),
    Compiled(&'a Einsum),
}

impl Which<'_> {
    fn pattern(&self) -> &str {
        match self {
            Which::Free(p) => p,
            Which::Compiled(e) => e.pattern(),
        }
    }

    fn run<T: LinalgScalar>(&self, views: &[ArrayViewD<'_, T>]) -> Result<ArrayD<T>, Error> {
        match self {
            Which::Free(p) => crate::einsum(p, views),
            Which::Compiled(e) => e.apply(views),
        }
    }
}

fn einsum_by(which: Which<'_>, operands: &[&Tensor]) -> Result<Tensor, Error> {
    let pattern = which.pattern();
    let err = wrap(pattern);
    let whole = Span::new(0, pattern.len());
    let device = operands.first().map_or(Device::Cpu, |x| x.device().clone());
    let cpu: Vec<Tensor> = operands
        .iter()
        .map(|x| x.to_device(&Device::Cpu))
        .collect::<Result<_, _>>()
        .map_err(&err)?;
    let dtype = cpu.first().map_or(DType::F32, Tensor::dtype);
    if cpu.iter().any(|x| x.dtype() != dtype) {
        let kind = ErrorKind::MixedElementTypes;
        return Err(Error::new(pattern, kind, whole));
    }
    macro_rules! run {
        ($($dtype:ident => $t:ty),*) => {
            match dtype {
                $(DType::$dtype => einsum_cpu::<$t>(which, &cpu)?,)*
                other => {
                    let kind = ErrorKind::UnsupportedElementType {
                        op: "einsum",
                        element: other.as_str(),
                    };
                    return Err(Error::new(pattern, kind, whole));
                }
            }
        };
    }
    let y = run!(U8 => u8, U32 => u32, I16 => i16, I32 => i32, I64 => i64, F32 => f32, F64 => f64);
    y.to_device(&device).map_err(&err)
}

/// einsum on CPU tensors of `T`, read in place.
fn einsum_cpu<T: WithDType + LinalgScalar>(
    which: Which<'_>,
    xs: &[Tensor],
) -> Result<Tensor, Error> {
    let pattern = which.pattern();
    let err = wrap(pattern);
    let at = |kind| Error::new(pattern, kind, Span::new(0, pattern.len()));
    let guards: Vec<_> = xs.iter().map(Tensor::storage_and_layout).collect();
    let mut views = Vec::with_capacity(xs.len());
    for (storage, layout) in &guards {
        let Storage::Cpu(cpu) = &**storage else {
            unreachable!("the operands were moved to the CPU");
        };
        let data: &[T] = cpu.as_slice::<T>().map_err(&err)?;
        let l = layout_of(layout, data.len()).map_err(|e| at(e.kind().clone()))?;
        views.push(l.checked_view(data).map_err(at)?);
    }
    let y = which.run(&views)?;
    let shape = y.shape().to_vec();
    let data: Vec<T> = if y.is_standard_layout() {
        y.into_raw_vec_and_offset().0
    } else {
        y.iter().copied().collect()
    };
    Tensor::from_vec(data, shape, &Device::Cpu).map_err(&err)
}

/// einplan's layout of a candle tensor over a buffer of `len` elements.
fn layout_of(layout: &candle_core::Layout, len: usize) -> Result<Layout, Error> {
    let strides: Vec<isize> = layout
        .stride()
        .iter()
        .map(|&s| isize::try_from(s).unwrap_or(isize::MAX))
        .collect();
    Layout::new(layout.dims(), &strides, layout.start_offset(), len)
}
