//! einops patterns, compiled to stride plans and run on [`ndarray`].
//!
//! ```
//! use ndarray::Array4;
//!
//! let x = Array4::<f32>::zeros((32, 240, 28, 28));
//! // ShuffleNet's channel shuffle, as one readable line.
//! let y = einplan::rearrange(&x, "b (c1 c2) h w -> b (c2 c1) h w", &[("c1", 3)])?;
//! assert_eq!(y.shape(), &[32, 240, 28, 28]);
//! # Ok::<(), einplan::Error>(())
//! ```
//!
//! # Overview
//!
//! A pattern goes through four stages, each its own module:
//!
//! 1. **parse** (`nom`): text → syntax tree with byte spans;
//! 2. **resolve**: syntax + operation → axes with identities, checked
//!    against the operation's rules;
//! 3. **plan**: + input shape → a [`Plan`]: lengths inferred and checked,
//!    then split → permute → merge expressed as strides;
//! 4. **exec**: the plan runs on any `ArrayBase` — contiguous, sliced,
//!    stepped, transposed or reversed. A plan whose merges fit the input's
//!    strides returns a view; otherwise it copies into standard layout.
//!
//! Stages 1–2 run once per pattern ([`Rearrange::new`]); stage 3 once per
//! input shape (cached); only stage 4 runs per call.
//!
//! # Any tensor code
//!
//! A [`Plan`] is layout arithmetic and nothing else, so it runs on any
//! memory a shape, strides and an offset describe. A [`Layout`] is such a
//! description, checked against its buffer; [`Plan::copy`],
//! [`Plan::reduce_into`] and [`Plan::fold_into`] run a plan from one plain
//! slice into another with the same kernels as the `ndarray` entry
//! points, and [`Plan::view`] says where the result lies in the input's
//! buffer when no copy is needed. An interleaved RGB image in a `Vec<u8>`
//! to planes:
//!
//! ```
//! use einplan::{Layout, Rearrange};
//!
//! let (h, w) = (2, 3);
//! let hwc: Vec<u8> = (0..(h * w * 3) as u8).collect(); // r g b r g b ...
//! let plan = Rearrange::new("h w c -> c h w")?.plan(&[h, w, 3])?;
//! let mut chw = vec![0u8; hwc.len()];
//! plan.copy(&hwc, &Layout::standard(&[h, w, 3])?, &mut chw, &Layout::standard(&[3, h, w])?)?;
//! assert_eq!(chw, [0, 3, 6, 9, 12, 15, 1, 4, 7, 10, 13, 16, 2, 5, 8, 11, 14, 17]);
//! # Ok::<(), einplan::Error>(())
//! ```
//!
//! For tensor libraries with their own operations (GPU ones included),
//! [`Plan::recipe`] gives the plan as primitive ops (reshape, permute,
//! reduce, insert axes, broadcast) to run with that library's own
//! functions. With the `candle` feature, the module `einplan::candle`
//! does this for `candle_core::Tensor`, and takes einplan's kernels for
//! CPU tensors. For `ndarray` code that must not copy,
//! [`rearrange_view`] returns a view or an error naming the merge that
//! would need a copy.
//!
//! # Pattern syntax
//!
//! The einops grammar: axis names (Unicode letters and digits and `_`, not
//! starting with a digit, not starting or ending with `_`), `->` between
//! the sides, parenthesised groups (one level) that merge or split axes,
//! `()` and `1` for unit axes, anonymous numeric axes (`2`), and one `...`
//! per side standing for any number of dimensions (inside a group only on
//! the output side). Spacing is free: `b(c h)w` is `b (c h) w`. Either
//! side may be empty, for 0-d arrays.
//!
//! # Error reporting
//!
//! Every failure is an [`Error`] whose `Display` shows the pattern, carets
//! under the offending part, and the message:
//!
//! ```text
//! a (b c) -> a b c
//!   ^^^^^
//! error: input axis 1 has length 5, which is not divisible by b = 2
//! ```
//!
//! # Input safety
//!
//! einplan is meant to take untrusted patterns and shapes. Nothing panics
//! on user input, and resources are bounded: patterns longer than 4096
//! bytes and inputs with more than 64 dimensions are rejected, every
//! product of lengths is overflow-checked, and no result may have more
//! than `isize::MAX` elements or take more than `isize::MAX` bytes (a
//! result too large to allocate is an error, never an abort). The grammar has one level of groups, so parsing
//! does not recurse on user input.
//!
//! # Unsafe code
//!
//! `unsafe` appears only in the private execution module `exec`, in one
//! file per concern: checked views (`source`), copies (`copy`), bit copies
//! and the SIMD choice (`bits`, with the x86-64 micro-kernels in `simd`,
//! chosen by runtime feature detection, with a portable fallback), loop
//! nests (`nest`), threads (`threads`) and folds and pooling (`pool`).
//! Each block carries a `// SAFETY:` comment. The bounds are proven once
//! per plan by the safe layout arithmetic (`layout`), and every kernel is
//! property-tested against a plain element-by-element reference executor,
//! also under Miri.
//!
//! # Features
//!
//! - `rayon` (default): large copies and pooling reductions are split
//!   over the rayon thread pool; small plans never touch it, and results
//!   are identical to a single thread's. A call takes helpers only for
//!   cores that nothing else is running on (on Linux, from the runnable
//!   count in `/proc/loadavg`): on a machine whose cores are all busy it
//!   runs on the calling thread, rather than wait for a descheduled helper.
//! - `shufflenet`: only for the `shufflenet` example binary (weights in
//!   safetensors); library users do not need it.
//! - `candle`: einops patterns on `candle_core::Tensor` (module
//!   `candle`): CPU build, candle's default features off.

#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod args;
mod ast;
#[cfg(feature = "candle")]
pub mod candle;
mod compiled;
// Also under `doctest`, so that the pages' examples run as tests.
#[cfg(any(doc, doctest))]
pub mod doc {
    //! Documentation pages.
    pub mod einops_users;
}
mod einmix;
mod einsum;
mod error;
mod exec;
mod ir;
mod layout;
mod ops;
mod pack;
mod parse;
mod plan;
pub mod prelude;
mod recipe;
mod reducible;
mod reduction;
mod resolve;
mod span;
#[cfg(any(feature = "proptest", feature = "arbitrary"))]
pub mod strategies;
mod strided;
mod view;

pub use crate::args::{Lengths, Operand, Operands};
pub use crate::einmix::EinMix;
pub use crate::einsum::{Einsum, einsum};
pub use crate::error::{Error, ErrorKind, KnownLengths, Side};
pub use crate::ops::{
    Rearrange, Reduce, Repeat, rearrange, rearrange_list, reduce, reduce_list, reduce_with, repeat,
    repeat_list,
};
pub use crate::pack::{PackedLength, pack, parse_shape, unpack};
pub use crate::plan::Plan;
pub use crate::recipe::{Primitive, Recipe};
pub use crate::reducible::Reducible;
pub use crate::reduction::Reduction;
pub use crate::strided::Layout;
pub use crate::view::{rearrange_view, repeat_view};

/// Internals exposed for this crate's own tests, benches and fuzz targets.
/// Not part of the public API: no stability promise, hidden from the docs.
#[doc(hidden)]
pub mod __private {
    use ndarray::{ArrayBase, ArrayD, Data, Dimension};

    use crate::compiled::cached;
    use crate::error::Error;
    use crate::ir::Op;

    /// Whether `pattern` parses, prints, and parses back to the same syntax
    /// tree (`Ok(true)`), or the error it gets.
    pub fn print_round_trips(pattern: &str) -> Result<bool, Error> {
        let ast = crate::parse::parse_pattern(pattern)?;
        let again = crate::parse::parse_pattern(&ast.to_string())?;
        Ok(again.without_spans() == ast.without_spans())
    }

    /// Reduce by the element-by-element reference executor.
    pub fn reference_reduce<A, S, D>(
        x: &ArrayBase<S, D>,
        pattern: &str,
        reduction: crate::Reduction,
        axes_lengths: &[(&str, usize)],
    ) -> Result<ArrayD<A>, Error>
    where
        A: crate::Reducible,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let compiled = cached(Op::Reduce, pattern, axes_lengths)?;
        crate::ops::run_reduce(&compiled, &x.view().into_dyn(), reduction, true)
    }

    /// Repeat by the element-by-element reference executor.
    pub fn reference_repeat<A, S, D>(
        x: &ArrayBase<S, D>,
        pattern: &str,
        axes_lengths: &[(&str, usize)],
    ) -> Result<ArrayD<A>, Error>
    where
        A: Clone,
        S: Data<Elem = A>,
        D: Dimension,
    {
        reference_copy(Op::Repeat, x, pattern, axes_lengths)
    }

    /// Sets the sizes in bytes from which the kernels use threads and
    /// streaming stores (`Some((threads, streaming))`), or restores the
    /// defaults (`None`). Results never depend on them: tests lower them to
    /// reach those paths with small arrays. While they are set, kernels use
    /// the pool's threads even when other processes keep the cores busy.
    pub fn set_kernel_thresholds(sizes: Option<(usize, usize)>) {
        crate::exec::threads::set_thresholds(sizes);
    }

    /// The sizes in bytes from which the kernels use threads and streaming
    /// stores, as [`set_kernel_thresholds`] takes them.
    pub fn kernel_thresholds() -> (usize, usize) {
        crate::exec::threads::thresholds()
    }

    /// Rearrange by the element-by-element reference executor.
    pub fn reference_rearrange<A, S, D>(
        x: &ArrayBase<S, D>,
        pattern: &str,
        axes_lengths: &[(&str, usize)],
    ) -> Result<ArrayD<A>, Error>
    where
        A: Clone,
        S: Data<Elem = A>,
        D: Dimension,
    {
        reference_copy(Op::Rearrange, x, pattern, axes_lengths)
    }

    /// Rearrange or repeat by the reference executor.
    fn reference_copy<A, S, D>(
        op: Op,
        x: &ArrayBase<S, D>,
        pattern: &str,
        axes_lengths: &[(&str, usize)],
    ) -> Result<ArrayD<A>, Error>
    where
        A: Clone,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let plan = cached(op, pattern, axes_lengths)?.plan(x.shape())?;
        Ok(crate::exec::reference::rearrange(
            &plan,
            &x.view().into_dyn(),
        ))
    }
}
