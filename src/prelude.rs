//! `use einplan::prelude::*;` to call the operations as methods.
//!
//! ```
//! use einplan::prelude::*;
//! use ndarray::Array4;
//!
//! let x = Array4::<f32>::ones((2, 3, 4, 4));
//! let y = x.rearrange("b c h w -> b h w c", &[])?;
//! let m = x.reduce("b c h w -> b c", Reduction::Mean, &[])?;
//! let r = m.repeat("b c -> b c k", &[("k", 2)])?;
//! assert_eq!((y.shape(), m.shape(), r.shape()), (&[2, 4, 4, 3][..], &[2, 3][..], &[2, 3, 2][..]));
//! # Ok::<(), einplan::Error>(())
//! ```

use ndarray::{ArrayBase, ArrayD, CowArray, Data, Dimension, IxDyn};

use crate::args::Lengths;
use crate::error::Error;
pub use crate::{Reducible, Reduction};

/// The operations as methods on any ndarray array or view.
///
/// Implemented for every `ArrayBase` (owned arrays, views, `CowArray`s,
/// any dimension); `use einplan::prelude::*;` brings it into scope. Each
/// method is the free function of the same name.
///
/// # Examples
///
/// ```
/// use einplan::prelude::*;
/// use ndarray::{arr1, arr2};
///
/// let x = arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
/// let t = x.rearrange("r c -> c r", &[])?;
/// assert!(t.is_view());
/// assert_eq!(t, x.t().into_dyn());
/// // On a view, and chained.
/// let means = x.view().reduce("r c -> r", Reduction::Mean, &[])?;
/// assert_eq!(means, arr1(&[2.0, 5.0]).into_dyn());
/// let wide = means.repeat("r -> r k", &[("k", 2)])?;
/// assert_eq!(wide, arr2(&[[2.0, 2.0], [5.0, 5.0]]).into_dyn());
/// # Ok::<(), einplan::Error>(())
/// ```
pub trait EinopsExt<A> {
    /// [`rearrange`](crate::rearrange) this array.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::prelude::*;
    ///
    /// let x = ndarray::arr2(&[[1, 2, 3, 4], [5, 6, 7, 8]]);
    /// let y = x.rearrange("r (c k) -> (r c) k", &[("k", 2)])?;
    /// assert_eq!(y, ndarray::arr2(&[[1, 2], [3, 4], [5, 6], [7, 8]]).into_dyn());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`rearrange`](crate::rearrange).
    fn rearrange<L: Lengths + ?Sized>(
        &self,
        pattern: &str,
        axes_lengths: &L,
    ) -> Result<CowArray<'_, A, IxDyn>, Error>;

    /// [`reduce`](crate::reduce) this array.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::prelude::*;
    ///
    /// let x = ndarray::arr2(&[[1, 8], [5, 2]]);
    /// let y = x.reduce("r c -> r", Reduction::Max, &[])?;
    /// assert_eq!(y, ndarray::arr1(&[8, 5]).into_dyn());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`reduce`](crate::reduce).
    fn reduce<L: Lengths + ?Sized>(
        &self,
        pattern: &str,
        reduction: Reduction,
        axes_lengths: &L,
    ) -> Result<ArrayD<A>, Error>
    where
        A: Reducible;

    /// [`repeat`](crate::repeat) this array.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::prelude::*;
    ///
    /// let x = ndarray::arr1(&[1, 2]);
    /// let y = x.repeat("w -> (w 3)", &[])?;
    /// assert_eq!(y, ndarray::arr1(&[1, 1, 1, 2, 2, 2]).into_dyn());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`repeat`](crate::repeat).
    fn repeat<L: Lengths + ?Sized>(
        &self,
        pattern: &str,
        axes_lengths: &L,
    ) -> Result<CowArray<'_, A, IxDyn>, Error>;
}

impl<A, S, D> EinopsExt<A> for ArrayBase<S, D>
where
    A: Clone,
    S: Data<Elem = A>,
    D: Dimension,
{
    fn rearrange<L: Lengths + ?Sized>(
        &self,
        pattern: &str,
        axes_lengths: &L,
    ) -> Result<CowArray<'_, A, IxDyn>, Error> {
        crate::rearrange(self, pattern, axes_lengths)
    }

    fn reduce<L: Lengths + ?Sized>(
        &self,
        pattern: &str,
        reduction: Reduction,
        axes_lengths: &L,
    ) -> Result<ArrayD<A>, Error>
    where
        A: Reducible,
    {
        crate::reduce(self, pattern, reduction, axes_lengths)
    }

    fn repeat<L: Lengths + ?Sized>(
        &self,
        pattern: &str,
        axes_lengths: &L,
    ) -> Result<CowArray<'_, A, IxDyn>, Error> {
        crate::repeat(self, pattern, axes_lengths)
    }
}
