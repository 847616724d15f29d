//! `einplan::strategies`, dogfooded: the generated cases are run through
//! einplan and through a small independent implementation of rearrange,
//! reduce (sum), repeat and einsum written here, which works axis by axis
//! from the pattern's text and shares no code with einplan. Valid cases
//! must agree; invalid cases must be rejected.

use std::collections::HashMap;

use einplan::strategies::{self, Case, Config, EinsumCase, Flaw, InvalidCase, Op};
use einplan::{Rearrange, Reduction};
use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;

/// One side of a pattern with `...` expanded to `ellipsis` dimensions and
/// numbers made into axes: each term is a list of axis names; the lengths
/// of numbered and ellipsis axes go into `lens`.
fn side(
    text: &str,
    ellipsis: usize,
    tag: char,
    lens: &mut HashMap<String, usize>,
) -> Vec<Vec<String>> {
    let mut terms: Vec<Vec<String>> = Vec::new();
    let mut group: Option<Vec<String>> = None;
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    for (i, token) in spaced.split_whitespace().enumerate() {
        let names: Vec<String> = match token {
            "(" => {
                group = Some(Vec::new());
                continue;
            }
            ")" => {
                terms.push(group.take().expect("balanced"));
                continue;
            }
            "..." => (0..ellipsis).map(|d| format!("...{d}")).collect(),
            number if number.as_bytes()[0].is_ascii_digit() => {
                let name = format!("{tag}{i}");
                lens.insert(name.clone(), number.parse().unwrap());
                vec![name]
            }
            name => vec![name.to_owned()],
        };
        match group.as_mut() {
            Some(g) => g.extend(names),
            None if token == "..." => terms.extend(names.into_iter().map(|n| vec![n])),
            None => terms.push(names),
        }
    }
    terms
}

/// The parsed sides of a case with every axis length known.
struct Axes {
    input: Vec<Vec<String>>,
    output: Vec<Vec<String>>,
    lens: HashMap<String, usize>,
}

fn axes(pattern: &str, shape: &[usize], given: &[(&str, usize)]) -> Axes {
    let (left, right) = pattern.split_once("->").unwrap();
    let fixed = side(left, 0, 'i', &mut HashMap::new())
        .iter()
        .filter(|t| !(t.len() == 1 && t[0].starts_with("...")))
        .count();
    // `side` with 0 ellipsis dims drops `...`: count terms without it.
    let dots = left.contains("...");
    let ellipsis = if dots { shape.len() - fixed } else { 0 };
    let mut lens: HashMap<String, usize> = given.iter().map(|&(n, l)| (n.to_owned(), l)).collect();
    let input = side(left, ellipsis, 'i', &mut lens);
    let output = side(right, ellipsis, 'o', &mut lens);
    assert_eq!(input.len(), shape.len(), "{pattern} on {shape:?}");
    for (term, &dim) in input.iter().zip(shape) {
        let unknown: Vec<&String> = term.iter().filter(|n| !lens.contains_key(*n)).collect();
        let known: usize = term.iter().filter_map(|n| lens.get(n)).product();
        match unknown.as_slice() {
            [] => assert_eq!(known, dim, "{pattern} on {shape:?}"),
            [one] => {
                let len = dim.checked_div(known).unwrap_or(0);
                lens.insert((*one).clone(), len);
            }
            _ => panic!("{pattern}: more than one unknown length in a group"),
        }
    }
    Axes {
        input,
        output,
        lens,
    }
}

impl Axes {
    fn shape(&self, terms: &[Vec<String>]) -> Vec<usize> {
        terms
            .iter()
            .map(|t| t.iter().map(|n| self.lens[n]).product())
            .collect()
    }

    /// Each axis's coordinate at `index` of an array shaped by `terms`.
    fn split<'a>(&self, terms: &'a [Vec<String>], index: &[usize]) -> HashMap<&'a str, usize> {
        let mut at = HashMap::new();
        for (term, &i) in terms.iter().zip(index) {
            let mut rest = i;
            for n in term.iter().rev() {
                let len = self.lens[n];
                at.insert(n.as_str(), rest % len);
                rest /= len;
            }
        }
        at
    }

    /// The index of an array shaped by `terms` at the axes' coordinates
    /// (0 for axes not in `at`).
    fn merge(&self, terms: &[Vec<String>], at: &HashMap<&str, usize>) -> Vec<usize> {
        terms
            .iter()
            .map(|t| {
                t.iter().fold(0, |acc, n| {
                    acc * self.lens[n] + at.get(n.as_str()).copied().unwrap_or(0)
                })
            })
            .collect()
    }
}

/// Rearrange or repeat: every output element read from its input element.
fn copy_by_axes(x: &ArrayD<f64>, pattern: &str, given: &[(&str, usize)]) -> ArrayD<f64> {
    let a = axes(pattern, x.shape(), given);
    let mut out = ArrayD::zeros(IxDyn(&a.shape(&a.output)));
    for (index, value) in out.indexed_iter_mut() {
        let at = a.split(&a.output, index.as_array_view().to_slice().unwrap());
        *value = x[IxDyn(&a.merge(&a.input, &at))];
    }
    out
}

/// Reduce by sum: every input element added to its output element.
fn sum_by_axes(x: &ArrayD<f64>, pattern: &str, given: &[(&str, usize)]) -> ArrayD<f64> {
    let a = axes(pattern, x.shape(), given);
    let mut out = ArrayD::zeros(IxDyn(&a.shape(&a.output)));
    for (index, value) in x.indexed_iter() {
        let at = a.split(&a.input, index.as_array_view().to_slice().unwrap());
        out[IxDyn(&a.merge(&a.output, &at))] += *value;
    }
    out
}

/// Einsum by its definition: a sum over every assignment of every axis.
fn einsum_by_axes(pattern: &str, operands: &[ArrayD<f64>]) -> ArrayD<f64> {
    let (left, right) = pattern.split_once("->").unwrap();
    let ellipsis = |text: &str, rank: usize| {
        let named = text.split_whitespace().filter(|t| *t != "...").count();
        if text.contains("...") {
            rank - named
        } else {
            0
        }
    };
    let mut lens = HashMap::new();
    let sides: Vec<Vec<Vec<String>>> = left
        .split(',')
        .zip(operands)
        .map(|(text, x)| {
            let terms = side(text, ellipsis(text, x.ndim()), 'i', &mut lens);
            for (t, &d) in terms.iter().zip(x.shape()) {
                lens.insert(t[0].clone(), d);
            }
            terms
        })
        .collect();
    let dims = left
        .split(',')
        .zip(operands)
        .map(|(t, x)| ellipsis(t, x.ndim()))
        .max()
        .unwrap_or(0);
    let output = side(right, dims, 'o', &mut lens);
    let all: Vec<String> = lens.keys().cloned().collect();
    let a = Axes {
        input: Vec::new(),
        output,
        lens,
    };
    let mut out = ArrayD::zeros(IxDyn(&a.shape(&a.output)));
    let space: Vec<usize> = all.iter().map(|n| a.lens[n]).collect();
    for index in ndarray::indices(IxDyn(&space)) {
        let at: HashMap<&str, usize> = all
            .iter()
            .map(String::as_str)
            .zip(index.as_array_view().to_slice().unwrap().iter().copied())
            .collect();
        let product: f64 = sides
            .iter()
            .zip(operands)
            .map(|(terms, x)| x[IxDyn(&a.merge(terms, &at))])
            .product();
        out[IxDyn(&a.merge(&a.output, &at))] += product;
    }
    out
}

/// An input of `shape` with distinct small integers, so sums are exact.
fn input(shape: &[usize]) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|v| (v % 17) as f64 - 8.0).collect(),
    )
    .unwrap()
}

fn run(case: &Case) -> Result<ArrayD<f64>, einplan::Error> {
    let x = input(&case.shape);
    let lengths = case.axes_lengths();
    match case.op {
        Op::Rearrange => einplan::rearrange(&x, &case.pattern, &lengths).map(|y| y.into_owned()),
        Op::Reduce => einplan::reduce(&x, &case.pattern, Reduction::Sum, &lengths),
        _ => einplan::repeat(&x, &case.pattern, &lengths).map(|y| y.into_owned()),
    }
}

fn independent(case: &Case) -> ArrayD<f64> {
    let x = input(&case.shape);
    let lengths = case.axes_lengths();
    match case.op {
        Op::Reduce => sum_by_axes(&x, &case.pattern, &lengths),
        _ => copy_by_axes(&x, &case.pattern, &lengths),
    }
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let got = run(case).map_err(|e| TestCaseError::fail(format!("{case:?}\n{e}")))?;
    prop_assert_eq!(got, independent(case), "{:?}", case);
    Ok(())
}

fn zero_lengths() -> Config {
    let mut c = Config::default();
    c.zero_lengths = true;
    c.max_axes = 4;
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rearrange_cases_agree_with_an_independent_rearrange(case in strategies::rearrange(Config::default())) {
        check(&case)?;
    }

    #[test]
    fn reduce_cases_agree_with_an_independent_sum(case in strategies::reduce(Config::default())) {
        check(&case)?;
    }

    #[test]
    fn repeat_cases_agree_with_an_independent_repeat(case in strategies::repeat(Config::default())) {
        check(&case)?;
    }

    #[test]
    fn cases_with_zero_lengths_agree(
        case in prop_oneof![
            strategies::rearrange(zero_lengths()),
            strategies::reduce(zero_lengths()),
            strategies::repeat(zero_lengths()),
        ]
    ) {
        check(&case)?;
    }

    #[test]
    fn einsum_cases_agree_with_einsum_by_definition(case in strategies::einsum(Config::default())) {
        let operands: Vec<ArrayD<f64>> = case.shapes.iter().map(|s| input(s)).collect();
        let views: Vec<_> = operands.iter().map(|x| x.view()).collect();
        let got = einplan::einsum(&case.pattern, &views)
            .map_err(|e| TestCaseError::fail(format!("{case:?}\n{e}")))?;
        prop_assert_eq!(got, einsum_by_axes(&case.pattern, &operands), "{:?}", case);
    }

    #[test]
    fn invalid_cases_are_rejected(bad in strategies::invalid(Config::default())) {
        prop_assert!(run(&bad.case).is_err(), "{:?} accepted", bad);
        if bad.flaw.is_syntax() {
            // A syntax error needs no shape.
            prop_assert!(Rearrange::new(&bad.case.pattern).is_err(), "{:?}", bad);
        }
    }
}

/// The knobs hold: sizes, ranks and constructs stay within the config.
#[test]
fn config_bounds_the_cases() {
    let mut config = Config::default();
    config.max_axes = 2;
    config.max_len = 3;
    config.max_elements = 50;
    config.ellipsis = false;
    config.unit_axes = false;
    config.anonymous = false;
    for seed in 0..500 {
        for op in [Op::Rearrange, Op::Reduce, Op::Repeat] {
            let case = Case::from_seed(op, &config, seed);
            let a = axes(&case.pattern, &case.shape, &case.axes_lengths());
            let named = a.lens.len();
            assert!(
                named <= 2 + if op == Op::Repeat { 2 } else { 0 },
                "{case:?}"
            );
            assert!(a.lens.values().all(|&l| (1..=3).contains(&l)), "{case:?}");
            assert!(case.shape.iter().product::<usize>() <= 50, "{case:?}");
            assert!(
                !case.pattern.contains("...") && !case.pattern.contains("()"),
                "{case:?}"
            );
            assert!(
                !case
                    .pattern
                    .chars()
                    .any(|c| c.is_ascii_digit() && c != '1' && c != '2'),
                "{case:?}"
            );
        }
    }
}

/// Over many seeds, every construct and every flaw shows up.
#[test]
fn generators_cover_every_construct() {
    let config = Config::default();
    let cases: Vec<Case> = (0..2000)
        .flat_map(|s| {
            [Op::Rearrange, Op::Reduce, Op::Repeat].map(|op| Case::from_seed(op, &config, s))
        })
        .collect();
    let has = |f: &dyn Fn(&Case) -> bool| cases.iter().any(f);
    assert!(has(&|c| c.pattern.contains("...")));
    assert!(has(&|c| c
        .pattern
        .split("->")
        .nth(1)
        .unwrap()
        .contains("...)")));
    assert!(has(&|c| c.pattern.contains("()")));
    assert!(has(&|c| c.pattern.contains(" 1")));
    assert!(has(&|c| c.op == Op::Reduce && c.pattern.contains(" 2")));
    assert!(has(
        &|c| c.op == Op::Repeat && c.pattern.split("->").nth(1).unwrap().contains('3')
    ));
    assert!(has(&|c| c.lengths.len() >= 2));
    assert!(has(&|c| c.shape.len() >= 5));
    let flaws: std::collections::HashSet<Flaw> = (0..2000)
        .map(|s| InvalidCase::from_seed(&config, s).flaw)
        .collect();
    assert_eq!(flaws.len(), 10, "{flaws:?}");
    let einsums: Vec<EinsumCase> = (0..500)
        .map(|s| EinsumCase::from_seed(&config, s))
        .collect();
    assert!(einsums.iter().any(|c| c.shapes.len() == 3));
    assert!(einsums.iter().any(|c| c.pattern.contains("...")));
}

/// The `arbitrary` cases, from arbitrary bytes, are valid (or, for
/// invalid cases, rejected) too.
#[cfg(feature = "arbitrary")]
#[test]
fn arbitrary_cases_from_any_bytes() {
    use arbitrary::{Arbitrary, Unstructured};

    let mut bytes = vec![0u8; 4096];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for round in 0..300 {
        for b in bytes.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        // Short inputs too: exhausted bytes give the simplest choices.
        let data = &bytes[..(round * 7) % bytes.len()];
        let case = Case::arbitrary(&mut Unstructured::new(data)).unwrap();
        let got = run(&case).unwrap_or_else(|e| panic!("{case:?}\n{e}"));
        assert_eq!(got, independent(&case), "{case:?}");
        let bad = InvalidCase::arbitrary(&mut Unstructured::new(data)).unwrap();
        assert!(run(&bad.case).is_err(), "{bad:?}");
        let e = EinsumCase::arbitrary(&mut Unstructured::new(data)).unwrap();
        let operands: Vec<ArrayD<f64>> = e.shapes.iter().map(|s| input(s)).collect();
        let views: Vec<_> = operands.iter().map(|x| x.view()).collect();
        einplan::einsum(&e.pattern, &views).unwrap_or_else(|err| panic!("{e:?}\n{err}"));
    }
}

/// Writes generated cases for `tests/data/check_strategies.py`, which
/// checks that einops accepts the valid ones and rejects the invalid ones:
///
/// ```text
/// cargo test --all-features --test integration dump_cases_for_einops -- --ignored
/// python3 tests/data/check_strategies.py target/strategy_cases.tsv
/// ```
#[test]
#[ignore = "writes a file for the einops cross-check"]
fn dump_cases_for_einops() {
    use std::fmt::Write;

    let lengths = |l: &[(String, usize)]| {
        let pairs: Vec<String> = l.iter().map(|(n, v)| format!("{n}={v}")).collect();
        pairs.join(",")
    };
    let mut zero = Config::default();
    zero.zero_lengths = true;
    let mut out = String::new();
    for config in [Config::default(), zero] {
        for seed in 0..1500 {
            for op in [Op::Rearrange, Op::Reduce, Op::Repeat] {
                let c = Case::from_seed(op, &config, seed);
                let l = lengths(&c.lengths);
                writeln!(out, "valid\t{op}\t{}\t{:?}\t{l}", c.pattern, c.shape).unwrap();
            }
            let e = EinsumCase::from_seed(&config, seed);
            writeln!(out, "valid\teinsum\t{}\t{:?}\t", e.pattern, e.shapes).unwrap();
            let bad = InvalidCase::from_seed(&config, seed);
            let (c, l) = (&bad.case, lengths(&bad.case.lengths));
            writeln!(out, "invalid\t{}\t{}\t{:?}\t{l}", c.op, c.pattern, c.shape).unwrap();
        }
    }
    let path = format!("{}/target/strategy_cases.tsv", env!("CARGO_MANIFEST_DIR"));
    std::fs::write(&path, out).unwrap();
}
