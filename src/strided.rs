//! Plans on any buffer: a public strided [`Layout`], and a [`Plan`]'s
//! view, copy and reduction over plain slices.
//!
//! A plan is layout arithmetic and nothing else, so it runs on any memory
//! that a shape, strides and an offset describe: a `Vec<u8>` image, the
//! storage of another tensor library, a memory-mapped file. The slice
//! entry points check every layout against the slice it describes and
//! against the plan, then run the same kernels as the `ndarray` entry
//! points (tiled and SIMD transposes, threads, pooling).

use ndarray::{ArrayView, ArrayViewD, ArrayViewMut, ArrayViewMutD, IxDyn, ShapeBuilder};

use crate::error::{Error, ErrorKind, Side};
use crate::exec;
use crate::exec::reduce as fold;
use crate::layout::{self, Strides};
use crate::plan::{MAX_DIMS, Plan};
use crate::reducible::Reducible;
use crate::reducible::sealed::Planned;
use crate::reduction::Reduction;
use crate::span::Span;

/// Where the elements of an array sit in a buffer: a shape, a stride per
/// axis in elements (negative for a reversed axis, 0 for a repeated one)
/// and the offset of element `[0, 0, ..]`. Element `[i_0, i_1, ..]` is
/// `buffer[offset + Σ i_k · strides_k]`.
///
/// A `Layout` is made by a checked constructor: [`Layout::new`] refuses a
/// layout that reaches outside a buffer of the given length, so a layout
/// always fits at least one buffer. The slice entry points of [`Plan`]
/// check it again against the slice they are given.
///
/// # Examples
///
/// ```
/// use einplan::Layout;
///
/// // A 2×3 row-major matrix, and its transpose over the same buffer.
/// let m = Layout::standard(&[2, 3])?;
/// assert_eq!(m.strides(), &[3, 1]);
/// let t = Layout::new(&[3, 2], &[1, 3], 0, 6)?;
/// assert_eq!(t.required_len(), 6);
///
/// // The rows reversed: the first element is the start of the last row.
/// let r = Layout::new(&[2, 3], &[-3, 1], 3, 6)?;
/// assert_eq!(r.offset(), 3);
///
/// // One element too far.
/// assert!(Layout::new(&[2, 3], &[3, 1], 1, 6).is_err());
/// # Ok::<(), einplan::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    shape: layout::Lens,
    strides: Strides,
    offset: usize,
}

impl Layout {
    /// The layout of `shape` with `strides`, its element `[0, 0, ..]` at
    /// `offset`, checked to fit a buffer of `buffer_len` elements: every
    /// element it names has an index in `0..buffer_len`. A layout with no
    /// elements fits any buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// // Every other element of a buffer of 10, backwards.
    /// let l = einplan::Layout::new(&[5], &[-2], 8, 10)?;
    /// assert_eq!(l.len(), 5);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LayoutRank`] if `shape` and `strides` differ in length
    /// or have more than 64 dimensions, [`ErrorKind::Overflow`] if the
    /// shape has more elements than an array can hold, and
    /// [`ErrorKind::LayoutOutOfBounds`] if an element lies outside the
    /// buffer.
    pub fn new(
        shape: &[usize],
        strides: &[isize],
        offset: usize,
        buffer_len: usize,
    ) -> Result<Layout, Error> {
        if shape.len() != strides.len() || shape.len() > MAX_DIMS {
            let kind = ErrorKind::LayoutRank {
                shape: shape.len(),
                strides: strides.len(),
            };
            return Err(detached(kind));
        }
        if layout::checked_size(shape).is_none() {
            return Err(detached(ErrorKind::Overflow));
        }
        let l = Layout {
            shape: shape.into(),
            strides: strides.into(),
            offset,
        };
        if l.fits(buffer_len) {
            Ok(l)
        } else {
            Err(detached(l.out_of_bounds(buffer_len)))
        }
    }

    /// The standard (row-major, contiguous) layout of `shape` at offset 0,
    /// which fits a buffer of exactly as many elements as it has.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = einplan::Layout::standard(&[2, 3, 4])?;
    /// assert_eq!(l.strides(), &[12, 4, 1]);
    /// assert_eq!(l.len(), 24);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Layout::new`], for a shape with too many dimensions or
    /// elements.
    pub fn standard(shape: &[usize]) -> Result<Layout, Error> {
        let strides = layout::standard_strides(shape);
        let n = layout::checked_size(shape).ok_or_else(|| detached(ErrorKind::Overflow))?;
        Layout::new(shape, &strides, 0, n)
    }

    /// The lengths of the axes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(einplan::Layout::standard(&[2, 3])?.shape(), &[2, 3]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The strides of the axes, in elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(einplan::Layout::standard(&[2, 3])?.strides(), &[3, 1]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn strides(&self) -> &[isize] {
        &self.strides
    }

    /// The index in the buffer of element `[0, 0, ..]`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(einplan::Layout::new(&[2], &[1], 4, 6)?.offset(), 4);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The number of elements (the product of the lengths).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(einplan::Layout::new(&[4, 3], &[0, 1], 0, 3)?.len(), 12);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the layout has no elements (some length is 0).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(einplan::Layout::standard(&[2, 0])?.is_empty());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shape.contains(&0)
    }

    /// Whether the layout is standard: row-major and contiguous from its
    /// offset (lengths of 1 may have any stride).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Layout;
    ///
    /// assert!(Layout::new(&[2, 3], &[3, 1], 6, 12)?.is_standard());
    /// assert!(!Layout::new(&[3, 2], &[1, 3], 0, 6)?.is_standard());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn is_standard(&self) -> bool {
        let standard = layout::standard_strides(&self.shape);
        self.is_empty()
            || self
                .shape
                .iter()
                .zip(&self.strides)
                .zip(&standard)
                .all(|((&len, s), t)| len == 1 || s == t)
    }

    /// The length of the shortest buffer the layout fits: its highest
    /// index plus one (0 for a layout with no elements).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = einplan::Layout::new(&[2, 2], &[10, 1], 3, 100)?;
    /// assert_eq!(l.required_len(), 15);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn required_len(&self) -> usize {
        match self.bounds() {
            // A checked layout's highest index is below its buffer length.
            Some((_, hi)) => hi + 1,
            None => 0,
        }
    }

    /// The lowest and highest index of a non-empty layout whose indices
    /// are all non-negative; `None` for an empty layout or one that
    /// reaches below index 0 or overflows.
    fn bounds(&self) -> Option<(usize, usize)> {
        if self.is_empty() {
            return None;
        }
        let (lo, hi) = self.raw()?.extent()?;
        Some((usize::try_from(lo).ok()?, usize::try_from(hi).ok()?))
    }

    /// Whether every element lies in a buffer of `len`.
    fn fits(&self, len: usize) -> bool {
        self.is_empty() || self.bounds().is_some_and(|(_, hi)| hi < len)
    }

    /// The crate's layout, if the offset fits `isize`.
    fn raw(&self) -> Option<layout::Layout> {
        let mut raw = layout::Layout::new(&self.shape, &self.strides);
        raw.offset = isize::try_from(self.offset).ok()?;
        Some(raw)
    }

    /// The layout of `raw` over a buffer that `raw` was proven to fit.
    fn from_raw(raw: layout::Layout) -> Layout {
        Layout {
            offset: usize::try_from(raw.offset).expect("a view's offset is an element's index"),
            shape: raw.shape,
            strides: raw.strides,
        }
    }

    fn out_of_bounds(&self, buffer_len: usize) -> ErrorKind {
        ErrorKind::LayoutOutOfBounds {
            shape: self.shape.to_vec(),
            strides: self.strides.to_vec(),
            offset: self.offset,
            buffer_len,
        }
    }

    /// `data` seen through this layout as an `ndarray` view, so that every
    /// operation (`einsum`, `pack`, `unpack`, `parse_shape`, the compiled
    /// ops) runs on a plain buffer with no copy.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Layout;
    ///
    /// // Two 2 × 3 matrices stored interleaved in one buffer.
    /// let buf: Vec<f32> = (0..12).map(|v| v as f32).collect();
    /// let a = Layout::new(&[2, 3], &[6, 2], 0, buf.len())?.array_view(&buf)?;
    /// let b = Layout::new(&[2, 3], &[6, 2], 1, buf.len())?.array_view(&buf)?;
    /// let dots = einplan::einsum("r c, r c -> r", (&a, &b))?;
    /// assert_eq!(dots.as_slice().unwrap(), &[0. * 1. + 2. * 3. + 4. * 5., 6. * 7. + 8. * 9. + 10. * 11.]);
    /// let (packed, _) = einplan::pack((&a, &b), "r *")?;
    /// assert_eq!(packed.shape(), &[2, 6]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LayoutOutOfBounds`] if the layout does not fit `data`.
    pub fn array_view<'a, T>(&self, data: &'a [T]) -> Result<ArrayViewD<'a, T>, Error> {
        self.checked_view(data).map_err(detached)
    }

    /// `data` seen through this layout as a mutable `ndarray` view, for
    /// the `apply_into` methods.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Einsum, Layout};
    /// use ndarray::array;
    ///
    /// // A product written column-major into a plain buffer.
    /// let mut buf = vec![0.0f64; 4];
    /// let layout = Layout::new(&[2, 2], &[1, 2], 0, buf.len())?;
    /// let (a, b) = (array![[1.0, 2.0], [3.0, 4.0]], array![[1.0, 0.0], [0.0, 1.0]]);
    /// Einsum::new("i k, k j -> i j")?.apply_into((&a, &b), &mut layout.array_view_mut(&mut buf)?)?;
    /// assert_eq!(buf, [1.0, 3.0, 2.0, 4.0]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LayoutOutOfBounds`] if the layout does not fit `data`,
    /// and [`ErrorKind::OverlappingOutput`] if two of its indices name the
    /// same element.
    pub fn array_view_mut<'a, T>(&self, data: &'a mut [T]) -> Result<ArrayViewMutD<'a, T>, Error> {
        self.view_mut(data).map_err(detached)
    }

    /// A view of `data` with this layout, after checking that it fits.
    pub(crate) fn checked_view<'a, T>(
        &self,
        data: &'a [T],
    ) -> Result<ArrayViewD<'a, T>, ErrorKind> {
        if self.is_empty() {
            return Ok(ArrayView::from_shape(IxDyn(&self.shape), &[]).expect("an empty shape"));
        }
        let Some((lo, hi)) = self.bounds().filter(|&(_, hi)| hi < data.len()) else {
            return Err(self.out_of_bounds(data.len()));
        };
        // ndarray takes the slice from the lowest element and the strides
        // as they are, negative ones included (`usize` bit patterns), and
        // checks once more that every element lies in the slice.
        let strides: layout::Lens = self.strides.iter().map(|&s| s as usize).collect();
        let shape = IxDyn(&self.shape).strides(IxDyn(&strides));
        ArrayView::from_shape(shape, &data[lo..=hi]).map_err(|_| self.out_of_bounds(data.len()))
    }

    /// A mutable view of `data` with this layout, after checking that it
    /// fits and that no two indices name the same element.
    fn view_mut<'a, T>(&self, data: &'a mut [T]) -> Result<ArrayViewMutD<'a, T>, ErrorKind> {
        if self.is_empty() {
            let empty = ArrayViewMut::from_shape(IxDyn(&self.shape), &mut []);
            return Ok(empty.expect("an empty shape"));
        }
        let Some((lo, hi)) = self.bounds().filter(|&(_, hi)| hi < data.len()) else {
            return Err(self.out_of_bounds(data.len()));
        };
        let strides: layout::Lens = self.strides.iter().map(|&s| s as usize).collect();
        let shape = IxDyn(&self.shape).strides(IxDyn(&strides));
        // The bounds are checked, so ndarray refuses only layouts whose
        // indices may alias (its `dim_stride_overlap`).
        ArrayViewMut::from_shape(shape, &mut data[lo..=hi]).map_err(|_| {
            ErrorKind::OverlappingOutput {
                shape: self.shape.to_vec(),
                strides: self.strides.to_vec(),
            }
        })
    }
}

/// An error about a layout alone, with no pattern to point into.
fn detached(kind: ErrorKind) -> Error {
    Error::new("", kind, Span::new(0, 0))
}

/// The slice API: a plan run on any buffer.
impl Plan {
    /// The result's layout over the input's buffer, when strides suffice:
    /// `Some` for every permutation and split, for merges of axes that lie
    /// one after another in memory, and for repeats by stride-0 axes;
    /// `None` when some merge needs a copy, or the plan reduces axes.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Layout, Rearrange};
    ///
    /// let plan = Rearrange::new("h w c -> c h w")?.plan(&[4, 5, 3])?;
    /// let chw = plan.view(&Layout::standard(&[4, 5, 3])?)?.unwrap();
    /// assert_eq!((chw.shape(), chw.strides()), (&[3, 4, 5][..], &[1, 15, 3][..]));
    ///
    /// // Merging `c h` of that view would need a copy.
    /// let flat = Rearrange::new("c h w -> (c h) w")?.plan(&[3, 4, 5])?;
    /// assert_eq!(flat.view(&chw)?, None);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LayoutShape`] if `input` does not have the plan's input
    /// shape.
    pub fn view(&self, input: &Layout) -> Result<Option<Layout>, Error> {
        match self.try_view(input) {
            Ok(l) => Ok(Some(l)),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NeedsCopy { .. } | ErrorKind::ReducesAxes { .. }
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The result's layout over the input's buffer, or an error naming the
    /// merge that would need a copy. Never copies.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{ErrorKind, Layout, Rearrange};
    ///
    /// let shuffle = Rearrange::new("(g c) h -> (c g) h")?.with("g", 2)?;
    /// let plan = shuffle.plan(&[6, 4])?;
    /// let err = plan.try_view(&Layout::standard(&[6, 4])?).unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::NeedsCopy { dim: 0, .. }));
    /// assert_eq!(&err.pattern()[err.span()], "(c g)");
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NeedsCopy`] pointing at the output group whose merge
    /// needs a copy, [`ErrorKind::ReducesAxes`] for a plan that reduces,
    /// and [`ErrorKind::LayoutShape`] if `input` does not have the plan's
    /// input shape.
    pub fn try_view(&self, input: &Layout) -> Result<Layout, Error> {
        self.check_shape(Side::Input, input.shape())?;
        self.check_no_reduction()?;
        if input.is_empty() || self.output_shape().contains(&0) {
            // Nothing to read: any strides describe the empty result.
            let mut l = Layout::standard(self.output_shape())?;
            l.offset = input.offset;
            return Ok(l);
        }
        let raw = input.raw().ok_or_else(|| {
            let kind = input.out_of_bounds(input.required_len());
            Error::new(self.pattern(), kind, self.input_span())
        })?;
        let steps = layout::read(&raw, self.kept_steps())
            .expect("a plan's steps read within its input shape");
        match steps.merge(self.output_groups()) {
            Some(merged) => Ok(Layout::from_raw(merged)),
            None => Err(self.needs_copy(&steps)),
        }
    }

    /// Copies the result of a rearrange or repeat plan from `src`, whose
    /// elements sit at `src_layout`, into `dst` at `dst_layout`. Both
    /// layouts may be anything that fits their slices (permuted,
    /// reversed, stepped, offset), and the copy runs the same kernels as
    /// [`Rearrange::apply_into`](crate::Rearrange::apply_into).
    ///
    /// # Examples
    ///
    /// An HWC image (interleaved RGB bytes) to CHW planes:
    ///
    /// ```
    /// use einplan::{Layout, Rearrange};
    ///
    /// let (h, w) = (2, 3);
    /// let hwc: Vec<u8> = (0..(h * w * 3) as u8).collect(); // r g b r g b ...
    /// let plan = Rearrange::new("h w c -> c h w")?.plan(&[h, w, 3])?;
    /// let mut chw = vec![0u8; hwc.len()];
    /// plan.copy(&hwc, &Layout::standard(&[h, w, 3])?, &mut chw, &Layout::standard(&[3, h, w])?)?;
    /// assert_eq!(chw, [0, 3, 6, 9, 12, 15, 1, 4, 7, 10, 13, 16, 2, 5, 8, 11, 14, 17]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LayoutShape`] if a layout does not have the plan's
    /// input or output shape, [`ErrorKind::LayoutOutOfBounds`] if it does
    /// not fit its slice, [`ErrorKind::OverlappingOutput`] if two indices
    /// of `dst_layout` may name the same element, and
    /// [`ErrorKind::ReducesAxes`] for a plan that reduces (use
    /// [`reduce_into`](Plan::reduce_into)). Nothing is written on error.
    pub fn copy<T: Clone>(
        &self,
        src: &[T],
        src_layout: &Layout,
        dst: &mut [T],
        dst_layout: &Layout,
    ) -> Result<(), Error> {
        self.check_no_reduction()?;
        let (x, out) = self.slice_views(src, src_layout, dst, dst_layout)?;
        exec::rearrange_into(self, x, out)
    }

    /// Reduces `src` at `src_layout` by a reduce plan into `dst` at
    /// `dst_layout`, with the same kernels as
    /// [`Reduce::apply_into`](crate::Reduce::apply_into).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Layout, Reduce, Reduction};
    ///
    /// // 2×2 max pooling of a 4×4 image stored transposed.
    /// let src: Vec<f32> = (0..16).map(|v| v as f32).collect();
    /// let transposed = Layout::new(&[4, 4], &[1, 4], 0, 16)?;
    /// let plan = Reduce::new("(h 2) (w 2) -> h w", Reduction::Max)?.plan(&[4, 4])?;
    /// let mut dst = [0.0f32; 4];
    /// plan.reduce_into(Reduction::Max, &src, &transposed, &mut dst, &Layout::standard(&[2, 2])?)?;
    /// assert_eq!(dst, [5.0, 13.0, 7.0, 15.0]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`copy`](Plan::copy) for the layouts (a plan that reduces is
    /// what this expects), [`ErrorKind::UnsupportedReduction`] if `T` does
    /// not support `reduction`, and [`ErrorKind::EmptyReduction`] for
    /// `Min` or `Max` over zero elements.
    pub fn reduce_into<T: Reducible>(
        &self,
        reduction: Reduction,
        src: &[T],
        src_layout: &Layout,
        dst: &mut [T],
        dst_layout: &Layout,
    ) -> Result<(), Error> {
        let (x, out) = self.slice_views(src, src_layout, dst, dst_layout)?;
        self.check_min_max(reduction)?;
        T::run_into(Planned::new(self, &x), reduction, out).unwrap_or_else(|| {
            let element = std::any::type_name::<T>();
            Err(self.unsupported_reduction(reduction, element))
        })
    }

    /// Checks that `Min` or `Max` has elements to reduce.
    pub(crate) fn check_min_max(&self, reduction: Reduction) -> Result<(), Error> {
        if matches!(reduction, Reduction::Min | Reduction::Max)
            && fold::count(self) == 0
            && !self.output_shape().contains(&0)
        {
            let kind = ErrorKind::EmptyReduction { reduction };
            let whole = Span::new(0, self.pattern().len());
            return Err(Error::new(self.pattern(), kind, whole));
        }
        Ok(())
    }

    /// The error for a reduction that `element` does not support.
    pub(crate) fn unsupported_reduction(
        &self,
        reduction: Reduction,
        element: &'static str,
    ) -> Error {
        let kind = ErrorKind::UnsupportedReduction { reduction, element };
        Error::new(self.pattern(), kind, Span::new(0, self.pattern().len()))
    }

    /// Checks that an input has the plan's input shape.
    #[cfg_attr(not(feature = "candle"), allow(dead_code))]
    pub(crate) fn check_input_shape(&self, shape: &[usize]) -> Result<(), Error> {
        self.check_shape(Side::Input, shape)
    }

    /// Reduces `src` at `src_layout` into `dst` at `dst_layout` with a fold
    /// of your own, as [`reduce_with`](crate::reduce_with): each output
    /// element is `f` folded from `init` over the elements it reduces, in
    /// an unspecified order (use an associative and commutative `f`).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Layout, Reduce, Reduction};
    ///
    /// let plan = Reduce::new("r c -> r", Reduction::Sum)?.plan(&[2, 3])?;
    /// let src = [1u8, 2, 3, 4, 5, 6];
    /// let mut dst = [0u32; 2];
    /// // Fold bytes into wider sums: the fold may change nothing but values.
    /// let wide: Vec<u32> = src.iter().map(|&b| u32::from(b)).collect();
    /// plan.fold_into(&wide, &Layout::standard(&[2, 3])?, &mut dst, &Layout::standard(&[2])?, 0, |a, b| a + b)?;
    /// assert_eq!(dst, [6, 15]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`copy`](Plan::copy) for the layouts.
    pub fn fold_into<T, F>(
        &self,
        src: &[T],
        src_layout: &Layout,
        dst: &mut [T],
        dst_layout: &Layout,
        init: T,
        f: F,
    ) -> Result<(), Error>
    where
        T: Clone,
        F: Fn(T, &T) -> T,
    {
        let (x, out) = self.slice_views(src, src_layout, dst, dst_layout)?;
        fold::reduce_into(self, &x, &fold::With { init, f }, out)
    }

    /// Checked views of the input and the output slices.
    fn slice_views<'s, 'd, T>(
        &self,
        src: &'s [T],
        src_layout: &Layout,
        dst: &'d mut [T],
        dst_layout: &Layout,
    ) -> Result<(ArrayViewD<'s, T>, ArrayViewMutD<'d, T>), Error> {
        self.check_shape(Side::Input, src_layout.shape())?;
        self.check_shape(Side::Output, dst_layout.shape())?;
        let x = src_layout
            .checked_view(src)
            .map_err(|k| Error::new(self.pattern(), k, self.input_span()))?;
        let out = dst_layout
            .view_mut(dst)
            .map_err(|k| Error::new(self.pattern(), k, self.output_span()))?;
        Ok((x, out))
    }

    fn check_shape(&self, side: Side, found: &[usize]) -> Result<(), Error> {
        let (expected, span) = match side {
            Side::Input => (self.input_shape(), self.input_span()),
            _ => (self.output_shape(), self.output_span()),
        };
        if found == expected {
            return Ok(());
        }
        let kind = ErrorKind::LayoutShape {
            side,
            expected: expected.to_vec(),
            found: found.to_vec(),
        };
        Err(Error::new(self.pattern(), kind, span))
    }

    pub(crate) fn check_no_reduction(&self) -> Result<(), Error> {
        if self.reduced_axes().is_empty() {
            return Ok(());
        }
        let axes: Vec<&str> = self
            .reduced_axes()
            .iter()
            .map(|&a| self.axis_label(a))
            .collect();
        let kind = ErrorKind::ReducesAxes {
            axes: axes.join(" "),
        };
        Err(Error::new(self.pattern(), kind, self.output_span()))
    }

    /// The error for the first output dimension whose axes, laid out as
    /// `steps` (one axis per kept step), cannot merge without a copy.
    pub(crate) fn needs_copy(&self, steps: &layout::Layout) -> Error {
        let groups = self.output_groups();
        let dim = (0..groups.len())
            .find(|&d| steps.merge(&groups[d..d + 1]).is_none())
            .unwrap_or(0);
        let (start, end) = groups.get(dim).copied().unwrap_or((0, 0));
        let axes: Vec<&str> = self.kept()[start..end]
            .iter()
            .map(|&a| self.axis_label(a))
            .collect();
        let kind = ErrorKind::NeedsCopy {
            dim,
            axes: axes.join(" "),
        };
        Error::new(self.pattern(), kind, self.output_dim_span(dim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_checks_its_buffer() {
        assert!(Layout::new(&[2, 3], &[3, 1], 0, 6).is_ok());
        assert!(Layout::new(&[2, 3], &[3, 1], 1, 6).is_err());
        assert!(Layout::new(&[2, 3], &[-3, 1], 0, 6).is_err());
        assert!(Layout::new(&[2, 3], &[-3, 1], 3, 6).is_ok());
        assert!(Layout::new(&[2, 3], &[-3, -1], 5, 6).is_ok());
        assert!(Layout::new(&[2, 3], &[-3, -1], 4, 6).is_err());
        assert!(Layout::new(&[0, 3], &[99, 99], 99, 0).is_ok());
        assert!(Layout::new(&[3], &[isize::MAX], 0, usize::MAX).is_err());
        assert!(Layout::new(&[2, 3], &[1], 0, 6).is_err());
        let e = Layout::new(&[2, 3], &[3, 1], 1, 6).unwrap_err();
        assert_eq!(
            e.to_string(),
            "error: a layout of shape [2, 3], strides [3, 1] and offset 1 \
             does not fit a buffer of 6 elements"
        );
    }

    #[test]
    fn required_len_is_the_highest_index_plus_one() {
        let l = Layout::new(&[3, 2], &[-2, 5], 4, 10).unwrap();
        assert_eq!(l.required_len(), 10);
        assert_eq!(Layout::standard(&[0]).unwrap().required_len(), 0);
    }
}
