//! Random einops cases for other crates' property tests and fuzzers.
//!
//! Each generator builds a case that is valid *by construction*: it picks
//! axes, their lengths and how the input and output group them, then
//! prints the pattern and computes the input shape. Nothing here asks
//! einplan's parser or planner whether a case is valid, so the cases can
//! test einplan as well as any other implementation of einops.
//!
//! - [`Case`]: a pattern, an input shape and the axis lengths to pass, for
//!   [`Op::Rearrange`], [`Op::Reduce`] or [`Op::Repeat`];
//! - [`EinsumCase`]: an einsum pattern and one shape per operand;
//! - [`InvalidCase`]: a case made invalid by one known [`Flaw`], which
//!   every implementation must reject;
//! - [`Config`]: how many axes, how long, how large, and which constructs
//!   (`...`, unit axes, anonymous axes, zero lengths) may appear.
//!
//! With the `proptest` feature, [`rearrange`], [`reduce`], [`repeat`],
//! [`einsum`] and [`invalid`] are proptest strategies. They draw a sequence
//! of choices that the generator reads, so proptest shrinks a failing case
//! towards fewer axes, shorter lengths and fewer groups. With the
//! `arbitrary` feature, [`Case`], [`EinsumCase`] and [`InvalidCase`]
//! implement `arbitrary::Arbitrary` (with the default [`Config`]) for
//! cargo-fuzz targets.
//!
//! The patterns use einops' syntax and only what einops accepts: names
//! from a fixed list of ASCII identifiers, single spaces, groups one level
//! deep, `()` and `1` for unit axes, `...` (inside a group only on the
//! output side), and anonymous axes where einops takes them (pooling
//! windows on reduce's input, new axes on repeat's output). The crate's
//! `tests/data/check_strategies.py` checks that: einops 0.8.2 accepts all
//! 12,000 valid cases it is given (3,000 each of rearrange, reduce, repeat
//! and einsum, half of them with zero lengths allowed) and rejects all
//! 3,000 invalid ones.
//!
//! # Examples
//!
//! Property-test another implementation of rearrange against einplan. Here
//! the "other implementation" is a small index-by-index rearrange written
//! for the example, which splits every named axis out of the input's
//! dimensions and reads each output element from its coordinates:
//!
//! ```
//! # #[cfg(feature = "proptest")]
//! # {
//! use std::collections::HashMap;
//!
//! use einplan::strategies::{self, Case, Config};
//! use ndarray::{ArrayD, Dimension, IxDyn};
//! use proptest::prelude::*;
//! use proptest::test_runner::{Config as RunConfig, TestRunner};
//!
//! /// One side of a pattern: its terms, each a list of axis names.
//! fn terms(side: &str) -> Vec<Vec<String>> {
//!     let mut out = Vec::new();
//!     let mut group: Option<Vec<String>> = None;
//!     for token in side.replace('(', " ( ").replace(')', " ) ").split_whitespace() {
//!         match (token, group.as_mut()) {
//!             ("(", _) => group = Some(Vec::new()),
//!             (")", _) => out.push(group.take().unwrap()),
//!             (name, Some(g)) => g.push(name.to_owned()),
//!             (name, None) => out.push(vec![name.to_owned()]),
//!         }
//!     }
//!     out
//! }
//!
//! /// Rearrange without ellipsis, the slow and obvious way.
//! fn my_rearrange(x: &ArrayD<i64>, pattern: &str, given: &[(&str, usize)]) -> ArrayD<i64> {
//!     let (left, right) = pattern.split_once("->").unwrap();
//!     let (left, right) = (terms(left), terms(right));
//!     let unit = |n: &str| n == "1";
//!     // The length of every axis: given, or what its input dimension leaves.
//!     let mut len: HashMap<String, usize> = given.iter().map(|&(n, l)| (n.to_owned(), l)).collect();
//!     for (term, &dim) in left.iter().zip(x.shape()) {
//!         let known: usize = term.iter().filter_map(|n| len.get(n)).product();
//!         for n in term.iter().filter(|n| !unit(n)) {
//!             len.entry(n.clone()).or_insert(dim / known.max(1));
//!         }
//!     }
//!     len.insert("1".into(), 1);
//!     let shape: Vec<usize> = right.iter().map(|t| t.iter().map(|n| len[n]).product()).collect();
//!     let mut out = ArrayD::zeros(IxDyn(&shape));
//!     for (index, value) in out.indexed_iter_mut() {
//!         // The output index → each axis's coordinate → the input index.
//!         let mut at: HashMap<&str, usize> = HashMap::new();
//!         for (term, &i) in right.iter().zip(index.slice()) {
//!             let mut rest = i;
//!             for n in term.iter().rev() {
//!                 at.insert(n, rest % len[n]);
//!                 rest /= len[n];
//!             }
//!         }
//!         let source: Vec<usize> = left
//!             .iter()
//!             .map(|t| t.iter().fold(0, |acc, n| acc * len[n] + at.get(n.as_str()).copied().unwrap_or(0)))
//!             .collect();
//!         *value = x[IxDyn(&source)];
//!     }
//!     out
//! }
//!
//! let mut config = Config::default();
//! config.ellipsis = false; // `my_rearrange` has no `...`
//! let mut runner = TestRunner::new(RunConfig::with_cases(64));
//! runner
//!     .run(&strategies::rearrange(config), |case: Case| {
//!         let n: usize = case.shape.iter().product();
//!         let x = ArrayD::from_shape_vec(IxDyn(&case.shape), (0..n as i64).collect()).unwrap();
//!         let lengths = case.axes_lengths();
//!         let want = einplan::rearrange(&x, &case.pattern, &lengths).unwrap();
//!         prop_assert_eq!(my_rearrange(&x, &case.pattern, &lengths), want);
//!         Ok(())
//!     })
//!     .unwrap();
//! # }
//! ```
//!
//! A cargo-fuzz target needs only the `arbitrary` feature:
//!
//! ```text
//! #![no_main]
//! use einplan::strategies::{Case, Op};
//! use libfuzzer_sys::fuzz_target;
//!
//! fuzz_target!(|case: Case| {
//!     if case.op == Op::Rearrange {
//!         let x = ndarray::ArrayD::<u8>::zeros(ndarray::IxDyn(&case.shape));
//!         let want = einplan::rearrange(&x, &case.pattern, &case.axes_lengths()).unwrap();
//!         assert_eq!(my_crate::rearrange(&x, &case.pattern, &case.axes_lengths()), want);
//!     }
//! });
//! ```

use std::fmt;

/// Axis names, in the order the generators take them (after a shuffle).
const NAMES: [&str; 16] = [
    "a", "b", "c", "d", "h", "w", "t", "g", "k", "x", "c1", "c2", "head", "seq", "ch_in", "n",
];

/// At most this many named axes per case, so that every generator has
/// spare names for new and unused axes.
const MAX_AXES: usize = 12;

/// What the generators may produce. Start from [`Config::default`] and
/// change fields; new fields may be added in minor releases.
///
/// # Examples
///
/// ```
/// let mut config = einplan::strategies::Config::default();
/// config.max_axes = 3;
/// config.ellipsis = false;
/// assert_eq!(config.max_len, 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Named axes per case: from 1 to this many (at most 12). Groups and
    /// `...` make the input's rank differ from it.
    pub max_axes: usize,
    /// The longest axis (at least 1).
    pub max_len: usize,
    /// The largest input (and, for repeat, output) in elements, counting
    /// axes of length 0 as 1; lengths are lowered to 1 until it fits.
    pub max_elements: usize,
    /// Whether `...` may appear (standing for 0 to 2 dimensions).
    pub ellipsis: bool,
    /// Whether unit axes (`()` and `1`) may appear.
    pub unit_axes: bool,
    /// Whether anonymous axes may appear where einops takes them: `(h 2)`
    /// windows on reduce's input, `3` as a new axis on repeat's output.
    pub anonymous: bool,
    /// Whether axes may have length 0 (empty arrays).
    pub zero_lengths: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_axes: 5,
            max_len: 4,
            max_elements: 4096,
            ellipsis: true,
            unit_axes: true,
            anonymous: true,
            zero_lengths: false,
        }
    }
}

/// The operation a [`Case`] is valid for.
///
/// # Examples
///
/// ```
/// use einplan::strategies::Op;
///
/// assert_ne!(Op::Rearrange, Op::Reduce);
/// assert_eq!(Op::Repeat.to_string(), "repeat");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// einops' `rearrange`: every axis on both sides.
    Rearrange,
    /// einops' `reduce`: the output drops some axes (any reduction).
    Reduce,
    /// einops' `repeat`: the output adds axes.
    Repeat,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Rearrange => "rearrange",
            Op::Reduce => "reduce",
            Op::Repeat => "repeat",
        })
    }
}

/// A valid case for [`op`](Case::op): apply `pattern` with `lengths` to an
/// input of `shape`. For reduce, any reduction is valid (with lengths of
/// 0, `min` and `max` of an empty axis are not).
///
/// # Examples
///
/// ```
/// use einplan::strategies::{Case, Config, Op};
///
/// let case = Case::from_seed(Op::Rearrange, &Config::default(), 7);
/// let x = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&case.shape));
/// assert!(einplan::rearrange(&x, &case.pattern, &case.axes_lengths()).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Case {
    /// The operation the case is valid for.
    pub op: Op,
    /// The pattern, in einops syntax.
    pub pattern: String,
    /// The input's shape.
    pub shape: Vec<usize>,
    /// The axis lengths to pass, in the order to pass them.
    pub lengths: Vec<(String, usize)>,
}

impl Case {
    /// [`lengths`](Case::lengths) as einplan's functions take them.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::strategies::{Case, Op};
    ///
    /// let case = Case {
    ///     op: Op::Rearrange,
    ///     pattern: "(a b) -> b a".into(),
    ///     shape: vec![6],
    ///     lengths: vec![("a".into(), 2)],
    /// };
    /// assert_eq!(case.axes_lengths(), [("a", 2)]);
    /// ```
    pub fn axes_lengths(&self) -> Vec<(&str, usize)> {
        self.lengths.iter().map(|(n, l)| (n.as_str(), *l)).collect()
    }

    /// The case a seed gives: the same seed, config and operation always
    /// give the same case. For tests that want cases without proptest or
    /// a fuzzer.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::strategies::{Case, Config, Op};
    ///
    /// let config = Config::default();
    /// assert_eq!(Case::from_seed(Op::Reduce, &config, 1), Case::from_seed(Op::Reduce, &config, 1));
    /// ```
    pub fn from_seed(op: Op, config: &Config, seed: u64) -> Case {
        generate(op, config, &mut Seeded(seed))
    }
}

/// A valid einsum: `pattern` with one operand per shape of `shapes`.
/// Operands have distinct axes (no diagonals), no groups and no numbers;
/// when one operand has `...`, all of them and the output do, with the
/// same dimensions.
///
/// # Examples
///
/// ```
/// use einplan::strategies::{Config, EinsumCase};
/// use ndarray::{ArrayD, IxDyn};
///
/// let case = EinsumCase::from_seed(&Config::default(), 3);
/// let operands: Vec<ArrayD<f64>> = case.shapes.iter().map(|s| ArrayD::ones(IxDyn(s))).collect();
/// let views: Vec<_> = operands.iter().map(|a| a.view()).collect();
/// assert!(einplan::einsum(&case.pattern, &views).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EinsumCase {
    /// The pattern: operands separated by `,`, then `->` and the output.
    pub pattern: String,
    /// One shape per operand.
    pub shapes: Vec<Vec<usize>>,
}

impl EinsumCase {
    /// The case a seed gives (see [`Case::from_seed`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::strategies::{Config, EinsumCase};
    ///
    /// let case = EinsumCase::from_seed(&Config::default(), 0);
    /// assert_eq!(case.pattern.matches(',').count() + 1, case.shapes.len());
    /// ```
    pub fn from_seed(config: &Config, seed: u64) -> EinsumCase {
        generate_einsum(config, &mut Seeded(seed))
    }
}

/// What makes an [`InvalidCase`] invalid.
///
/// # Examples
///
/// ```
/// use einplan::strategies::Flaw;
///
/// assert!(Flaw::MissingArrow.is_syntax());
/// assert!(!Flaw::WrongLength.is_syntax());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flaw {
    /// No `->`.
    MissingArrow,
    /// A second `->`.
    ExtraArrow,
    /// A `(` that is never closed (or opens a nested group).
    UnclosedGroup,
    /// `..` between axes.
    StrayDot,
    /// An axis name starting with `_`.
    BadName,
    /// An input axis named twice.
    DuplicateAxis,
    /// An axis on the wrong side for the operation: dropped from
    /// rearrange's or repeat's output, or new in reduce's output.
    OneSidedAxis,
    /// A length given for an axis the pattern does not have.
    UnusedLength,
    /// A shape with the wrong number of dimensions.
    RankMismatch,
    /// A dimension that differs from the product of its axes' given
    /// lengths.
    WrongLength,
}

impl Flaw {
    /// Whether the pattern itself does not parse.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(einplan::strategies::Flaw::StrayDot.is_syntax());
    /// ```
    pub fn is_syntax(self) -> bool {
        matches!(
            self,
            Flaw::MissingArrow
                | Flaw::ExtraArrow
                | Flaw::UnclosedGroup
                | Flaw::StrayDot
                | Flaw::BadName
        )
    }
}

/// A case that every implementation of [`case.op`](Case::op) must reject,
/// because of [`flaw`](InvalidCase::flaw): a valid case with one mistake
/// put in.
///
/// # Examples
///
/// ```
/// use einplan::strategies::{Config, InvalidCase};
///
/// let bad = InvalidCase::from_seed(&Config::default(), 5);
/// let x = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&bad.case.shape));
/// let lengths = bad.case.axes_lengths();
/// let result = match bad.case.op {
///     einplan::strategies::Op::Rearrange => einplan::rearrange(&x, &bad.case.pattern, &lengths).map(|_| ()),
///     einplan::strategies::Op::Reduce => {
///         einplan::reduce(&x, &bad.case.pattern, einplan::Reduction::Sum, &lengths).map(|_| ())
///     }
///     _ => einplan::repeat(&x, &bad.case.pattern, &lengths).map(|_| ()),
/// };
/// assert!(result.is_err(), "{bad:?}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InvalidCase {
    /// The invalid case.
    pub case: Case,
    /// What is wrong with it.
    pub flaw: Flaw,
}

impl InvalidCase {
    /// The case a seed gives (see [`Case::from_seed`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::strategies::{Config, InvalidCase};
    ///
    /// let a = InvalidCase::from_seed(&Config::default(), 9);
    /// assert_eq!(a, InvalidCase::from_seed(&Config::default(), 9));
    /// ```
    pub fn from_seed(config: &Config, seed: u64) -> InvalidCase {
        generate_invalid(config, &mut Seeded(seed))
    }
}

/// A source of choices: `below(n)` is in `0..n` (`n >= 1`), and 0 is the
/// simplest choice, which an exhausted source gives.
trait Draw {
    fn below(&mut self, n: usize) -> usize;

    /// True with probability about `num / den`, false when exhausted.
    fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) >= den - num
    }

    /// A uniform pick in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

/// Choices from splitmix64, for [`Case::from_seed`] and friends.
struct Seeded(u64);

impl Draw for Seeded {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// Choices read from a list (proptest's), then zeros.
#[cfg(feature = "proptest")]
struct Listed<'a> {
    values: &'a [u32],
    at: usize,
}

#[cfg(feature = "proptest")]
impl Draw for Listed<'_> {
    fn below(&mut self, n: usize) -> usize {
        let v = self.values.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        v as usize % n
    }
}

/// One atom of a term.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Atom {
    /// An index into the case's axes.
    Name(usize),
    /// An anonymous axis; 1 prints as a unit axis.
    Number(usize),
    Ellipsis,
}

/// One dimension as printed: an atom alone, or a group (`()` when empty).
#[derive(Clone, Debug, PartialEq)]
enum Term {
    One(Atom),
    Group(Vec<Atom>),
}

/// The structure behind a [`Case`], before printing.
struct Built {
    names: Vec<String>,
    lens: Vec<usize>,
    ellipsis: Vec<usize>,
    input: Vec<Term>,
    output: Vec<Term>,
    /// Axes whose lengths are passed, in order.
    given: Vec<usize>,
}

impl Built {
    fn side(&self, terms: &[Term]) -> String {
        let atom = |a: &Atom| match *a {
            Atom::Name(i) => self.names[i].clone(),
            Atom::Number(n) => n.to_string(),
            Atom::Ellipsis => "...".to_owned(),
        };
        let printed: Vec<String> = terms
            .iter()
            .map(|t| match t {
                Term::One(a) => atom(a),
                Term::Group(atoms) => {
                    let inner: Vec<String> = atoms.iter().map(atom).collect();
                    format!("({})", inner.join(" "))
                }
            })
            .collect();
        printed.join(" ")
    }

    fn shape(&self) -> Vec<usize> {
        let mut shape = Vec::new();
        for term in &self.input {
            match term {
                Term::One(Atom::Ellipsis) => shape.extend_from_slice(&self.ellipsis),
                Term::One(a) => shape.push(self.len(a)),
                Term::Group(atoms) => shape.push(atoms.iter().map(|a| self.len(a)).product()),
            }
        }
        shape
    }

    fn len(&self, atom: &Atom) -> usize {
        match *atom {
            Atom::Name(i) => self.lens[i],
            Atom::Number(n) => n,
            Atom::Ellipsis => self.ellipsis.iter().product(),
        }
    }

    fn case(&self, op: Op) -> Case {
        Case {
            op,
            pattern: format!("{} -> {}", self.side(&self.input), self.side(&self.output)),
            shape: self.shape(),
            lengths: self
                .given
                .iter()
                .map(|&i| (self.names[i].clone(), self.lens[i]))
                .collect(),
        }
    }
}

/// `0..n` in a random order.
fn shuffled(d: &mut dyn Draw, n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        v.swap(i, d.below(i + 1));
    }
    v
}

/// Cuts `atoms` into consecutive terms: alone, or groups of several.
fn grouped(d: &mut dyn Draw, atoms: Vec<Atom>) -> Vec<Term> {
    let mut terms: Vec<Vec<Atom>> = Vec::new();
    for a in atoms {
        match terms.last_mut() {
            Some(g) if d.chance(1, 3) => g.push(a),
            _ => terms.push(vec![a]),
        }
    }
    terms
        .into_iter()
        .map(|g| match g.as_slice() {
            [a] if d.chance(4, 5) => Term::One(*a),
            _ => Term::Group(g),
        })
        .collect()
}

/// Inserts unit axes (`()` or `1`) at random places.
fn add_units(d: &mut dyn Draw, config: &Config, terms: &mut Vec<Term>) {
    if !config.unit_axes {
        return;
    }
    while d.chance(1, 5) {
        let at = d.below(terms.len() + 1);
        let unit = if d.chance(1, 2) {
            Term::One(Atom::Number(1))
        } else {
            Term::Group(Vec::new())
        };
        terms.insert(at, unit);
    }
}

/// Puts `...` into `terms`: alone, or (where allowed) into a group.
fn add_ellipsis(d: &mut dyn Draw, terms: &mut Vec<Term>, in_group: bool) {
    let groups: Vec<usize> = (0..terms.len())
        .filter(|&i| matches!(terms[i], Term::Group(_)))
        .collect();
    if in_group && !groups.is_empty() && d.chance(1, 3) {
        let Term::Group(g) = &mut terms[groups[d.below(groups.len())]] else {
            unreachable!("indices of groups")
        };
        let at = d.below(g.len() + 1);
        g.insert(at, Atom::Ellipsis);
    } else {
        let at = d.below(terms.len() + 1);
        terms.insert(at, Term::One(Atom::Ellipsis));
    }
}

fn named(ids: impl IntoIterator<Item = usize>) -> Vec<Atom> {
    ids.into_iter().map(Atom::Name).collect()
}

fn generate(op: Op, config: &Config, d: &mut dyn Draw) -> Case {
    build(op, config, d).case(op)
}

fn build(op: Op, config: &Config, d: &mut dyn Draw) -> Built {
    let max_axes = config.max_axes.clamp(1, MAX_AXES);
    let max_len = config.max_len.max(1);
    let k = d.range(1, max_axes);
    let order = shuffled(d, NAMES.len());
    let names: Vec<String> = order.iter().map(|&i| NAMES[i].to_owned()).collect();
    // Axes 0..k are the input's; repeat adds new ones after them.
    let new = if op == Op::Repeat { d.below(3) } else { 0 };
    let mut lens: Vec<usize> = (0..k + new)
        .map(|_| {
            if config.zero_lengths && d.chance(1, 8) {
                0
            } else {
                d.range(1, max_len)
            }
        })
        .collect();
    let has_ellipsis = config.ellipsis && d.chance(1, 3);
    let mut ellipsis: Vec<usize> = if has_ellipsis {
        (0..d.below(3)).map(|_| d.range(1, max_len)).collect()
    } else {
        Vec::new()
    };

    // The input: the first k axes in a random order, cut into groups.
    let mut input_atoms = named(shuffled(d, k));
    if op == Op::Reduce && config.anonymous && d.chance(1, 4) {
        let at = d.below(input_atoms.len() + 1);
        input_atoms.insert(at, Atom::Number(d.range(2, 3)));
    }
    let mut input = grouped(d, input_atoms);
    add_units(d, config, &mut input);
    if has_ellipsis {
        add_ellipsis(d, &mut input, false);
    }

    // The output.
    let mut kept: Vec<usize> = shuffled(d, k);
    if op == Op::Reduce {
        kept.retain(|_| d.chance(1, 2));
    }
    let mut output_atoms = named(kept);
    if op == Op::Repeat {
        for i in k..k + new {
            let at = d.below(output_atoms.len() + 1);
            output_atoms.insert(at, Atom::Name(i));
        }
        if config.anonymous && d.chance(1, 4) {
            let at = d.below(output_atoms.len() + 1);
            output_atoms.insert(at, Atom::Number(d.range(2, 3)));
        }
    }
    let mut output = grouped(d, output_atoms);
    add_units(d, config, &mut output);
    // Reduce may reduce `...` away; the others must keep it.
    if has_ellipsis && (op != Op::Reduce || d.chance(1, 2)) {
        add_ellipsis(d, &mut output, true);
    }

    // Fit max_elements by shortening the longest axes.
    let total = |lens: &[usize], ellipsis: &[usize]| {
        lens.iter()
            .chain(ellipsis)
            .try_fold(9usize, |acc, &l| acc.checked_mul(l.max(1)))
            .unwrap_or(usize::MAX)
    };
    while total(&lens, &ellipsis) > config.max_elements.max(9) {
        let longest = lens
            .iter_mut()
            .chain(ellipsis.iter_mut())
            .max_by_key(|l| **l);
        match longest {
            Some(l) if *l > 1 => *l = (*l / 2).max(1),
            _ => break,
        }
    }

    // Lengths to pass: all but one axis of each input group (all of them
    // when an axis of length 0 would leave the other unknown), some
    // others, and every new axis.
    let mut given = Vec::new();
    for term in &input {
        let ids: Vec<usize> = match term {
            Term::One(Atom::Name(i)) => vec![*i],
            Term::Group(atoms) => atoms
                .iter()
                .filter_map(|a| match a {
                    Atom::Name(i) => Some(*i),
                    _ => None,
                })
                .collect(),
            _ => continue,
        };
        let inferred = match ids.len() {
            0 => None,
            1 if d.chance(3, 4) => Some(ids[0]),
            1 => None,
            n => {
                let pick = ids[d.below(n)];
                let others_zero = ids.iter().any(|&i| i != pick && lens[i] == 0);
                (!others_zero).then_some(pick)
            }
        };
        given.extend(ids.into_iter().filter(|&i| Some(i) != inferred));
    }
    given.extend(k..k + new);

    Built {
        names,
        lens,
        ellipsis,
        input,
        output,
        given,
    }
}

fn generate_einsum(config: &Config, d: &mut dyn Draw) -> EinsumCase {
    let max_axes = config.max_axes.clamp(1, MAX_AXES);
    let k = d.range(1, max_axes);
    let order = shuffled(d, NAMES.len());
    let names: Vec<&str> = order.iter().take(k).map(|&i| NAMES[i]).collect();
    let mut lens: Vec<usize> = (0..k)
        .map(|_| {
            if config.zero_lengths && d.chance(1, 8) {
                0
            } else {
                d.range(1, config.max_len.max(1))
            }
        })
        .collect();
    let mut ellipsis: Vec<usize> = if config.ellipsis && d.chance(1, 4) {
        (0..d.range(1, 2))
            .map(|_| d.range(1, config.max_len.max(1)))
            .collect()
    } else {
        Vec::new()
    };
    // Each operand's size is at most the product of every length.
    while lens
        .iter()
        .chain(&ellipsis)
        .try_fold(1usize, |acc, &l| acc.checked_mul(l.max(1)))
        .is_none_or(|n| n > config.max_elements.max(1))
    {
        match lens
            .iter_mut()
            .chain(ellipsis.iter_mut())
            .max_by_key(|l| **l)
        {
            Some(l) if *l > 1 => *l = (*l / 2).max(1),
            _ => break,
        }
    }
    let n_operands = d.range(1, 3);
    let mut used = vec![false; k];
    let mut operands: Vec<Vec<usize>> = (0..n_operands)
        .map(|_| {
            let mut ids = shuffled(d, k);
            ids.retain(|_| d.chance(2, 3));
            if ids.is_empty() {
                ids.push(d.below(k));
            }
            ids
        })
        .collect();
    // Every axis in some operand: the rest go to the last one.
    for ids in &operands {
        for &i in ids {
            used[i] = true;
        }
    }
    if let Some(last) = operands.last_mut() {
        last.extend((0..k).filter(|&i| !used[i]));
    }
    let mut output = shuffled(d, k);
    output.retain(|_| d.chance(1, 2));
    let print = |ids: &[usize], dots: bool| {
        let mut parts: Vec<&str> = ids.iter().map(|&i| names[i]).collect();
        if dots {
            parts.insert(0, "...");
        }
        parts.join(" ")
    };
    let dots = !ellipsis.is_empty();
    let sides: Vec<String> = operands.iter().map(|ids| print(ids, dots)).collect();
    let shapes = operands
        .iter()
        .map(|ids| {
            let mut s = ellipsis.clone();
            s.extend(ids.iter().map(|&i| lens[i]));
            s
        })
        .collect();
    EinsumCase {
        pattern: format!("{} -> {}", sides.join(", "), print(&output, dots)),
        shapes,
    }
}

fn generate_invalid(config: &Config, d: &mut dyn Draw) -> InvalidCase {
    let op = [Op::Rearrange, Op::Reduce, Op::Repeat][d.below(3)];
    let mut b = build(op, config, d);
    let flaws = [
        Flaw::MissingArrow,
        Flaw::ExtraArrow,
        Flaw::UnclosedGroup,
        Flaw::StrayDot,
        Flaw::BadName,
        Flaw::DuplicateAxis,
        Flaw::OneSidedAxis,
        Flaw::UnusedLength,
        Flaw::RankMismatch,
        Flaw::WrongLength,
    ];
    let flaw = flaws[d.below(flaws.len())];
    // Input axes (named, in input order) and where they are.
    let input_ids: Vec<usize> = b
        .input
        .iter()
        .flat_map(|t| match t {
            Term::One(a) => vec![*a],
            Term::Group(g) => g.clone(),
        })
        .filter_map(|a| match a {
            Atom::Name(i) => Some(i),
            _ => None,
        })
        .collect();
    let first = input_ids[0];
    match flaw {
        Flaw::MissingArrow | Flaw::ExtraArrow | Flaw::UnclosedGroup | Flaw::StrayDot => {
            let mut case = b.case(op);
            let (left, right) = case
                .pattern
                .split_once(" -> ")
                .expect("printed with an arrow");
            case.pattern = match flaw {
                Flaw::MissingArrow => format!("{left} {right}"),
                Flaw::ExtraArrow => format!("{left} -> {right} -> {right}"),
                Flaw::UnclosedGroup => format!("{left} -> ({right}"),
                _ => format!("{left} .. -> {right}"),
            };
            return InvalidCase { case, flaw };
        }
        Flaw::BadName => b.names[first] = format!("_{}", b.names[first]),
        Flaw::DuplicateAxis => b.input.push(Term::One(Atom::Name(first))),
        Flaw::OneSidedAxis => match op {
            // A new output axis (its length given, so only the side is
            // wrong).
            Op::Reduce => {
                let extra = b.lens.len();
                b.lens.push(2);
                b.output.push(Term::One(Atom::Name(extra)));
                b.given.push(extra);
            }
            // An input axis missing from the output.
            _ => {
                for term in &mut b.output {
                    match term {
                        Term::One(Atom::Name(i)) if *i == first => *term = Term::Group(Vec::new()),
                        Term::Group(g) => g.retain(|a| *a != Atom::Name(first)),
                        _ => {}
                    }
                }
            }
        },
        Flaw::UnusedLength => {
            let extra = b.lens.len();
            b.lens.push(2);
            b.given.push(extra);
        }
        Flaw::RankMismatch => {
            let mut case = b.case(op);
            let dots = b.input.contains(&Term::One(Atom::Ellipsis));
            if dots {
                // Fewer dimensions than the named terms.
                let fixed = b.input.len() - 1;
                case.shape.truncate(0);
                case.shape.extend(std::iter::repeat_n(1, fixed - 1));
            } else {
                case.shape.push(2);
            }
            return InvalidCase { case, flaw };
        }
        Flaw::WrongLength => {
            // Give every length of the first axis's term and add 1 to its
            // dimension.
            let at = b
                .input
                .iter()
                .position(|t| match t {
                    Term::One(a) => *a == Atom::Name(first),
                    Term::Group(g) => g.contains(&Atom::Name(first)),
                })
                .expect("the first input axis is in the input");
            let ids: Vec<usize> = match &b.input[at] {
                Term::One(_) => vec![first],
                Term::Group(g) => g
                    .iter()
                    .filter_map(|a| match a {
                        Atom::Name(i) => Some(*i),
                        _ => None,
                    })
                    .collect(),
            };
            for i in ids {
                if !b.given.contains(&i) {
                    b.given.push(i);
                }
            }
            let mut case = b.case(op);
            let dim = b.input[..at]
                .iter()
                .map(|t| match t {
                    Term::One(Atom::Ellipsis) => b.ellipsis.len(),
                    _ => 1,
                })
                .sum::<usize>();
            case.shape[dim] += 1;
            return InvalidCase { case, flaw };
        }
    }
    InvalidCase {
        case: b.case(op),
        flaw,
    }
}

#[cfg(feature = "proptest")]
mod strategy {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::{Case, Config, EinsumCase, InvalidCase, Listed, Op};

    /// The choice lists the strategies read; long enough for the largest
    /// cases, and shrinking them simplifies the case.
    fn choices() -> impl Strategy<Value = Vec<u32>> {
        vec(any::<u32>(), 0..=400)
    }

    fn valid(op: Op, config: Config) -> impl Strategy<Value = Case> {
        choices().prop_map(move |c| super::generate(op, &config, &mut Listed { values: &c, at: 0 }))
    }

    /// Valid rearrange cases: every axis on both sides, grouped
    /// differently, with unit axes and `...` as `config` allows.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::strategies::{self, Config};
    /// use proptest::strategy::{Strategy, ValueTree};
    /// use proptest::test_runner::TestRunner;
    ///
    /// let mut runner = TestRunner::deterministic();
    /// let case = strategies::rearrange(Config::default()).new_tree(&mut runner).unwrap().current();
    /// let x = ndarray::ArrayD::<u8>::zeros(ndarray::IxDyn(&case.shape));
    /// assert!(einplan::rearrange(&x, &case.pattern, &case.axes_lengths()).is_ok());
    /// ```
    pub fn rearrange(config: Config) -> impl Strategy<Value = Case> {
        valid(Op::Rearrange, config)
    }

    /// Valid reduce cases: the output keeps some of the input's axes (and
    /// maybe `...`), with `(h 2)` windows on the input when
    /// `config.anonymous`. Valid for every reduction unless
    /// `config.zero_lengths` (`min` and `max` of nothing fail).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::strategies::{self, Config};
    /// use proptest::strategy::{Strategy, ValueTree};
    /// use proptest::test_runner::TestRunner;
    ///
    /// let mut runner = TestRunner::deterministic();
    /// let case = strategies::reduce(Config::default()).new_tree(&mut runner).unwrap().current();
    /// let x = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&case.shape));
    /// let sum = einplan::Reduction::Sum;
    /// assert!(einplan::reduce(&x, &case.pattern, sum, &case.axes_lengths()).is_ok());
    /// ```
    pub fn reduce(config: Config) -> impl Strategy<Value = Case> {
        valid(Op::Reduce, config)
    }

    /// Valid repeat cases: the output has every input axis and up to two
    /// new ones (their lengths given), and a new anonymous axis when
    /// `config.anonymous`.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::strategies::{self, Config};
    /// use proptest::strategy::{Strategy, ValueTree};
    /// use proptest::test_runner::TestRunner;
    ///
    /// let mut runner = TestRunner::deterministic();
    /// let case = strategies::repeat(Config::default()).new_tree(&mut runner).unwrap().current();
    /// let x = ndarray::ArrayD::<u8>::zeros(ndarray::IxDyn(&case.shape));
    /// assert!(einplan::repeat(&x, &case.pattern, &case.axes_lengths()).is_ok());
    /// ```
    pub fn repeat(config: Config) -> impl Strategy<Value = Case> {
        valid(Op::Repeat, config)
    }

    /// Valid einsum cases: one to three operands.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::strategies::{self, Config};
    /// use proptest::strategy::{Strategy, ValueTree};
    /// use proptest::test_runner::TestRunner;
    ///
    /// let mut runner = TestRunner::deterministic();
    /// let case = strategies::einsum(Config::default()).new_tree(&mut runner).unwrap().current();
    /// assert!(!case.shapes.is_empty());
    /// ```
    pub fn einsum(config: Config) -> impl Strategy<Value = EinsumCase> {
        choices()
            .prop_map(move |c| super::generate_einsum(&config, &mut Listed { values: &c, at: 0 }))
    }

    /// Invalid cases for rearrange, reduce and repeat, each with the
    /// [`Flaw`](super::Flaw) that makes it invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::strategies::{self, Config};
    /// use proptest::strategy::{Strategy, ValueTree};
    /// use proptest::test_runner::TestRunner;
    ///
    /// let mut runner = TestRunner::deterministic();
    /// let bad = strategies::invalid(Config::default()).new_tree(&mut runner).unwrap().current();
    /// println!("{:?}: {}", bad.flaw, bad.case.pattern);
    /// ```
    pub fn invalid(config: Config) -> impl Strategy<Value = InvalidCase> {
        choices()
            .prop_map(move |c| super::generate_invalid(&config, &mut Listed { values: &c, at: 0 }))
    }
}

#[cfg(feature = "proptest")]
pub use self::strategy::{einsum, invalid, rearrange, reduce, repeat};

#[cfg(feature = "arbitrary")]
mod fuzz {
    use arbitrary::{Arbitrary, Result, Unstructured};

    use super::{Case, Config, Draw, EinsumCase, InvalidCase, Op};

    /// Choices from the fuzzer's bytes; zeros once they run out.
    struct Bytes<'u, 'a>(&'u mut Unstructured<'a>);

    impl Draw for Bytes<'_, '_> {
        fn below(&mut self, n: usize) -> usize {
            self.0.int_in_range(0..=n - 1).unwrap_or(0)
        }
    }

    /// A valid case for a rearrange, reduce or repeat, with the default
    /// [`Config`].
    impl<'a> Arbitrary<'a> for Case {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Case> {
            let op = [Op::Rearrange, Op::Reduce, Op::Repeat][u.int_in_range(0..=2)?];
            Ok(super::generate(op, &Config::default(), &mut Bytes(u)))
        }
    }

    /// A valid einsum with the default [`Config`].
    impl<'a> Arbitrary<'a> for EinsumCase {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<EinsumCase> {
            Ok(super::generate_einsum(&Config::default(), &mut Bytes(u)))
        }
    }

    /// An invalid case with the default [`Config`].
    impl<'a> Arbitrary<'a> for InvalidCase {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<InvalidCase> {
            Ok(super::generate_invalid(&Config::default(), &mut Bytes(u)))
        }
    }
}
