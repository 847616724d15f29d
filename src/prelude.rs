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
pub trait EinopsExt<A> {
    /// [`rearrange`](crate::rearrange) this array.
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
