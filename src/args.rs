//! What the operations take besides a pattern: axis lengths, and the
//! operands of [`einsum`](crate::einsum) and [`pack`](crate::pack).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use ndarray::{ArrayBase, ArrayViewD, Data, Dimension};

mod sealed {
    pub trait Sealed {}
}

/// Axis lengths given by name: `&[("c1", 3)]`, `&[]`, a `Vec` of such
/// pairs, or the map [`parse_shape`](crate::parse_shape) returns, so that
/// lengths read from one array can be handed to the next operation.
///
/// Sealed: einplan implements it for `[(&str, usize)]`,
/// `[(&str, usize); N]`, `Vec<(&str, usize)>` and
/// `HashMap<String, usize, S>`.
///
/// # Examples
///
/// ```
/// use ndarray::Array4;
///
/// let x = Array4::<f32>::zeros((2, 6, 4, 5));
/// let tokens = einplan::rearrange(&x, "b c h w -> b (h w) c", &[])?;
/// // `x`'s height and width, by name, undo the flattening.
/// let hw = einplan::parse_shape(&x, "_ _ h w")?;
/// let back = einplan::rearrange(&tokens, "b (h w) c -> b c h w", &hw)?;
/// assert_eq!(back.shape(), x.shape());
/// # Ok::<(), einplan::Error>(())
/// ```
pub trait Lengths: sealed::Sealed {
    /// The pairs, in a stable order for a given set of names.
    #[doc(hidden)]
    fn pairs(&self) -> Cow<'_, [(&str, usize)]>;
}

impl sealed::Sealed for [(&str, usize)] {}
impl Lengths for [(&str, usize)] {
    fn pairs(&self) -> Cow<'_, [(&str, usize)]> {
        Cow::Borrowed(self)
    }
}

impl<const N: usize> sealed::Sealed for [(&str, usize); N] {}
impl<const N: usize> Lengths for [(&str, usize); N] {
    fn pairs(&self) -> Cow<'_, [(&str, usize)]> {
        Cow::Borrowed(self)
    }
}

impl sealed::Sealed for Vec<(&str, usize)> {}
impl Lengths for Vec<(&str, usize)> {
    fn pairs(&self) -> Cow<'_, [(&str, usize)]> {
        Cow::Borrowed(self)
    }
}

impl<S: BuildHasher> sealed::Sealed for HashMap<String, usize, S> {}
impl<S: BuildHasher> Lengths for HashMap<String, usize, S> {
    fn pairs(&self) -> Cow<'_, [(&str, usize)]> {
        let mut pairs: Vec<(&str, usize)> = self.iter().map(|(k, &v)| (k.as_str(), v)).collect();
        // A map's order varies between maps; the plan cache keys on it.
        pairs.sort_unstable();
        Cow::Owned(pairs)
    }
}

/// One operand of [`einsum`](crate::einsum) or [`pack`](crate::pack): any
/// `ndarray` array or view of any dimension type, or a reference to one.
pub trait Operand<A> {
    /// The operand as a dynamic-rank view.
    fn operand(&self) -> ArrayViewD<'_, A>;
}

impl<A, S, D> Operand<A> for ArrayBase<S, D>
where
    S: Data<Elem = A>,
    D: Dimension,
{
    fn operand(&self) -> ArrayViewD<'_, A> {
        self.view().into_dyn()
    }
}

impl<A, T: Operand<A> + ?Sized> Operand<A> for &T {
    fn operand(&self) -> ArrayViewD<'_, A> {
        (**self).operand()
    }
}

/// The operands of [`einsum`](crate::einsum) and [`pack`](crate::pack),
/// all of one element type: a slice, array or `Vec` of arrays or views of
/// one type, or a tuple of up to eight of any types (owned arrays and
/// views of any rank, mixed).
///
/// # Examples
///
/// ```
/// use ndarray::{Array2, Array3, array};
///
/// let x = Array3::<f32>::ones((2, 3, 4));
/// let w = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]];
/// // A typed array and a view, with no `into_dyn`.
/// let y = einplan::einsum("b t c, c d -> b t d", (&x, &w.view()))?;
/// assert_eq!(y.shape(), &[2, 3, 2]);
/// assert_eq!(y[[0, 0, 1]], 20.0);
/// // A slice of arrays of one type.
/// let parts = [Array2::<f32>::zeros((2, 3)), Array2::<f32>::ones((2, 3))];
/// let (packed, _) = einplan::pack(&parts, "b *")?;
/// assert_eq!(packed.shape(), &[2, 6]);
/// # Ok::<(), einplan::Error>(())
/// ```
pub trait Operands<A> {
    /// The operands as dynamic-rank views, in order.
    fn operands(&self) -> Vec<ArrayViewD<'_, A>>;
}

impl<A, T: Operand<A>> Operands<A> for [T] {
    fn operands(&self) -> Vec<ArrayViewD<'_, A>> {
        self.iter().map(Operand::operand).collect()
    }
}

impl<A, T: Operand<A>, const N: usize> Operands<A> for [T; N] {
    fn operands(&self) -> Vec<ArrayViewD<'_, A>> {
        self.iter().map(Operand::operand).collect()
    }
}

impl<A, T: Operand<A>> Operands<A> for Vec<T> {
    fn operands(&self) -> Vec<ArrayViewD<'_, A>> {
        self.iter().map(Operand::operand).collect()
    }
}

impl<A, O: Operands<A> + ?Sized> Operands<A> for &O {
    fn operands(&self) -> Vec<ArrayViewD<'_, A>> {
        (**self).operands()
    }
}

macro_rules! tuple_operands {
    ($($t:ident $i:tt),+) => {
        impl<A, $($t: Operand<A>),+> Operands<A> for ($($t,)+) {
            fn operands(&self) -> Vec<ArrayViewD<'_, A>> {
                vec![$(self.$i.operand()),+]
            }
        }
    };
}

tuple_operands!(T0 0);
tuple_operands!(T0 0, T1 1);
tuple_operands!(T0 0, T1 1, T2 2);
tuple_operands!(T0 0, T1 1, T2 2, T3 3);
tuple_operands!(T0 0, T1 1, T2 2, T3 3, T4 4);
tuple_operands!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5);
tuple_operands!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6);
tuple_operands!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7);
