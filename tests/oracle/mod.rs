//! An independent oracle: a plain interpreter of einops semantics.
//!
//! It shares nothing with the crate under test: its own tokenizer, its own
//! structure parser, its own rules per operation, its own length
//! inference, and tensors that are a shape and a row-major `Vec`. It is
//! slow and simple on purpose: every result is computed by visiting every
//! assignment of every elementary axis. It decides acceptance on its own
//! and sorts each rejection into a coarse [`Class`], so a caller can check
//! that the crate rejects the same inputs for the same kind of reason.
//!
//! The semantics are einops' (checked against every committed fixture in
//! `tests/data/`, see `tests/oracle_fixtures.rs`) plus the crate's documented
//! deliberate differences (the einops-users page): any whitespace separates
//! axes; names are letters, digits and `_`; unpack sizes must add up;
//! `mean` of integers is refused; integer results that do not fit the
//! element type are refused (einops widens through numpy); einsum takes
//! groups, `1` and `()`, and lengths must match exactly.
//!
//! Used by `tests/` (as `mod oracle`) and by `fuzz/` (through `#[path]`).

#![allow(dead_code)]

pub mod compare;

use std::collections::BTreeMap;
use std::fmt;

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 4096;
/// The most dimensions an input may have.
pub const MAX_RANK: usize = 64;
/// The most operands an einsum may have.
pub const MAX_OPERANDS: usize = 64;
/// Results (or einsum iteration spaces) larger than this are not computed:
/// the oracle answers [`Class::TooBig`] and the caller checks less.
pub const MAX_WORK: usize = 1 << 20;

/// Why an input is rejected, coarsely: the stage that must refuse it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The text is not a pattern (characters, brackets, dots, names,
    /// arrows, numbers), or it is longer than [`MAX_PATTERN_LEN`].
    Syntax,
    /// A well-formed pattern the operation refuses before seeing any
    /// length: duplicates, one-sided axes, anonymous axes, `...` placement,
    /// constructs of other operations, too many operands.
    Rule,
    /// The given axis lengths do not fit the pattern: a name it does not
    /// use, or a name given twice.
    Lengths,
    /// The pattern, lengths and input shapes disagree: rank, divisibility,
    /// mismatched lengths, lengths that cannot be inferred or are missing,
    /// inputs of a list or a pack that disagree, sizes that overflow.
    Shape,
    /// The values: min/max of nothing, mean of integers, an integer result
    /// that does not fit the element type.
    Data,
    /// Valid as far as the oracle checked, but too large to compute here:
    /// too many elements, or integer products beyond `i128`.
    TooBig,
}

/// A rejection: its class, a reason for humans, and whether it belongs to
/// a family of inputs the crate is known to mishandle (so a harness can
/// skip it until the fix lands).
#[derive(Clone, Debug, PartialEq)]
pub struct Reject {
    pub class: Class,
    pub why: String,
    pub known: Option<Known>,
    /// For [`Class::TooBig`]: how many elements the result has.
    pub elements: Option<usize>,
}

/// Families of inputs with a known, tracked bug in the crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// A zero-length axis beside lengths whose product overflows: the
    /// shape holds no elements, but no array can have it.
    ZeroLengthOverflow,
    /// An integer sum or product that does not fit the element type.
    IntegerOverflow,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.class, self.why)
    }
}

fn reject<T>(class: Class, why: impl Into<String>) -> Result<T, Reject> {
    Err(Reject {
        class,
        why: why.into(),
        known: None,
        elements: None,
    })
}

/// A tensor: a shape and its elements in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

impl<T: Clone> Tensor<T> {
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Tensor<T> {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "{shape:?}");
        Tensor { shape, data }
    }

    /// The element at a multi-index.
    pub fn at(&self, index: &[usize]) -> T {
        self.data[flat(&self.shape, index)].clone()
    }
}

/// The row-major offset of `index` in `shape`.
fn flat(shape: &[usize], index: &[usize]) -> usize {
    shape.iter().zip(index).fold(0, |acc, (&n, &i)| acc * n + i)
}

/// Element types: integers are computed exactly (in `i128`) and must fit
/// at the end; floats are computed in `f64`.
pub trait Elem: Copy + PartialEq + fmt::Debug {
    const NAME: &'static str;
    /// The exact value, for integers.
    fn int(self) -> Option<i128>;
    /// The integer `v`, if it fits the type.
    fn from_int(v: i128) -> Option<Self>;
    fn float(self) -> f64;
    fn from_float(v: f64) -> Self;
}

macro_rules! int_elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            const NAME: &'static str = stringify!($t);
            fn int(self) -> Option<i128> { Some(self as i128) }
            fn from_int(v: i128) -> Option<Self> { <$t>::try_from(v).ok() }
            fn float(self) -> f64 { self as f64 }
            fn from_float(v: f64) -> Self { v as $t }
        }
    )*};
}
int_elem!(u8, i8, u16, i16, u32, i32, u64, i64, usize, isize);

macro_rules! float_elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            const NAME: &'static str = stringify!($t);
            fn int(self) -> Option<i128> { None }
            fn from_int(_: i128) -> Option<Self> { None }
            fn float(self) -> f64 { self as f64 }
            fn from_float(v: f64) -> Self { v as $t }
        }
    )*};
}
float_elem!(f32, f64);

// ---------------------------------------------------------------------------
// Tokens

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Name(String),
    Num(usize),
    Dots,
    Star,
    Skip,
    Open,
    Close,
    Comma,
    Arrow,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn tokenize(text: &str) -> Result<Vec<Tok>, Reject> {
    if text.len() > MAX_PATTERN_LEN {
        return reject(Class::Syntax, "pattern too long");
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => out.push(Tok::Open),
            ')' => out.push(Tok::Close),
            ',' => out.push(Tok::Comma),
            '*' => out.push(Tok::Star),
            '-' if chars.get(i + 1) == Some(&'>') => {
                out.push(Tok::Arrow);
                i += 1;
            }
            '.' => {
                let mut j = i;
                while j < chars.len() && chars[j] == '.' {
                    j += 1;
                }
                if j - i != 3 {
                    return reject(Class::Syntax, "dots other than `...`");
                }
                if j < chars.len() && is_word(chars[j]) {
                    return reject(Class::Syntax, "`...` glued to a name");
                }
                out.push(Tok::Dots);
                i = j;
                continue;
            }
            c if is_word(c) => {
                let mut j = i;
                while j < chars.len() && is_word(chars[j]) {
                    j += 1;
                }
                if chars.get(j) == Some(&'.') {
                    return reject(Class::Syntax, "a name glued to dots");
                }
                let word: String = chars[i..j].iter().collect();
                out.push(classify_word(&word)?);
                i = j;
                continue;
            }
            other => return reject(Class::Syntax, format!("character {other:?}")),
        }
        i += 1;
    }
    Ok(out)
}

fn classify_word(word: &str) -> Result<Tok, Reject> {
    if word.chars().all(|c| c.is_ascii_digit()) {
        return match word.parse::<usize>() {
            Ok(0) => reject(Class::Syntax, "anonymous axis of length 0"),
            Ok(n) => Ok(Tok::Num(n)),
            Err(_) => reject(Class::Syntax, "number too large"),
        };
    }
    if word == "_" {
        return Ok(Tok::Skip);
    }
    let first = word.chars().next().unwrap();
    if first.is_numeric() {
        return reject(Class::Syntax, format!("name {word:?} starts with a digit"));
    }
    if word.starts_with('_') || word.ends_with('_') {
        return reject(
            Class::Syntax,
            format!("name {word:?} starts or ends with _"),
        );
    }
    Ok(Tok::Name(word.to_owned()))
}

// ---------------------------------------------------------------------------
// Structure: sides made of dimensions made of items

#[derive(Clone, Debug, PartialEq)]
enum Item {
    Name(String),
    /// An anonymous axis; `1` is dropped while parsing (a unit).
    Num(usize),
    Dots,
    Star,
    Skip,
}

#[derive(Clone, Debug)]
struct Dim {
    items: Vec<Item>,
    paren: bool,
}

type Side = Vec<Dim>;

/// Splits a token list into sides at `,` (and `->` when `arrow`).
fn sides(toks: &[Tok]) -> Result<(Vec<Side>, Option<Side>), Reject> {
    let arrows = toks.iter().filter(|t| **t == Tok::Arrow).count();
    let (left, right) = match arrows {
        0 => (toks, None),
        1 => {
            let at = toks.iter().position(|t| *t == Tok::Arrow).unwrap();
            (&toks[..at], Some(&toks[at + 1..]))
        }
        _ => return reject(Class::Syntax, "two arrows"),
    };
    let inputs = left
        .split(|t| *t == Tok::Comma)
        .map(side)
        .collect::<Result<Vec<_>, _>>()?;
    let output = match right {
        Some(r) if r.contains(&Tok::Comma) => return reject(Class::Syntax, "`,` after `->`"),
        Some(r) => Some(side(r)?),
        None => None,
    };
    Ok((inputs, output))
}

fn side(toks: &[Tok]) -> Result<Side, Reject> {
    let mut dims = Vec::new();
    let mut open: Option<Vec<Item>> = None;
    for t in toks {
        let item = match t {
            Tok::Open if open.is_some() => return reject(Class::Syntax, "nested group"),
            Tok::Open => {
                open = Some(Vec::new());
                continue;
            }
            Tok::Close => match open.take() {
                Some(items) => {
                    dims.push(Dim { items, paren: true });
                    continue;
                }
                None => return reject(Class::Syntax, "`)` without `(`"),
            },
            Tok::Name(n) => Item::Name(n.clone()),
            Tok::Num(n) => Item::Num(*n),
            Tok::Dots => Item::Dots,
            Tok::Star => Item::Star,
            Tok::Skip => Item::Skip,
            Tok::Comma | Tok::Arrow => unreachable!("split before"),
        };
        let unit = item == Item::Num(1);
        match &mut open {
            Some(items) if !unit => items.push(item),
            Some(_) => {}
            None if unit => dims.push(Dim {
                items: vec![],
                paren: true,
            }),
            None => dims.push(Dim {
                items: vec![item],
                paren: false,
            }),
        }
    }
    if open.is_some() {
        return reject(Class::Syntax, "unclosed group");
    }
    Ok(dims)
}

/// A two-sided pattern: inputs (several only for einsum) and the output.
fn parse_two_sided(text: &str) -> Result<(Vec<Side>, Side), Reject> {
    let toks = tokenize(text)?;
    let (inputs, output) = sides(&toks)?;
    match output {
        Some(out) => Ok((inputs, out)),
        None => reject(Class::Syntax, "no `->`"),
    }
}

/// A one-sided pattern (pack, unpack, parse_shape).
fn parse_one_sided(text: &str) -> Result<Side, Reject> {
    let toks = tokenize(text)?;
    if toks.contains(&Tok::Arrow) || toks.contains(&Tok::Comma) {
        return reject(Class::Syntax, "`->` or `,` in a one-sided pattern");
    }
    side(&toks)
}

fn items(s: &Side) -> impl Iterator<Item = &Item> {
    s.iter().flat_map(|d| d.items.iter())
}

fn names(s: &Side) -> Vec<&str> {
    items(s)
        .filter_map(|i| match i {
            Item::Name(n) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

fn has_dots(s: &Side) -> bool {
    items(s).any(|i| *i == Item::Dots)
}

/// Checks shared by every side: duplicates (unless `diagonal`), at most
/// one `...`, no `...` in a group when `input`.
fn check_side(s: &Side, input: bool, diagonal: bool) -> Result<(), Reject> {
    let ns = names(s);
    if !diagonal {
        for (i, n) in ns.iter().enumerate() {
            if ns[..i].contains(n) {
                return reject(Class::Rule, format!("duplicate axis {n}"));
            }
        }
    }
    if items(s).filter(|i| **i == Item::Dots).count() > 1 {
        return reject(Class::Rule, "two `...`");
    }
    if input && s.iter().any(|d| d.paren && d.items.contains(&Item::Dots)) {
        return reject(Class::Rule, "`...` in a group on the input side");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Lengths

/// Multiplies lengths exactly: `None` only if the product overflows and
/// no factor is zero.
fn product(lens: impl IntoIterator<Item = usize>) -> Option<usize> {
    let lens: Vec<usize> = lens.into_iter().collect();
    if lens.contains(&0) {
        return Some(0);
    }
    lens.iter().try_fold(1usize, |a, &n| a.checked_mul(n))
}

/// Whether an array of `shape` can exist: the product of its non-zero
/// lengths fits `isize` (ndarray's and numpy's rule).
fn representable(shape: &[usize]) -> bool {
    shape
        .iter()
        .filter(|&&n| n != 0)
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .is_some_and(|n| n <= isize::MAX as usize)
}

fn overflow<T>(shapes: &[&[usize]]) -> Result<T, Reject> {
    let zero = shapes.iter().any(|s| s.contains(&0));
    Err(Reject {
        class: Class::Shape,
        why: format!("no array can have shape {shapes:?}"),
        known: zero.then_some(Known::ZeroLengthOverflow),
        elements: None,
    })
}

/// Checks every formed shape and returns the element count of the last.
fn check_shapes(shapes: &[&[usize]]) -> Result<(), Reject> {
    if shapes.iter().all(|s| representable(s)) {
        Ok(())
    } else {
        overflow(shapes)
    }
}

/// Given lengths: every name used by the pattern, none twice.
fn given_lengths(
    given: &[(&str, usize)],
    used: &[&str],
) -> Result<BTreeMap<String, usize>, Reject> {
    let mut out = BTreeMap::new();
    for &(name, len) in given {
        if !used.contains(&name) {
            return reject(Class::Lengths, format!("length for unused axis {name:?}"));
        }
        if out.insert(name.to_owned(), len).is_some() {
            return reject(Class::Lengths, format!("length for {name:?} given twice"));
        }
    }
    Ok(out)
}

/// The elementary axes of an input side matched against `shape`: each
/// dimension as a list of axis keys, with `...` expanded to keys `…k`
/// counted from the right end of the ellipsis (so operands of einsum
/// align to the right).
fn expand(s: &Side, shape: &[usize]) -> Result<Vec<Vec<Key>>, Reject> {
    if shape.len() > MAX_RANK {
        return reject(Class::Shape, "too many dimensions");
    }
    let fixed = s
        .iter()
        .filter(|d| d.paren || d.items != [Item::Dots])
        .count();
    let dots = s.len() != fixed;
    if (!dots && shape.len() != fixed) || shape.len() < fixed {
        return reject(
            Class::Shape,
            format!("rank {} for {} dimensions", shape.len(), fixed),
        );
    }
    let n_dots = shape.len() - fixed;
    let mut out = Vec::new();
    for d in s {
        if !d.paren && d.items == [Item::Dots] {
            for k in (0..n_dots).rev() {
                out.push(vec![Key::Dots(k)]);
            }
            continue;
        }
        out.push(d.items.iter().map(key).collect());
    }
    Ok(out)
}

/// An elementary axis: a name, an anonymous axis (by position and
/// length), or one axis of `...` (counted from its right end).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Name(String),
    Anon(usize, usize),
    Dots(usize),
    /// `_` (parse_shape only): a dimension of any length, named by position.
    Skip(usize),
}

fn key(i: &Item) -> Key {
    match i {
        Item::Name(n) => Key::Name(n.clone()),
        Item::Num(n) => Key::Anon(usize::MAX, *n),
        Item::Dots => Key::Dots(usize::MAX),
        Item::Skip => Key::Skip(usize::MAX),
        Item::Star => unreachable!("rejected before"),
    }
}

/// Numbers each anonymous axis so two `2`s are different axes.
fn number_anonymous(dims: &mut [Vec<Key>], next: &mut usize) {
    for d in dims {
        for k in d {
            if let Key::Anon(at, _) = k {
                *at = *next;
                *next += 1;
            }
        }
    }
}

fn anon_len(k: &Key) -> Option<usize> {
    match k {
        Key::Anon(_, n) => Some(*n),
        _ => None,
    }
}

/// Infers unknown lengths from dimensions (each a list of axes and its
/// length), repeating while some dimension has exactly one unknown; then
/// checks every dimension.
fn infer(lens: &mut BTreeMap<Key, usize>, dims: &[(Vec<Key>, usize)]) -> Result<(), Reject> {
    loop {
        let mut progress = false;
        for (keys, length) in dims {
            let unknown: Vec<&Key> = keys.iter().filter(|k| !lens.contains_key(*k)).collect();
            if let [one] = unknown[..] {
                let known = product(keys.iter().filter_map(|k| lens.get(k).copied()))
                    .ok_or_else(|| overflow::<()>(&[&[*length]]).unwrap_err())?;
                if known == 0 || length % known != 0 {
                    return reject(Class::Shape, format!("{length} not divisible by {known}"));
                }
                let one = one.clone();
                lens.insert(one, length / known);
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    for (keys, length) in dims {
        if keys.iter().any(|k| !lens.contains_key(k)) {
            return reject(Class::Shape, "cannot infer the lengths of a group");
        }
        let known = product(keys.iter().map(|k| lens[k]));
        match known {
            Some(n) if n == *length => {}
            Some(n) => return reject(Class::Shape, format!("{length} is not {n}")),
            None => return overflow(&[&[*length]]),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// rearrange, reduce, repeat

/// A reduction, as einops names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    Sum,
    Mean,
    Min,
    Max,
    Prod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Rearrange,
    Reduce(Reduction),
    Repeat,
}

/// The resolved recipe: the axes of the input's dimensions, of the
/// output's, and every axis length.
struct Recipe {
    input: Vec<Vec<Key>>,
    output: Vec<Vec<Key>>,
    lens: BTreeMap<Key, usize>,
}

impl Recipe {
    fn out_shape(&self) -> Vec<usize> {
        self.output
            .iter()
            .map(|d| product(d.iter().map(|k| self.lens[k])).unwrap_or(usize::MAX))
            .collect()
    }
}

/// The rules that need no shape: a pattern the operation accepts, and
/// given lengths that fit it.
fn resolve(
    op: Op,
    pattern: &str,
    given: &[(&str, usize)],
) -> Result<(Side, Side, BTreeMap<String, usize>), Reject> {
    let (mut inputs, out) = parse_two_sided(pattern)?;
    if inputs.len() != 1 {
        return reject(Class::Rule, "`,` outside einsum");
    }
    let inp = inputs.remove(0);
    for s in [&inp, &out] {
        if items(s).any(|i| matches!(i, Item::Star | Item::Skip)) {
            return reject(Class::Rule, "`*` or `_` outside pack/parse_shape");
        }
    }
    check_side(&inp, true, false)?;
    check_side(&out, false, false)?;
    let anon_in = items(&inp).any(|i| matches!(i, Item::Num(_)));
    let anon_out = items(&out).any(|i| matches!(i, Item::Num(_)));
    let (li, lo) = (names(&inp), names(&out));
    let (di, dout) = (has_dots(&inp), has_dots(&out));
    let in_subset_out = li.iter().all(|n| lo.contains(n));
    let out_subset_in = lo.iter().all(|n| li.contains(n));
    let ok = match op {
        Op::Rearrange => !anon_in && !anon_out && in_subset_out && out_subset_in && di == dout,
        Op::Reduce(_) => !anon_out && out_subset_in && (di || !dout),
        Op::Repeat => !anon_in && in_subset_out && di == dout,
    };
    if !ok {
        return reject(Class::Rule, format!("{op:?} does not accept these sides"));
    }
    let mut used = li.clone();
    used.extend(&lo);
    let given = given_lengths(given, &used)?;
    Ok((inp.clone(), out.clone(), given))
}

fn recipe(
    op: Op,
    pattern: &str,
    shape: &[usize],
    given: &[(&str, usize)],
) -> Result<Recipe, Reject> {
    let (inp, out, given) = resolve(op, pattern, given)?;
    let inp = &inp;
    let mut input = expand(inp, shape)?;
    let mut next = 0;
    number_anonymous(&mut input, &mut next);
    let n_dots = input
        .iter()
        .flatten()
        .filter(|k| matches!(k, Key::Dots(_)))
        .count();
    let mut lens: BTreeMap<Key, usize> = given
        .iter()
        .map(|(n, &l)| (Key::Name(n.clone()), l))
        .collect();
    for k in input.iter().flatten() {
        if let Some(n) = anon_len(k) {
            lens.insert(k.clone(), n);
        }
    }
    let dims: Vec<(Vec<Key>, usize)> = input.iter().cloned().zip(shape.iter().copied()).collect();
    infer(&mut lens, &dims)?;

    let mut output = Vec::new();
    for d in &out {
        let mut keys = Vec::new();
        for i in &d.items {
            match i {
                Item::Dots => keys.extend((0..n_dots).rev().map(Key::Dots)),
                other => keys.push(key(other)),
            }
        }
        if !d.paren && d.items == [Item::Dots] {
            output.extend(keys.into_iter().map(|k| vec![k]));
        } else {
            output.push(keys);
        }
    }
    number_anonymous(&mut output, &mut next);
    for k in output.iter().flatten() {
        if let Some(n) = anon_len(k) {
            lens.insert(k.clone(), n);
        }
        if !lens.contains_key(k) {
            return reject(Class::Shape, format!("no length for new axis {k:?}"));
        }
    }
    let elementary: Vec<usize> = input.iter().flatten().map(|k| lens[k]).collect();
    let new: Vec<usize> = output
        .iter()
        .flatten()
        .filter(|k| !input.iter().flatten().any(|i| i == *k))
        .map(|k| lens[k])
        .collect();
    let mut all = elementary.clone();
    all.extend(&new);
    let kept: Vec<usize> = output.iter().flatten().map(|k| lens[k]).collect();
    let r = Recipe {
        input,
        output,
        lens,
    };
    if r.output
        .iter()
        .any(|d| product(d.iter().map(|k| r.lens[k])).is_none())
    {
        return overflow(&[&all]);
    }
    check_shapes(&[&elementary, &all, &kept, &r.out_shape()])?;
    Ok(r)
}

/// The output shape of `rearrange` for an input of `shape`, without data.
pub fn rearrange_shape(
    pattern: &str,
    shape: &[usize],
    lengths: &[(&str, usize)],
) -> Result<Vec<usize>, Reject> {
    Ok(recipe(Op::Rearrange, pattern, shape, lengths)?.out_shape())
}

/// The output shape of `repeat` for an input of `shape`, without data.
pub fn repeat_shape(
    pattern: &str,
    shape: &[usize],
    lengths: &[(&str, usize)],
) -> Result<Vec<usize>, Reject> {
    Ok(recipe(Op::Repeat, pattern, shape, lengths)?.out_shape())
}

/// The output shape of `reduce` for an input of `shape`, without data
/// (and so without the checks on values).
pub fn reduce_shape(
    pattern: &str,
    shape: &[usize],
    lengths: &[(&str, usize)],
) -> Result<Vec<usize>, Reject> {
    Ok(recipe(Op::Reduce(Reduction::Sum), pattern, shape, lengths)?.out_shape())
}

/// Every assignment of `axes` (with `lens`), in row-major order.
fn assignments(axes: &[Key], lens: &BTreeMap<Key, usize>) -> Vec<BTreeMap<Key, usize>> {
    let sizes: Vec<usize> = axes.iter().map(|k| lens[k]).collect();
    let total: usize = sizes.iter().product();
    let mut out = Vec::with_capacity(total);
    for mut n in 0..total {
        let mut at = vec![0; axes.len()];
        for (slot, &len) in at.iter_mut().zip(&sizes).rev() {
            *slot = n % len;
            n /= len;
        }
        out.push(axes.iter().cloned().zip(at).collect());
    }
    out
}

/// The multi-index of a dimension list under an assignment.
fn index_of(
    dims: &[Vec<Key>],
    lens: &BTreeMap<Key, usize>,
    at: &BTreeMap<Key, usize>,
) -> Vec<usize> {
    dims.iter()
        .map(|d| d.iter().fold(0, |acc, k| acc * lens[k] + at[k]))
        .collect()
}

/// Refuses to compute when the work `n` is too large; `elements` is the
/// size of the result.
fn too_big(n: Option<usize>, elements: Option<usize>) -> Result<(), Reject> {
    match n {
        Some(n) if n <= MAX_WORK => Ok(()),
        _ => Err(Reject {
            class: Class::TooBig,
            why: "too large to compute".to_owned(),
            known: None,
            elements,
        }),
    }
}

/// The distinct axes of `dims` in order of first appearance.
fn axes_of<'a>(dims: impl IntoIterator<Item = &'a Vec<Key>>) -> Vec<Key> {
    let mut out: Vec<Key> = Vec::new();
    for k in dims.into_iter().flatten() {
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    out
}

/// einops' `rearrange`.
pub fn rearrange<T: Elem>(
    x: &Tensor<T>,
    pattern: &str,
    lengths: &[(&str, usize)],
) -> Result<Tensor<T>, Reject> {
    copy_like(Op::Rearrange, x, pattern, lengths)
}

/// einops' `repeat`.
pub fn repeat<T: Elem>(
    x: &Tensor<T>,
    pattern: &str,
    lengths: &[(&str, usize)],
) -> Result<Tensor<T>, Reject> {
    copy_like(Op::Repeat, x, pattern, lengths)
}

fn copy_like<T: Elem>(
    op: Op,
    x: &Tensor<T>,
    pattern: &str,
    lengths: &[(&str, usize)],
) -> Result<Tensor<T>, Reject> {
    let r = recipe(op, pattern, &x.shape, lengths)?;
    let shape = r.out_shape();
    let elements = product(shape.iter().copied());
    too_big(elements, elements)?;
    let axes = axes_of(&r.output);
    let mut data = Vec::with_capacity(shape.iter().product());
    // Output order is row-major over the output's axes, in their order.
    for at in assignments(&axes, &r.lens) {
        data.push(x.at(&index_of(&r.input, &r.lens, &at)));
    }
    Ok(Tensor::new(shape, data))
}

/// einops' `reduce`.
pub fn reduce<T: Elem>(
    x: &Tensor<T>,
    pattern: &str,
    reduction: Reduction,
    lengths: &[(&str, usize)],
) -> Result<Tensor<T>, Reject> {
    let r = recipe(Op::Reduce(reduction), pattern, &x.shape, lengths)?;
    let shape = r.out_shape();
    let kept = axes_of(&r.output);
    let reduced: Vec<Key> = axes_of(&r.input)
        .into_iter()
        .filter(|k| !kept.contains(k))
        .collect();
    let count: usize = reduced.iter().map(|k| r.lens[k]).product();
    let out_len: usize = shape.iter().product();
    if matches!(reduction, Reduction::Min | Reduction::Max) && count == 0 && out_len > 0 {
        return reject(Class::Data, "min/max of zero elements");
    }
    if reduction == Reduction::Mean && T::from_int(0).is_some() {
        return reject(Class::Data, "mean of integers");
    }
    too_big(Some(out_len), Some(out_len))?;
    too_big(out_len.checked_mul(count.max(1)), Some(out_len))?;
    let mut data = Vec::with_capacity(out_len);
    for at in assignments(&kept, &r.lens) {
        let values: Vec<T> = assignments(&reduced, &r.lens)
            .into_iter()
            .map(|mut inner| {
                inner.extend(at.iter().map(|(k, v)| (k.clone(), *v)));
                x.at(&index_of(&r.input, &r.lens, &inner))
            })
            .collect();
        data.push(fold(&values, reduction)?);
    }
    Ok(Tensor::new(shape, data))
}

fn int_overflow<T>(what: &str) -> Result<T, Reject> {
    Err(Reject {
        class: Class::Data,
        why: format!("{what} does not fit the element type"),
        known: Some(Known::IntegerOverflow),
        elements: None,
    })
}

fn fold<T: Elem>(values: &[T], reduction: Reduction) -> Result<T, Reject> {
    let ints: Option<Vec<i128>> = values.iter().map(|v| v.int()).collect();
    let is_int = T::from_int(0).is_some();
    if is_int {
        let ints = ints.expect("integers");
        let exact: Option<i128> = match reduction {
            Reduction::Sum => ints.iter().try_fold(0i128, |a, &v| a.checked_add(v)),
            Reduction::Prod if ints.contains(&0) => Some(0),
            Reduction::Prod => ints.iter().try_fold(1i128, |a, &v| a.checked_mul(v)),
            Reduction::Min => ints.iter().copied().min(),
            Reduction::Max => ints.iter().copied().max(),
            Reduction::Mean => unreachable!("rejected before"),
        };
        return match exact.and_then(T::from_int) {
            Some(v) => Ok(v),
            None => int_overflow(&format!("{reduction:?}")),
        };
    }
    let fs = values.iter().map(|v| v.float());
    let v = match reduction {
        Reduction::Sum => fs.sum(),
        Reduction::Mean => fs.sum::<f64>() / values.len() as f64,
        Reduction::Prod => fs.product(),
        Reduction::Min => fs.fold(f64::INFINITY, f64::min),
        Reduction::Max => fs.fold(f64::NEG_INFINITY, f64::max),
    };
    Ok(T::from_float(v))
}

/// Stacks a list along a new first axis, as einops does for lists.
pub fn stack<T: Elem>(xs: &[Tensor<T>]) -> Result<Tensor<T>, Reject> {
    let Some(first) = xs.first() else {
        return reject(Class::Shape, "empty list");
    };
    if xs.iter().any(|x| x.shape != first.shape) {
        return reject(Class::Shape, "list of different shapes");
    }
    let mut shape = vec![xs.len()];
    shape.extend(&first.shape);
    Ok(Tensor::new(
        shape,
        xs.iter().flat_map(|x| x.data.iter().copied()).collect(),
    ))
}

/// einops' `rearrange` of a list: the pattern is checked first, then the
/// list is stacked along a new first axis.
pub fn rearrange_list<T: Elem>(
    xs: &[Tensor<T>],
    pattern: &str,
    lengths: &[(&str, usize)],
) -> Result<Tensor<T>, Reject> {
    resolve(Op::Rearrange, pattern, lengths)?;
    rearrange(&stack(xs)?, pattern, lengths)
}

/// einops' `repeat` of a list.
pub fn repeat_list<T: Elem>(
    xs: &[Tensor<T>],
    pattern: &str,
    lengths: &[(&str, usize)],
) -> Result<Tensor<T>, Reject> {
    resolve(Op::Repeat, pattern, lengths)?;
    repeat(&stack(xs)?, pattern, lengths)
}

/// einops' `reduce` of a list.
pub fn reduce_list<T: Elem>(
    xs: &[Tensor<T>],
    pattern: &str,
    reduction: Reduction,
    lengths: &[(&str, usize)],
) -> Result<Tensor<T>, Reject> {
    resolve(Op::Reduce(reduction), pattern, lengths)?;
    reduce(&stack(xs)?, pattern, reduction, lengths)
}

// ---------------------------------------------------------------------------
// einsum

/// Einstein summation over einops-style operands (with groups).
pub fn einsum<T: Elem>(
    pattern: &str,
    operands: &[Tensor<T>],
    lengths: &[(&str, usize)],
) -> Result<Tensor<T>, Reject> {
    let (inputs, out) = parse_two_sided(pattern)?;
    if inputs.len() > MAX_OPERANDS {
        return reject(Class::Rule, "too many operands");
    }
    for s in inputs.iter().chain([&out]) {
        if items(s).any(|i| matches!(i, Item::Star)) {
            return reject(Class::Rule, "`*` in einsum");
        }
        if items(s).any(|i| matches!(i, Item::Num(_))) {
            return reject(Class::Rule, "anonymous axis in einsum");
        }
    }
    // `_` is an ordinary name in einsum.
    let rename = |s: &Side| -> Side {
        s.iter()
            .map(|d| Dim {
                paren: d.paren,
                items: d
                    .items
                    .iter()
                    .map(|i| match i {
                        Item::Skip => Item::Name("_".to_owned()),
                        other => other.clone(),
                    })
                    .collect(),
            })
            .collect()
    };
    let inputs: Vec<Side> = inputs.iter().map(rename).collect();
    let out = rename(&out);
    for s in &inputs {
        check_side(s, true, true)?;
    }
    check_side(&out, false, false)?;
    let all_in: Vec<&str> = inputs.iter().flat_map(names).collect();
    if names(&out).iter().any(|n| !all_in.contains(n)) {
        return reject(Class::Rule, "output axis in no operand");
    }
    let given = given_lengths(lengths, &all_in)?;

    if operands.len() != inputs.len() {
        return reject(Class::Shape, "operand count");
    }
    let mut dims_of = Vec::new();
    for (s, x) in inputs.iter().zip(operands) {
        dims_of.push(expand(s, &x.shape)?);
    }
    let n_dots = dims_of
        .iter()
        .map(|d| {
            d.iter()
                .flatten()
                .filter(|k| matches!(k, Key::Dots(_)))
                .count()
        })
        .max()
        .unwrap_or(0);
    let mut lens: BTreeMap<Key, usize> = given
        .iter()
        .map(|(n, &l)| (Key::Name(n.clone()), l))
        .collect();
    // Lone axes give their lengths; they must agree everywhere.
    for (dims, x) in dims_of.iter().zip(operands) {
        for (d, &len) in dims.iter().zip(&x.shape) {
            if let [k] = &d[..] {
                if let Some(&l) = lens.get(k)
                    && l != len
                {
                    return reject(Class::Shape, format!("{k:?} is {l} and {len}"));
                }
                lens.insert(k.clone(), len);
            }
        }
    }
    let dims: Vec<(Vec<Key>, usize)> = dims_of
        .iter()
        .zip(operands)
        .flat_map(|(d, x)| d.iter().cloned().zip(x.shape.iter().copied()))
        .collect();
    infer(&mut lens, &dims)?;
    let mut output = Vec::new();
    for d in &out {
        let mut keys = Vec::new();
        for i in &d.items {
            match i {
                Item::Dots => keys.extend((0..n_dots).rev().map(Key::Dots)),
                other => keys.push(key(other)),
            }
        }
        if !d.paren && d.items == [Item::Dots] {
            output.extend(keys.into_iter().map(|k| vec![k]));
        } else {
            output.push(keys);
        }
    }
    let shape: Vec<usize> = output
        .iter()
        .map(|d| product(d.iter().map(|k| lens[k])).unwrap_or(usize::MAX))
        .collect();
    let flat_out: Vec<usize> = output.iter().flatten().map(|k| lens[k]).collect();
    let mut formed: Vec<Vec<usize>> = dims_of
        .iter()
        .map(|d| d.iter().flatten().map(|k| lens[k]).collect())
        .collect();
    formed.push(flat_out);
    formed.push(shape.clone());
    if output
        .iter()
        .any(|d| product(d.iter().map(|k| lens[k])).is_none())
    {
        return overflow(&[&formed[formed.len() - 2]]);
    }
    check_shapes(&formed.iter().map(|s| &s[..]).collect::<Vec<_>>())?;

    let out_axes = axes_of(&output);
    let summed: Vec<Key> = axes_of(dims_of.iter().flatten())
        .into_iter()
        .filter(|k| !out_axes.contains(k))
        .collect();
    let out_len = product(shape.iter().copied()).unwrap_or(usize::MAX);
    let inner = product(summed.iter().map(|k| lens[k])).unwrap_or(usize::MAX);
    too_big(out_len.checked_mul(inner.max(1)), Some(out_len))?;
    let is_int = T::from_int(0).is_some();
    // The crate sums in an order of its own, exactly in `i128`. Every sum
    // it forms adds products of elements of some of the operands, so none
    // passes the product over the operands of their elements' absolute
    // sums. Where that bound passes `i128`, another order may overflow
    // where this one does not: a result that fits may then be refused.
    let bounded = !is_int
        || operands
            .iter()
            .try_fold(1i128, |b, x| {
                let sum = x
                    .data
                    .iter()
                    .try_fold(0i128, |s, v| s.checked_add(v.int()?.checked_abs()?))?;
                b.checked_mul(sum.max(1))
            })
            .is_some();
    let mut data = Vec::with_capacity(out_len);
    for at in assignments(&out_axes, &lens) {
        let mut exact = 0i128;
        let mut float = 0f64;
        let mut over = false;
        for mut a in assignments(&summed, &lens) {
            a.extend(at.iter().map(|(k, v)| (k.clone(), *v)));
            let values: Vec<T> = operands
                .iter()
                .zip(&dims_of)
                .map(|(x, d)| x.at(&index_of(d, &lens, &a)))
                .collect();
            if is_int {
                let p = if values.iter().any(|v| v.int() == Some(0)) {
                    Some(0)
                } else {
                    values
                        .iter()
                        .try_fold(1i128, |p, v| p.checked_mul(v.int()?))
                };
                match p.and_then(|p| exact.checked_add(p)) {
                    Some(s) => exact = s,
                    None => over = true,
                }
            } else {
                float += values.iter().map(|v| v.float()).product::<f64>();
            }
        }
        if is_int {
            if over {
                // A product or partial sum beyond i128: the exact answer
                // may still fit (terms can cancel), and the crate, also
                // exact in i128, may refuse or answer. Not decided here.
                return Err(Reject {
                    class: Class::TooBig,
                    why: "integer products beyond i128".to_owned(),
                    known: None,
                    elements: None,
                });
            }
            match T::from_int(exact) {
                Some(_) if !bounded => {
                    return Err(Reject {
                        class: Class::TooBig,
                        why: "integer sums that may pass i128 in another order".to_owned(),
                        known: None,
                        elements: None,
                    });
                }
                Some(v) => data.push(v),
                None => return int_overflow("einsum"),
            }
        } else {
            data.push(T::from_float(float));
        }
    }
    Ok(Tensor::new(shape, data))
}

// ---------------------------------------------------------------------------
// pack, unpack, parse_shape

/// The positions around the `*` of a pack/unpack pattern.
fn pack_pattern(pattern: &str) -> Result<(usize, usize), Reject> {
    let s = parse_one_sided(pattern)?;
    if s.iter().any(|d| d.paren) {
        return reject(Class::Rule, "group in pack");
    }
    if items(&s).any(|i| matches!(i, Item::Dots | Item::Skip | Item::Num(_))) {
        return reject(Class::Rule, "`...`, `_` or a number in pack");
    }
    check_side(&s, false, false)?;
    let stars: Vec<usize> = s
        .iter()
        .enumerate()
        .filter(|(_, d)| d.items == [Item::Star])
        .map(|(i, _)| i)
        .collect();
    match stars[..] {
        [at] => Ok((at, s.len() - at - 1)),
        _ => reject(Class::Rule, "not exactly one `*`"),
    }
}

/// einops' `pack`: the packed tensor and each input's shape under `*`.
pub fn pack<T: Elem>(
    xs: &[Tensor<T>],
    pattern: &str,
) -> Result<(Tensor<T>, Vec<Vec<usize>>), Reject> {
    let (before, after) = pack_pattern(pattern)?;
    let Some(first) = xs.first() else {
        return reject(Class::Shape, "nothing to pack");
    };
    let outer = |x: &Tensor<T>| -> Vec<usize> {
        let n = x.shape.len();
        let mut v = x.shape[..before].to_vec();
        v.extend(&x.shape[n - after..]);
        v
    };
    if xs.iter().any(|x| x.shape.len() < before + after) {
        return reject(Class::Shape, "too few dimensions");
    }
    if xs.iter().any(|x| outer(x) != outer(first)) {
        return reject(Class::Shape, "shapes disagree outside `*`");
    }
    let star: Vec<Vec<usize>> = xs
        .iter()
        .map(|x| x.shape[before..x.shape.len() - after].to_vec())
        .collect();
    let sizes: Vec<usize> = star.iter().map(|s| s.iter().product()).collect();
    let total: usize = sizes.iter().sum();
    let pre: usize = first.shape[..before].iter().product();
    let post: usize = first.shape[first.shape.len() - after..].iter().product();
    let mut data = Vec::with_capacity(pre * total * post);
    for p in 0..pre {
        for (x, &size) in xs.iter().zip(&sizes) {
            let start = p * size * post;
            data.extend_from_slice(&x.data[start..start + size * post]);
        }
    }
    let mut shape = first.shape[..before].to_vec();
    shape.push(total);
    shape.extend(&first.shape[first.shape.len() - after..]);
    Ok((Tensor::new(shape, data), star))
}

/// einops' `unpack`; a shape may hold one `-1`, and one shape at most
/// (einops' rule). Unlike einops, the pieces must cover the axis exactly.
pub fn unpack<T: Elem>(
    x: &Tensor<T>,
    shapes: &[Vec<i64>],
    pattern: &str,
) -> Result<Vec<Tensor<T>>, Reject> {
    let (before, after) = pack_pattern(pattern)?;
    if x.shape.len() != before + 1 + after {
        return reject(Class::Shape, "rank");
    }
    let axis = x.shape[before];
    let unknown: Vec<usize> = (0..shapes.len())
        .filter(|&i| shapes[i].contains(&-1))
        .collect();
    if unknown.len() > 1 || shapes.iter().flatten().any(|&n| n < -1) {
        return reject(Class::Shape, "more than one -1, or a negative length");
    }
    let mut known_total = 0usize;
    let mut sizes: Vec<Option<usize>> = Vec::new();
    for s in shapes {
        if s.contains(&-1) {
            sizes.push(None);
            continue;
        }
        let size = product(s.iter().map(|&n| n as usize))
            .ok_or_else(|| overflow::<()>(&[]).unwrap_err())?;
        known_total = known_total
            .checked_add(size)
            .ok_or_else(|| overflow::<()>(&[]).unwrap_err())?;
        sizes.push(Some(size));
    }
    let mut sizes: Vec<usize> = sizes.into_iter().map(|s| s.unwrap_or(0)).collect();
    let mut out_shapes: Vec<Vec<usize>> = shapes
        .iter()
        .map(|s| s.iter().map(|&n| n.max(0) as usize).collect())
        .collect();
    if let [u] = unknown[..] {
        let marks: Vec<usize> = (0..shapes[u].len())
            .filter(|&i| shapes[u][i] == -1)
            .collect();
        if marks.len() != 1 || known_total > axis {
            return reject(Class::Shape, "cannot infer the -1");
        }
        let rest = axis - known_total;
        // The product of the other entries must divide what is left.
        let others = product(
            out_shapes[u]
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != marks[0])
                .map(|(_, &n)| n),
        )
        .ok_or_else(|| overflow::<()>(&[]).unwrap_err())?;
        if others == 0 || !rest.is_multiple_of(others) {
            return reject(Class::Shape, "cannot infer the -1");
        }
        out_shapes[u][marks[0]] = rest / others;
        sizes[u] = rest;
    } else if known_total != axis {
        return reject(Class::Shape, "sizes do not add up");
    }
    let pre: usize = x.shape[..before].iter().product();
    let post: usize = x.shape[before + 1..].iter().product();
    let mut parts = Vec::new();
    let mut start = 0;
    for (s, &size) in out_shapes.iter().zip(&sizes) {
        let mut data = Vec::new();
        for p in 0..pre {
            let from = (p * axis + start) * post;
            data.extend_from_slice(&x.data[from..from + size * post]);
        }
        let mut shape = x.shape[..before].to_vec();
        shape.extend(s);
        shape.extend(&x.shape[before + 1..]);
        parts.push(Tensor::new(shape, data));
        start += size;
    }
    Ok(parts)
}

/// einops' `parse_shape`: the named lengths of `shape`.
pub fn parse_shape(shape: &[usize], pattern: &str) -> Result<BTreeMap<String, usize>, Reject> {
    let s = parse_one_sided(pattern)?;
    if items(&s).any(|i| *i == Item::Star) {
        return reject(Class::Rule, "`*` in parse_shape");
    }
    if s.iter()
        .any(|d| d.paren && (d.items.len() > 1 || d.items.contains(&Item::Dots)))
    {
        return reject(Class::Rule, "composite axis");
    }
    check_side(&s, false, false)?;
    let dims = expand(&s, shape)?;
    let mut out = BTreeMap::new();
    for (d, &len) in dims.iter().zip(shape) {
        match &d[..] {
            [] if len != 1 => return reject(Class::Shape, "unit axis of another length"),
            [] => {}
            [Key::Name(n)] => {
                out.insert(n.clone(), len);
            }
            [Key::Anon(_, n)] if *n != len => {
                return reject(Class::Shape, "anonymous axis of another length");
            }
            _ => {}
        }
    }
    Ok(out)
}
