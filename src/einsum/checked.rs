//! Checked arithmetic for integer einsums.
//!
//! einsum's element types are ndarray's `LinalgScalar`s, whose `+` and `*`
//! panic on overflow in debug builds and wrap in release builds. For the
//! primitive integers einplan refuses instead, as `reduce` does: the
//! operations here are chosen by the element type, checked for the
//! integers and plain for everything else (floats keep their fast path).
//! The type tests are comparisons of `TypeId` constants, which the
//! compiler folds away in each instantiation. Integers of at most 64 bits
//! run exactly in `i128` and are narrowed at the end, so an overflow is
//! reported when the result itself does not fit, whatever the order of
//! the sums, as long as no sum the schedule forms passes `i128`. None can
//! while the product over the operands of their elements' absolute sums
//! stays below 2^127 (always for two operands of at most 32 bits with
//! fewer than 2^31 elements each). Beyond that an intermediate can overflow
//! `i128` even though the terms cancel: `(b a), a a ->` on `i64` with
//! every `x` at `i64::MAX` and a diagonal `[MAX, -MAX]` is exactly 0,
//! but the schedule sums `x` over `b` first, and `4 · MAX · MAX` does
//! not fit, so it is refused as an overflow.

use std::any::Any;

/// `Some(v)` when `A` is `T`.
fn cast<A: 'static + Copy, T: 'static + Copy>(a: A) -> Option<T> {
    (&a as &dyn Any).downcast_ref::<T>().copied()
}

macro_rules! integers {
    ($($t:ty => $wider:expr),* $(,)?) => {
        /// Whether `A` is a primitive integer, and the wider type to
        /// suggest when its arithmetic overflows.
        pub(super) fn integer<A: 'static>() -> Option<Option<&'static str>> {
            let id = std::any::TypeId::of::<A>();
            $(if id == std::any::TypeId::of::<$t>() {
                return Some($wider);
            })*
            None
        }

        /// `acc + a * b`, or `None` if an integer operation overflows.
        pub(super) fn mul_add<A>(acc: A, a: A, b: A) -> Option<A>
        where
            A: ndarray::LinalgScalar,
        {
            $(if let (Some(acc), Some(a), Some(b)) =
                (cast::<A, $t>(acc), cast::<A, $t>(a), cast::<A, $t>(b))
            {
                let r = a.checked_mul(b).and_then(|p| acc.checked_add(p))?;
                return cast::<$t, A>(r);
            })*
            Some(acc + a * b)
        }

        /// `a + b`, or `None` if an integer addition overflows.
        pub(super) fn add<A>(a: A, b: A) -> Option<A>
        where
            A: ndarray::LinalgScalar,
        {
            $(if let (Some(a), Some(b)) = (cast::<A, $t>(a), cast::<A, $t>(b)) {
                return cast::<$t, A>(a.checked_add(b)?);
            })*
            Some(a + b)
        }
    };
}

integers! {
    i8 => Some("i16"), i16 => Some("i32"), i32 => Some("i64"), i64 => Some("i128"),
    i128 => None, isize => Some("i128"),
    u8 => Some("u16"), u16 => Some("u32"), u32 => Some("u64"), u64 => Some("u128"),
    u128 => None, usize => Some("u128"),
}

macro_rules! narrow_integers {
    ($($t:ty),*) => {
        /// Whether `A` is a primitive integer of at most 64 bits, whose
        /// einsum runs exactly in `i128` (see [`to_i128`]).
        pub(super) fn widens<A: 'static>() -> bool {
            let id = std::any::TypeId::of::<A>();
            false $(|| id == std::any::TypeId::of::<$t>())*
        }

        /// `v` as an `i128`, when `A` is an integer of at most 64 bits
        /// (every such value fits).
        pub(super) fn to_i128<A: 'static + Copy>(v: A) -> Option<i128> {
            $(if let Some(v) = cast::<A, $t>(v) {
                return Some(v as i128);
            })*
            None
        }

        /// `w` as an `A`, if `A` is an integer of at most 64 bits and `w`
        /// fits it.
        pub(super) fn from_i128<A: 'static + Copy>(w: i128) -> Option<A> {
            $(if std::any::TypeId::of::<A>() == std::any::TypeId::of::<$t>() {
                return cast::<$t, A>(<$t>::try_from(w).ok()?);
            })*
            None
        }
    };
}

narrow_integers!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_checked_and_floats_are_not() {
        assert_eq!(integer::<u8>(), Some(Some("u16")));
        assert_eq!(integer::<f32>(), None);
        assert_eq!(mul_add(1u8, 16, 15), Some(241));
        assert_eq!(mul_add(1u8, 16, 16), None);
        assert_eq!(mul_add(i64::MAX, 1, -1), Some(i64::MAX - 1));
        assert_eq!(add(i64::MAX, 1), None);
        assert_eq!(add(u128::MAX, 0), Some(u128::MAX));
        assert_eq!(mul_add(f32::MAX, 2.0, f32::MAX), Some(f32::INFINITY));
        assert!(widens::<u64>() && !widens::<i128>() && !widens::<f64>());
        assert_eq!(to_i128(u64::MAX), Some(u64::MAX as i128));
        assert_eq!(from_i128::<i8>(-128), Some(-128i8));
        assert_eq!(from_i128::<i8>(128), None);
    }
}
