//! `pack`, `unpack` and `parse_shape`: one-sided patterns.

use std::collections::HashMap;

use ndarray::{ArrayBase, ArrayD, ArrayViewD, Axis, Data, Dimension, IxDyn, Slice};

use crate::args::Operands;
use crate::ast::{AtomKind, Expr, Term};
use crate::error::{Error, ErrorKind, KnownLengths, Side};
use crate::parse::parse_expr;
use crate::resolve::first_use;
use crate::span::Span;

/// Reads axis lengths off an array by naming its axes: `_` skips an axis,
/// `...` skips any number of them.
///
/// # Examples
///
/// ```
/// let x = ndarray::Array4::<f32>::zeros((2, 3, 5, 7));
/// let shape = einplan::parse_shape(&x, "b _ h w")?;
/// assert_eq!((shape["b"], shape["h"], shape["w"]), (2, 5, 7));
/// let shape = einplan::parse_shape(&x, "b ... w")?;
/// assert_eq!(shape.len(), 2);
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// # Errors
///
/// Syntax errors, groups of several axes (`(h w)`), a name used twice, a
/// rank that does not match, and a number (`3`, or `1`/`()` for a unit
/// axis) over a dimension of another length.
pub fn parse_shape<S, D>(
    x: &ArrayBase<S, D>,
    pattern: &str,
) -> Result<HashMap<String, usize>, Error>
where
    S: Data,
    D: Dimension,
{
    let expr = parse_expr(pattern)?;
    let err = |kind, span| Error::new(pattern, kind, span);
    let mut seen: HashMap<&str, Span> = HashMap::new();
    let mut ellipsis = None;
    for (i, term) in expr.terms.iter().enumerate() {
        if let Term::Group { span, .. } = term {
            let inner = term
                .atoms()
                .iter()
                .filter(|a| a.kind != AtomKind::Number(1));
            if inner.clone().count() > 1 || inner.clone().any(|a| a.kind == AtomKind::Ellipsis) {
                let kind = ErrorKind::Unsupported {
                    what: "a group of several axes",
                    op: "parse_shape",
                };
                return Err(err(kind, *span));
            }
        }
        for atom in term.atoms() {
            match &atom.kind {
                AtomKind::Name(name) => {
                    first_use(pattern, &mut seen, name, atom.span, Side::Input)?
                }
                AtomKind::Ellipsis => {
                    if let Some((_, first)) = ellipsis {
                        return Err(err(ErrorKind::DuplicateEllipsis, atom.span).with_aux(first));
                    }
                    ellipsis = Some((i, atom.span));
                }
                AtomKind::Number(_) | AtomKind::Skip => {}
                AtomKind::Star => {
                    let kind = ErrorKind::Unsupported {
                        what: "`*`",
                        op: "parse_shape",
                    };
                    return Err(err(kind, atom.span));
                }
            }
        }
    }
    let shape = x.shape();
    let fixed = expr.terms.len() - usize::from(ellipsis.is_some());
    let rank_ok = match ellipsis {
        Some(_) => shape.len() >= fixed,
        None => shape.len() == fixed,
    };
    if !rank_ok {
        let kind = ErrorKind::RankMismatch {
            expected: fixed,
            found: shape.len(),
            at_least: ellipsis.is_some(),
        };
        return Err(err(kind, expr.span));
    }
    let mut out = HashMap::new();
    let skip = shape.len() - fixed;
    for (i, term) in expr.terms.iter().enumerate() {
        let dim = match ellipsis {
            Some((e, _)) if i == e => continue,
            Some((e, _)) if i > e => i - 1 + skip,
            _ => i,
        };
        // At most one atom other than `1` (checked above).
        let atom = term.atoms().iter().find(|a| a.kind != AtomKind::Number(1));
        let expected = match atom.map(|a| &a.kind) {
            Some(AtomKind::Name(name)) => {
                out.insert(name.clone(), shape[dim]);
                continue;
            }
            Some(AtomKind::Number(n)) => *n,
            Some(_) => continue,
            None => 1,
        };
        if shape[dim] != expected {
            let kind = ErrorKind::LengthMismatch {
                dim,
                length: shape[dim],
                expected: KnownLengths {
                    axes: Vec::new(),
                    product: expected,
                },
            };
            return Err(err(kind, term.span()));
        }
    }
    Ok(out)
}

/// A checked pack/unpack pattern: names and exactly one `*`.
struct PackPattern {
    before: usize,
    after: usize,
    star: Span,
}

fn pack_pattern(pattern: &str, op: &'static str) -> Result<PackPattern, Error> {
    let expr: Expr = parse_expr(pattern)?;
    let err = |kind, span| Error::new(pattern, kind, span);
    let mut seen: HashMap<&str, Span> = HashMap::new();
    let mut star: Option<(usize, Span)> = None;
    for (i, term) in expr.terms.iter().enumerate() {
        let atom = match term {
            Term::Atom(atom) => atom,
            Term::Group { span, .. } => {
                let kind = ErrorKind::Unsupported {
                    what: "a group",
                    op,
                };
                return Err(err(kind, *span));
            }
        };
        match &atom.kind {
            AtomKind::Name(name) => first_use(pattern, &mut seen, name, atom.span, Side::Input)?,
            AtomKind::Star => {
                if let Some((_, first)) = star {
                    let kind = ErrorKind::ExtraStar { op };
                    return Err(err(kind, atom.span).with_aux(first));
                }
                star = Some((i, atom.span));
            }
            AtomKind::Ellipsis => {
                let kind = ErrorKind::Unsupported { what: "`...`", op };
                return Err(err(kind, atom.span));
            }
            AtomKind::Skip => {
                let kind = ErrorKind::Unsupported { what: "`_`", op };
                return Err(err(kind, atom.span));
            }
            AtomKind::Number(_) => {
                let kind = ErrorKind::Unsupported {
                    what: "an anonymous axis",
                    op,
                };
                return Err(err(kind, atom.span));
            }
        }
    }
    let Some((at, span)) = star else {
        let kind = ErrorKind::MissingStar { op };
        return Err(err(kind, expr.span));
    };
    Ok(PackPattern {
        before: at,
        after: expr.terms.len() - at - 1,
        star: span,
    })
}

/// Packs arrays into one by merging the axes each has at `*` and
/// concatenating along that axis, as einops' `pack`: shapes must agree on
/// the named axes; each array may have any number of axes (including none)
/// under `*`. Returns the packed array and, for each input, the shape of
/// its `*` part, which [`unpack`] needs to undo the packing.
///
/// # Examples
///
/// ```
/// use ndarray::{ArrayD, IxDyn};
///
/// let a = ArrayD::<f32>::zeros(IxDyn(&[2, 5]));
/// let b = ArrayD::<f32>::zeros(IxDyn(&[2, 3, 4, 5]));
/// let (packed, shapes) = einplan::pack(&[a.view(), b.view()], "b * c")?;
/// assert_eq!(packed.shape(), &[2, 13, 5]);
/// assert_eq!(shapes, [vec![], vec![3, 4]]);
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// # Errors
///
/// A pattern without exactly one `*` or with groups, `...`, `_` or
/// numbers; no inputs; an input with too few axes; inputs whose named axes
/// disagree.
pub fn pack<A, O>(inputs: O, pattern: &str) -> Result<(ArrayD<A>, Vec<Vec<usize>>), Error>
where
    A: Clone,
    O: Operands<A>,
{
    let inputs = inputs.operands();
    let inputs = inputs.as_slice();
    let p = pack_pattern(pattern, "pack")?;
    let err = |kind| Error::new(pattern, kind, p.star);
    let Some(first) = inputs.first() else {
        return Err(err(ErrorKind::NoInputs { op: "pack" }));
    };
    let min_rank = p.before + p.after;
    let outer = |x: &ArrayViewD<'_, A>| -> Vec<usize> {
        let s = x.shape();
        let mut v = s[..p.before].to_vec();
        v.extend_from_slice(&s[s.len() - p.after..]);
        v
    };
    let mut shapes = Vec::with_capacity(inputs.len());
    let mut merged = Vec::with_capacity(inputs.len());
    for (i, x) in inputs.iter().enumerate() {
        if x.ndim() < min_rank {
            let kind = ErrorKind::RankMismatch {
                expected: min_rank,
                found: x.ndim(),
                at_least: true,
            };
            return Err(Error::new(pattern, kind, Span::new(0, pattern.len())));
        }
        if first.ndim() >= min_rank && outer(x) != outer(first) {
            return Err(err(ErrorKind::PackShapes {
                index: i,
                shape: x.shape().to_vec(),
                first: first.shape().to_vec(),
            }));
        }
        let star_shape = x.shape()[p.before..x.ndim() - p.after].to_vec();
        let star_len = star_shape
            .iter()
            .try_fold(1usize, |a, &n| a.checked_mul(n))
            .ok_or_else(|| err(ErrorKind::Overflow))?;
        let mut new_shape = x.shape()[..p.before].to_vec();
        new_shape.push(star_len);
        new_shape.extend_from_slice(&x.shape()[x.ndim() - p.after..]);
        let cow = x
            .to_shape(IxDyn(&new_shape))
            // The sizes agree, so only a shape ndarray cannot hold fails.
            .map_err(|_| err(ErrorKind::Overflow))?;
        merged.push(cow.into_owned());
        shapes.push(star_shape);
    }
    let views: Vec<_> = merged.iter().map(|m| m.view()).collect();
    let packed = ndarray::concatenate(Axis(p.before), &views)
        // The shapes agree outside `*`, so only an overflow fails.
        .map_err(|_| err(ErrorKind::Overflow))?;
    Ok((packed, shapes))
}

/// A length in the packed shapes given to [`unpack`]: a `usize`, or a
/// signed integer where `-1` stands for a length to infer, as in einops
/// (at most one `-1`, in one shape).
///
/// Implemented for `usize`, `isize`, `i64` and `i32`; sealed.
///
/// # Examples
///
/// ```
/// use ndarray::{ArrayD, IxDyn};
///
/// let packed = ArrayD::from_shape_vec(IxDyn(&[2, 7]), (0..14).collect())?;
/// // The second piece takes what the first leaves: 7 - 1 = 6 = 2 * 3.
/// let parts = einplan::unpack(&packed, &[vec![], vec![2, -1]], "b *")?;
/// assert_eq!(parts[1].shape(), &[2, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait PackedLength: Copy + sealed::Sealed {
    /// The length; `Ok(None)` for `-1`; `Err` with the value for any
    /// other negative number.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::PackedLength;
    ///
    /// assert_eq!(3usize.length(), Ok(Some(3)));
    /// assert_eq!(4i64.length(), Ok(Some(4)));
    /// assert_eq!((-1i32).length(), Ok(None));
    /// assert_eq!((-2isize).length(), Err(-2));
    /// ```
    fn length(self) -> Result<Option<usize>, i64>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for isize {}
    impl Sealed for i64 {}
    impl Sealed for i32 {}
}

impl PackedLength for usize {
    fn length(self) -> Result<Option<usize>, i64> {
        Ok(Some(self))
    }
}

macro_rules! signed_packed_length {
    ($($t:ty),*) => {$(
        impl PackedLength for $t {
            fn length(self) -> Result<Option<usize>, i64> {
                match self {
                    -1 => Ok(None),
                    n => usize::try_from(n).map(Some).map_err(|_| n as i64),
                }
            }
        }
    )*};
}
signed_packed_length!(isize, i64, i32);

/// Splits a packed array back into its parts, as einops' `unpack`: the
/// axis at `*` is cut into pieces of the sizes `packed_shapes` implies,
/// and each piece is reshaped to its shape. As in einops, one length in
/// one shape may be `-1` (with signed lengths, see [`PackedLength`]): it
/// takes what the other pieces leave.
///
/// Unlike einops, the pieces must add up to the packed axis exactly;
/// einops returns overlapping or truncated slices when they do not.
///
/// # Examples
///
/// ```
/// use ndarray::{ArrayD, IxDyn};
///
/// let packed = ArrayD::from_shape_vec(IxDyn(&[2, 7]), (0..14).collect())?;
/// let parts = einplan::unpack(&packed, &[vec![], vec![2, 3]], "b *")?;
/// assert_eq!(parts[0].shape(), &[2]);
/// assert_eq!(parts[1].shape(), &[2, 2, 3]);
/// assert_eq!(parts[1][[1, 0, 0]], 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`pack`] for the pattern; a rank that does not match the pattern;
/// packed shapes whose sizes do not add up to the packed axis.
pub fn unpack<A, S, D, L>(
    x: &ArrayBase<S, D>,
    packed_shapes: &[Vec<L>],
    pattern: &str,
) -> Result<Vec<ArrayD<A>>, Error>
where
    A: Clone,
    S: Data<Elem = A>,
    D: Dimension,
    L: PackedLength,
{
    let p = pack_pattern(pattern, "unpack")?;
    let err = |kind| Error::new(pattern, kind, p.star);
    let rank = p.before + 1 + p.after;
    if x.ndim() != rank {
        let kind = ErrorKind::RankMismatch {
            expected: rank,
            found: x.ndim(),
            at_least: false,
        };
        return Err(Error::new(pattern, kind, Span::new(0, pattern.len())));
    }
    let given: Vec<Vec<Option<usize>>> = packed_shapes
        .iter()
        .map(|s| s.iter().map(|l| l.length()).collect::<Result<_, _>>())
        .collect::<Result<_, _>>()
        .map_err(|length| err(ErrorKind::NegativePackedLength { length }))?;
    let unknown: Vec<usize> = (0..given.len())
        .filter(|&i| given[i].contains(&None))
        .collect();
    if unknown.len() > 1
        || unknown
            .iter()
            .any(|&i| given[i].iter().filter(|l| l.is_none()).count() > 1)
    {
        return Err(err(ErrorKind::SeveralInferred));
    }
    let product = |s: &[Option<usize>]| {
        s.iter()
            .flatten()
            .try_fold(1usize, |a, &n| a.checked_mul(n))
            .ok_or_else(|| err(ErrorKind::Overflow))
    };
    let mut sizes: Vec<usize> = given.iter().map(|s| product(s)).collect::<Result<_, _>>()?;
    let total = sizes
        .iter()
        .enumerate()
        .filter(|(i, _)| !unknown.contains(i))
        .try_fold(0usize, |a, (_, &n)| a.checked_add(n))
        .ok_or_else(|| err(ErrorKind::Overflow))?;
    let axis_len = x.shape()[p.before];
    let mut packed_shapes: Vec<Vec<usize>> = given
        .iter()
        .map(|s| s.iter().map(|l| l.unwrap_or(0)).collect())
        .collect();
    if let [i] = unknown[..] {
        let others = sizes[i];
        let rest = axis_len
            .checked_sub(total)
            .filter(|&r| others != 0 && r % others == 0);
        let Some(rest) = rest else {
            return Err(err(ErrorKind::UnpackInfer {
                total,
                length: axis_len,
                multiple: others,
            }));
        };
        let at = given[i]
            .iter()
            .position(Option::is_none)
            .unwrap_or_default();
        packed_shapes[i][at] = rest / others;
        sizes[i] = rest;
    } else if total != axis_len {
        return Err(err(ErrorKind::UnpackSizes {
            total,
            length: axis_len,
        }));
    }
    let x = x.view().into_dyn();
    let mut start = 0;
    let mut parts = Vec::with_capacity(sizes.len());
    for (shape, &size) in packed_shapes.iter().zip(&sizes) {
        let piece = x.slice_axis(Axis(p.before), Slice::from(start..start + size));
        start += size;
        let mut new_shape = x.shape()[..p.before].to_vec();
        new_shape.extend_from_slice(shape);
        new_shape.extend_from_slice(&x.shape()[rank - p.after..]);
        let part = piece
            .to_shape(IxDyn(&new_shape))
            // The sizes agree, so only a shape ndarray cannot hold fails.
            .map_err(|_| err(ErrorKind::Overflow))?;
        parts.push(part.into_owned());
    }
    Ok(parts)
}

/// The position of the `*` of a pack or unpack pattern: how many axes
/// come before it.
#[cfg_attr(not(feature = "candle"), allow(dead_code))]
pub(crate) fn star_position(pattern: &str, op: &'static str) -> Result<usize, Error> {
    Ok(pack_pattern(pattern, op)?.before)
}
