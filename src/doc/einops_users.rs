//! # einplan for einops users
//!
//! einplan follows einops' pattern language and results: the conformance
//! suite replays cases generated with the real einops (see
//! `tests/data/gen_fixtures.py`). This page maps one to the other and
//! lists every deliberate difference.
//!
//! | einops (Python) | einplan (Rust) |
//! |---|---|
//! | `rearrange(x, "b c h w -> b h w c")` | `rearrange(&x, "b c h w -> b h w c", &[])?` |
//! | `rearrange(x, "b (c1 c2) h w -> b (c2 c1) h w", c1=3)` | `rearrange(&x, "…", &[("c1", 3)])?` |
//! | `Rearrange("…", c1=3)` (a layer) | `Rearrange::new("…")?.with("c1", 3)?` |
//! | `reduce(x, "b c h w -> b c", "mean")` | `reduce(&x, "b c h w -> b c", Reduction::Mean, &[])?` |
//! | `reduce(x, "…", "max")` | `reduce(&x, "…", Reduction::Max, &[])?` |
//! | `reduce(x, "…", custom_fn)` | `reduce_with(&x, "…", &[], init, \|acc, x\| …)?` |
//! | `Reduce("…", "mean")` | `Reduce::new("…", Reduction::Mean)?` |
//! | `repeat(x, "h w -> h w c", c=3)` | `repeat(&x, "h w -> h w c", &[("c", 3)])?` |
//! | `rearrange([x1, x2], "n h w -> h (n w)")` | `rearrange_list(&[x1, x2], "n h w -> h (n w)", &[])?` |
//! | `pack([a, b], "b * c")` | `pack(&[a.view(), b.view()], "b * c")?` |
//! | `unpack(x, ps, "b * c")` | `unpack(&x, &ps, "b * c")?` |
//! | `parse_shape(x, "b _ h w")` | `parse_shape(&x, "b _ h w")?` (a `HashMap`) |
//! | `einsum(a, b, "b i, i j -> b j")` | `einsum("b i, i j -> b j", &[a.view(), b.view()])?` |
//! | (not in einops) | `Einsum::new("b (g ci) h w, g co ci -> b (g co) h w")?.with("g", 3)?` |
//! | `x.rearrange(…)` (einx / torch style) | `use einplan::prelude::*; x.rearrange(…)?` |
//!
//! The same calls side by side, with einops' line above each:
//!
//! ```
//! use einplan::{ErrorKind, Reduction};
//! use ndarray::{arr1, arr2};
//!
//! let x = arr2(&[[1, 2], [3, 4]]);
//! // rearrange(x, "a b -> (b a)")
//! let y = einplan::rearrange(&x, "a b -> (b a)", &[])?;
//! assert_eq!(y, arr1(&[1, 3, 2, 4]).into_dyn());
//! // reduce(x, "a b -> a", "max")
//! let m = einplan::reduce(&x, "a b -> a", Reduction::Max, &[])?;
//! assert_eq!(m, arr1(&[2, 4]).into_dyn());
//! // repeat(x, "a b -> a b c", c=2)
//! let r = einplan::repeat(&x, "a b -> a b c", &[("c", 2)])?;
//! assert_eq!(r.shape(), &[2, 2, 2]);
//! // reduce(x, "a b -> a", "mean") raises NotImplementedError for integers;
//! // einplan returns an error too.
//! let err = einplan::reduce(&x, "a b -> a", Reduction::Mean, &[]).unwrap_err();
//! assert!(matches!(err.kind(), ErrorKind::UnsupportedReduction { .. }));
//! // reduce(x.astype("float64"), "a b -> a", "mean")
//! let mean = einplan::reduce(&x.mapv(f64::from), "a b -> a", Reduction::Mean, &[])?;
//! assert_eq!(mean, arr1(&[1.5, 3.5]).into_dyn());
//! # Ok::<(), einplan::Error>(())
//! ```
//!
//! The function names are einplan's crate-root items: [`rearrange`],
//! [`reduce`], [`reduce_with`], [`repeat`], [`rearrange_list`],
//! [`pack`], [`unpack`], [`parse_shape`], [`einsum`], and the compiled ops
//! [`Rearrange`], [`Reduce`], [`Repeat`].
//!
//! ## Views and copies
//!
//! einops returns whatever the backend's `reshape`/`transpose` return.
//! einplan decides from the plan and the input's strides: `rearrange` and
//! `repeat` return `CowArray::Borrowed` (no data moved) exactly when the
//! result can be described by strides over the input's memory, and a
//! standard-layout copy otherwise. [`Plan::is_view`] tells in advance for
//! standard-layout inputs. `reduce` always returns a fresh array.
//!
//! ## Deliberate differences
//!
//! - **Errors point into the pattern.** Every error is an [`Error`] with a
//!   byte span, rendered with carets, instead of a message string.
//! - **Whitespace.** Any whitespace (tabs, newlines) separates axes, so a
//!   long pattern can be split over lines; einops accepts only spaces
//!   (fixtures `rearrange/error/026`, `parse_shape/error/025`).
//! - **`unpack` checks the sizes.** When the packed shapes do not add up
//!   to the packed axis, einops returns overlapping or truncated pieces;
//!   einplan returns an error.
//! - **`Mean` on integers** is an error in both: einops raises
//!   `NotImplementedError` ("reduce_mean is not available for
//!   non-floating tensors"), einplan returns an
//!   [`ErrorKind::UnsupportedReduction`] that asks you to convert the
//!   array to a float type first.
//! - **`Min`/`Max` over zero elements** is an error in both, but einplan's
//!   is an [`ErrorKind::EmptyReduction`] pointing at the pattern.
//! - **Integer sums and products that overflow are errors.** einops
//!   (through numpy) widens integer types narrower than 64 bits to 64
//!   bits, and silently wraps 64-bit sums and products; einplan keeps the
//!   element type, so it refuses with an [`ErrorKind::IntegerOverflow`]
//!   that names a wider type instead of wrapping. An integer `einsum` runs
//!   exactly in `i128` and refuses a result that does not fit; with 64-bit
//!   elements near their limits one of its intermediate sums can pass
//!   `i128` too, and then it refuses a result that would have fit (terms
//!   that cancel). `f32` sums accumulate in `f64`, so
//!   they are more accurate than numpy's pairwise `f32` sums on long
//!   reductions.
//! - **Lists of arrays** use separate functions (`rearrange_list`, …)
//!   because Rust has no overloading on "array or list".
//! - **Names are letters, digits and `_` only.** einops accepts any Python
//!   identifier, including `…` (U+2026) as an ordinary axis name and
//!   numerals such as `Ⅻ` as a name's first character, and reads non-ASCII
//!   digits such as `٣` as a number; einplan rejects all three with a
//!   pointed error. `...b` is rejected by both (einplan does not read it as
//!   `... b`).
//! - **`unpack` takes einops' `-1`.** Give the packed shapes as signed
//!   integers ([`PackedLength`]) and one length in one shape may be `-1`:
//!   it takes what the other pieces leave, as in einops.
//! - **Clear errors where einops raises Python's.** A missing or doubled
//!   `->` (einops: `ValueError` from tuple unpacking), a zero length in a
//!   group with an unknown axis (einops: `ZeroDivisionError`), an empty
//!   list (einops: `TypeError`/`IndexError`) all get an [`Error`].
//! - **einsum goes further than einops'**: parenthesised axis groups on
//!   both sides (a grouped convolution is one einsum), `1`/`()` unit axes.
//!   Lengths must match exactly: no broadcasting from length 1 (numpy
//!   broadcasts silently). A `...` missing from the output is summed, as
//!   in `reduce` (numpy raises). As in einops, `_` is an ordinary axis
//!   name in einsum (elsewhere it is `parse_shape`'s "skip"), and an
//!   output `...` when no operand has one stands for no axes
//!   (`a b c -> ...` is the sum of all elements). Sums accumulate in the element type, as in
//!   numpy.
//! - **Limits.** Patterns longer than 4096 bytes and inputs with more than
//!   64 dimensions are rejected (see *Input safety* in the crate docs).
//!
//! [`rearrange`]: crate::rearrange
//! [`reduce`]: crate::reduce
//! [`reduce_with`]: crate::reduce_with
//! [`repeat`]: crate::repeat
//! [`rearrange_list`]: crate::rearrange_list
//! [`pack`]: crate::pack
//! [`unpack`]: crate::unpack
//! [`parse_shape`]: crate::parse_shape
//! [`Rearrange`]: crate::Rearrange
//! [`Reduce`]: crate::Reduce
//! [`Repeat`]: crate::Repeat
//! [`einsum`]: crate::einsum
//! [`Plan::is_view`]: crate::Plan::is_view
//! [`PackedLength`]: crate::PackedLength
//! [`Error`]: crate::Error
//! [`ErrorKind::EmptyReduction`]: crate::ErrorKind::EmptyReduction
//! [`ErrorKind::UnsupportedReduction`]: crate::ErrorKind::UnsupportedReduction
//! [`ErrorKind::IntegerOverflow`]: crate::ErrorKind::IntegerOverflow
