//! Glue between the crate and the oracle, for property tests and fuzz
//! targets: arrays to oracle tensors, the crate's errors sorted into the
//! oracle's classes, and one verdict on a pair of outcomes. Nothing here
//! decides what is right; the oracle (`super`) does.

use einplan::{Error, ErrorKind};
use ndarray::{ArrayBase, Data, Dimension};

use super::{Class, Elem, Known, Reject, Tensor};

/// Whether to skip inputs in the families of [`Known`] bugs. It is
/// `false`: both families (zero-length axes beside overflowing lengths,
/// integer overflow) are fixed, and the fuzz targets and properties
/// demand that they stay fixed. Set it to `true` only while a regression
/// in one of them is being worked on.
pub const SKIP_KNOWN: bool = false;

/// The oracle's tensor for any array (elements in logical order).
pub fn tensor<A: Copy, S: Data<Elem = A>, D: Dimension>(x: &ArrayBase<S, D>) -> Tensor<A> {
    Tensor {
        shape: x.shape().to_vec(),
        data: x.iter().copied().collect(),
    }
}

/// The class of the crate's error, in the oracle's terms.
pub fn classify(e: &Error) -> Class {
    match e.kind() {
        ErrorKind::MissingArrow
        | ErrorKind::ExtraArrow
        | ErrorKind::UnexpectedArrow
        | ErrorKind::UnexpectedChar(_)
        | ErrorKind::UnclosedGroup
        | ErrorKind::UnopenedGroup
        | ErrorKind::NestedGroup
        | ErrorKind::InvalidName { .. }
        | ErrorKind::StrayDot
        | ErrorKind::ZeroAnonymousAxis
        | ErrorKind::NumberTooLarge(_) => Class::Syntax,
        ErrorKind::DuplicateEllipsis
        | ErrorKind::EllipsisInInputGroup
        | ErrorKind::Unsupported { .. }
        | ErrorKind::DuplicateAxis { .. }
        | ErrorKind::OneSidedAxis { .. }
        | ErrorKind::OneSidedEllipsis { .. }
        | ErrorKind::AnonymousAxis { .. } => Class::Rule,
        ErrorKind::UnusedLength { .. } | ErrorKind::DuplicateLength { .. } => Class::Lengths,
        ErrorKind::Underdetermined { .. }
        | ErrorKind::MissingLength { .. }
        | ErrorKind::RankMismatch { .. }
        | ErrorKind::NotDivisible { .. }
        | ErrorKind::LengthMismatch { .. }
        | ErrorKind::ZeroInGroup { .. }
        | ErrorKind::Overflow => Class::Shape,
        ErrorKind::UnsupportedReduction { .. }
        | ErrorKind::EmptyReduction { .. }
        | ErrorKind::IntegerOverflow { .. } => Class::Data,
        // The pattern's length is checked before parsing; the operand
        // count with the rules; ranks and sizes with the shapes.
        ErrorKind::PatternTooLong { .. } => Class::Syntax,
        ErrorKind::TooManyOperands { .. } => Class::Rule,
        ErrorKind::TooManyDimensions { .. } | ErrorKind::TooLarge { .. } => Class::Shape,
        // pack/unpack's count of `*` is a rule of the pattern; the rest are
        // inputs that disagree.
        ErrorKind::MissingStar { .. } | ErrorKind::ExtraStar { .. } => Class::Rule,
        ErrorKind::OperandCount { .. }
        | ErrorKind::AxisLengths { .. }
        | ErrorKind::EllipsisLengths { .. }
        | ErrorKind::OutputShape { .. }
        | ErrorKind::NoInputs { .. }
        | ErrorKind::ListShapes { .. }
        | ErrorKind::PackShapes { .. }
        | ErrorKind::UnpackSizes { .. }
        | ErrorKind::NegativePackedLength { .. }
        | ErrorKind::SeveralInferred
        | ErrorKind::UnpackInfer { .. } => Class::Shape,
        // Variants added later are about values (integer overflow).
        _ => Class::Data,
    }
}

/// Whether the oracle's answer falls in a family of known bugs that
/// [`SKIP_KNOWN`] says to skip.
pub fn skip<T>(slow: &Result<T, Reject>) -> bool {
    SKIP_KNOWN && matches!(slow, Err(r) if r.known.is_some())
}

/// Whether the oracle's answer is "too big to compute" for a result of
/// elements of type `T` that could really be allocated (more than 256 MiB,
/// at most `isize::MAX` bytes): harnesses skip calling the crate then, so
/// as not to fill the machine's memory (libFuzzer stops a run whose
/// resident memory passes 2 GiB). Results no array can hold are
/// still passed to the crate, which must refuse them without allocating.
///
/// Each element is counted as at least 32 bytes: a checked integer
/// reduction keeps an `Option<i128>` accumulator per output element, and
/// libFuzzer stops the run at any single allocation over 2 GiB.
pub fn would_fill_memory<T, U>(slow: &Result<U, Reject>) -> bool {
    let Err(Reject {
        class: Class::TooBig,
        elements,
        ..
    }) = slow
    else {
        return false;
    };
    let bytes = elements.and_then(|n| n.checked_mul(std::mem::size_of::<T>().max(32)));
    bytes.is_some_and(|b| b > 1 << 28 && b <= isize::MAX as usize)
}

/// Whether the oracle's answer is a zero-length overflow (the family that
/// panics before the fix), whatever [`SKIP_KNOWN`] says.
pub fn zero_overflow<T>(slow: &Result<T, Reject>) -> bool {
    matches!(slow, Err(r) if r.known == Some(Known::ZeroLengthOverflow))
}

/// The verdict on the crate's outcome `fast` against the oracle's `slow`:
/// equal results (by `same`), or errors of the same class. When the oracle
/// did not compute (too big), any result or error is accepted.
pub fn verdict<T, U>(
    fast: &Result<T, Error>,
    slow: &Result<U, Reject>,
    same: impl FnOnce(&T, &U) -> bool,
) -> Result<(), String> {
    match (fast, slow) {
        (_, Err(r)) if r.class == Class::TooBig => Ok(()),
        (Ok(a), Ok(b)) if same(a, b) => Ok(()),
        (Ok(_), Ok(_)) => Err("results differ".to_owned()),
        (Err(e), Err(r)) if classify(e) == r.class => Ok(()),
        (Err(e), Err(r)) => Err(format!(
            "both reject, for different reasons: crate {:?}, oracle {r}\n{e}",
            classify(e)
        )),
        (Ok(_), Err(r)) => Err(format!("the crate accepts, the oracle rejects: {r}")),
        (Err(e), Ok(_)) => Err(format!("the crate rejects, the oracle accepts:\n{e}")),
    }
}

/// Equal shapes and elements (integers exactly, floats within a relative
/// 1e-9, NaN equal to NaN).
pub fn same_values<A: Elem, S: Data<Elem = A>, D: Dimension>(
    x: &ArrayBase<S, D>,
    t: &Tensor<A>,
) -> bool {
    x.shape() == t.shape.as_slice()
        && x.iter().zip(&t.data).all(|(&a, &b)| {
            let (fa, fb) = (a.float(), b.float());
            a == b
                || (a.int().is_none()
                    && ((fa - fb).abs() <= 1e-9 * fb.abs().max(1.0)
                        || (fa.is_nan() && fb.is_nan())))
        })
}
