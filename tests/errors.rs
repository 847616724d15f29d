//! The exact rendered text of representative errors (caret snapshots).

use ndarray::{ArrayD, IxDyn};

fn render(shape: &[usize], pattern: &str, lengths: &[(&str, usize)]) -> String {
    let x = ArrayD::<u8>::zeros(IxDyn(shape));
    match einplan::rearrange(&x, pattern, lengths) {
        Ok(y) => panic!("{pattern:?} gave shape {:?}, expected an error", y.shape()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn snapshots() {
    type Case<'a> = (&'a [usize], &'a str, &'a [(&'a str, usize)]);
    let cases: &[Case<'_>] = &[
        (&[2, 5], "a (b c) -> a b c", &[("b", 2)]),
        (&[2, 5], "a (b c) -> a b c", &[("b", 2), ("c", 3)]),
        (&[2, 3], "b h h -> b h", &[]),
        (&[2, 3], "a b", &[]),
        (&[2, 3], "(a b -> a b", &[]),
        (&[2, 3], "a b -> a", &[]),
        (&[2, 3], "a b c -> c b a", &[]),
        (&[6], "(a b) -> a b", &[]),
        (&[2, 3], "a b -> b a", &[("c", 2)]),
        (&[2, 3], "_a b -> b _a", &[]),
        (&[2, 3], "a b -> a b 2", &[]),
        (&[2, 3], "(a ...) -> a ...", &[]),
        (&[2], "a ... b -> b ... a", &[]),
        (&[2, 3], "α β -> β α γ", &[]),
    ];
    let got: Vec<String> = cases.iter().map(|(s, p, l)| render(s, p, l)).collect();
    check_snapshot(&(got.join("\n\n") + "\n"), "error_snapshots.txt");
}

/// Compares `got` with `tests/data/<file>`; `EINPLAN_BLESS=1` rewrites it.
fn check_snapshot(got: &str, file: &str) {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("EINPLAN_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got, want,
        "set EINPLAN_BLESS=1 to rewrite {path}, then review it"
    );
}

/// Errors of reduce, repeat, pack, unpack and parse_shape.
#[test]
fn snapshots_of_the_other_ops() {
    use einplan::Reduction;
    let x = ArrayD::<f32>::zeros(IxDyn(&[2, 6]));
    let ints = ArrayD::<i32>::zeros(IxDyn(&[2, 6]));
    let empty = ArrayD::<f32>::zeros(IxDyn(&[2, 0]));
    let v = x.view();
    let w = ArrayD::<f32>::zeros(IxDyn(&[3, 6]));
    let errors: Vec<einplan::Error> = vec![
        einplan::reduce(&x, "a b -> a c", Reduction::Sum, &[]).unwrap_err(),
        einplan::reduce(&x, "a b -> (a 2)", Reduction::Sum, &[]).unwrap_err(),
        einplan::reduce(&ints, "a b -> a", Reduction::Mean, &[]).unwrap_err(),
        einplan::reduce(&empty, "a b -> a", Reduction::Max, &[]).unwrap_err(),
        einplan::repeat(&x, "a b -> a b c", &[]).unwrap_err(),
        einplan::repeat(&x, "a b -> b", &[]).unwrap_err(),
        einplan::pack(&[v.clone(), w.view()], "* b c").unwrap_err(),
        einplan::pack(std::slice::from_ref(&v), "a b").unwrap_err(),
        einplan::unpack(&x, &[vec![2], vec![3]], "a *").unwrap_err(),
        einplan::parse_shape(&x, "(a b)").unwrap_err(),
        einplan::parse_shape(&x, "a 5").unwrap_err(),
        einplan::rearrange_list(&[x.clone(), w.clone()], "n a b -> a (n b)", &[]).unwrap_err(),
    ];
    let got: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    check_snapshot(&(got.join("\n\n") + "\n"), "error_snapshots_ops.txt");
}

#[test]
fn nothing_panics_on_absurd_lengths() {
    let x = ArrayD::<u8>::zeros(IxDyn(&[4, 6]));
    let huge = usize::MAX / 2;
    for (pattern, lengths) in [
        ("a (b c) -> a b c", vec![("b", huge), ("c", huge)]),
        ("a (b c) -> a b c", vec![("b", 0)]),
        ("a b -> a b", vec![("a", 5)]),
        ("(a b) c -> a b c", vec![("a", huge)]),
    ] {
        let e = einplan::rearrange(&x, pattern, &lengths).unwrap_err();
        assert!(e.span().end <= pattern.len(), "{e}");
    }
}

#[test]
fn kinds_and_spans() {
    use einplan::ErrorKind;
    let x = ArrayD::<u8>::zeros(IxDyn(&[2, 5]));
    let e = einplan::rearrange(&x, "a (b c) -> a b c", &[("b", 2)]).unwrap_err();
    assert_eq!(e.span(), 2..7);
    assert!(matches!(
        e.kind(),
        ErrorKind::NotDivisible {
            dim: 1,
            length: 5,
            ..
        }
    ));
    let e = einplan::Rearrange::new("b h h -> b h").unwrap_err();
    assert_eq!((e.span(), e.aux_span()), (4..5, Some(2..3)));
    let e = einplan::rearrange(&x, "a b c -> a b c", &[]).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::RankMismatch {
            expected: 3,
            found: 2,
            at_least: false
        }
    );
    assert_eq!(e.span(), 0..5);
}

#[test]
fn results_too_large_to_allocate_are_errors() {
    use einplan::ErrorKind;
    let x = ndarray::Array1::<f64>::zeros(2);
    // 2^61 elements fit `isize`, their bytes do not: an error, not an abort.
    let e = einplan::repeat(&x, "a -> (a b)", &[("b", 1 << 60)]).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::TooLarge { .. }), "{e}");
    assert_eq!(e.span(), 5..10);
    // The same repeat without a merge is a broadcast view: nothing to allocate.
    let v = einplan::repeat(&x, "a -> a b", &[("b", 1 << 60)]).unwrap();
    assert!(v.is_view());
    // More elements than `isize::MAX` is rejected when planning.
    let e = einplan::repeat(&x, "a -> a b", &[("b", usize::MAX / 2)]).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Overflow);
}

#[test]
fn kinds_are_data_and_words_fit_the_case() {
    use einplan::ErrorKind;
    let x = ArrayD::<u8>::zeros(IxDyn(&[6, 3]));
    let e = einplan::rearrange(&x, "a -> a", &[]).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("the pattern expects 1 input dimension, the input has 2"),
        "{e}"
    );
    // `a = 0` leaves `b` undetermined: say so, not "not divisible".
    let e = einplan::rearrange(&x, "(a b) c -> a b c", &[("a", 0)]).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::ZeroInGroup {
            name: "b".into(),
            dim: 0,
            length: 6,
            zero: einplan::KnownLengths {
                axes: vec!["a".into()],
                product: 0
            }
        }
    );
    assert!(e.to_string().ends_with(
        "cannot infer `b` from input axis 0 of length 6: \
         the other lengths in its group multiply to 0 (a = 0)"
    ));
    let e = einplan::pack(&[x.view().into_dyn()], "").unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::MissingStar { op: "pack" });
    let e = einplan::rearrange(&x, "a b -> a b c", &[]).unwrap_err();
    assert!(e.to_string().ends_with("(use repeat to add axes)"), "{e}");
    let e = einplan::Rearrange::new("a b -> b a")
        .unwrap()
        .apply_into(&x, &mut ArrayD::<u8>::zeros(IxDyn(&[3, 5])))
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::OutputShape {
            expected: vec![3, 6],
            found: vec![3, 5]
        }
    );
    let xs: [ArrayD<u8>; 0] = [];
    let e = einplan::rearrange_list(&xs, "n a -> a n", &[]).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NoInputs { op: "rearrange" });
    assert!(e.to_string().ends_with("the list of inputs is empty"));
}

/// The family "a zero-length axis beside lengths whose product
/// overflows": the result holds no elements, but ndarray cannot represent
/// its shape. The planner refuses it in every operation.
#[test]
fn empty_beside_overflowing_lengths_is_an_error_everywhere() {
    use einplan::{ErrorKind, Reduction};
    let big = usize::MAX;
    let z = ArrayD::<f32>::zeros(IxDyn(&[0]));
    let overflow = |r: Result<(), einplan::Error>| {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Overflow, "{e}");
    };
    overflow(einplan::repeat(&z, "a -> a r", &[("r", big)]).map(drop));
    overflow(einplan::rearrange(&z, "(a b) -> a b", &[("a", big)]).map(drop));
    let mut out = ArrayD::<f32>::zeros(IxDyn(&[0, 1]));
    let op = einplan::Repeat::new("a -> a r")
        .unwrap()
        .with("r", big)
        .unwrap();
    overflow(op.apply_into(&z, &mut out));
    let zs = [z.clone(), z.clone()];
    overflow(einplan::repeat_list(&zs, "n a -> n a r", &[("r", big)]).map(drop));
    overflow(einplan::rearrange_list(&zs, "n (a b) -> n a b", &[("a", big)]).map(drop));
    let z2 = ArrayD::<f32>::zeros(IxDyn(&[0, 3]));
    overflow(einplan::reduce(&z2, "(a b) c -> a b", Reduction::Sum, &[("a", big)]).map(drop));
    let zs2 = [z2.clone(), z2.clone()];
    let r = einplan::reduce_list(&zs2, "n (a b) c -> a b", Reduction::Max, &[("a", big)]);
    overflow(r.map(drop));
    let op = einplan::Reduce::new("(a b) c -> a b", Reduction::Sum).unwrap();
    let op = op.with("a", big).unwrap();
    overflow(op.apply_into(&z2, &mut ArrayD::<f32>::zeros(IxDyn(&[0, 0]))));
    let op = einplan::Einsum::new("(a b) -> a b")
        .unwrap()
        .with("a", big)
        .unwrap();
    overflow(op.apply(&[z.view()]).map(drop));
    // Stacking empty arrays whose other lengths are large.
    let wide = ArrayD::<u8>::zeros(IxDyn(&[0, 1 << 62]));
    let ws = [wide.clone(), wide.clone(), wide.clone()];
    overflow(einplan::rearrange_list(&ws, "n a b -> n a b", &[]).map(drop));
    let r = einplan::reduce_list(&ws, "n a b -> a b", Reduction::Sum, &[]);
    overflow(r.map(drop));
}

/// Integer sums and products are exact or an error, never wrapped.
#[test]
fn integer_reductions_refuse_to_wrap() {
    use einplan::{ErrorKind, Reduction};
    let x = ndarray::arr1(&[200u8, 200, 200]);
    let e = einplan::reduce(&x, "a ->", Reduction::Sum, &[]).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::IntegerOverflow {
            operation: "sum",
            element: "u8",
            wider: Some("u16")
        }
    );
    assert!(
        e.to_string().ends_with(
            "the sum overflows `u8`: convert the array to a wider type such as `u16` first"
        ),
        "{e}"
    );
    let x = ndarray::arr2(&[[i64::MAX, 2], [i64::MAX, -1]]);
    let e = einplan::reduce(&x, "a b -> a", Reduction::Prod, &[]).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::IntegerOverflow {
            operation: "product",
            ..
        }
    ));
    // Exact whatever the order: an intermediate past the type is fine when
    // the result fits, and a 0 makes the product 0.
    let x = ndarray::arr1(&[i64::MAX, 1, -1]);
    let y = einplan::reduce(&x, "a ->", Reduction::Sum, &[]).unwrap();
    assert_eq!(y[[]], i64::MAX);
    let x = ndarray::arr1(&[i64::MAX, i64::MAX, 0]);
    let y = einplan::reduce(&x, "a ->", Reduction::Prod, &[]).unwrap();
    assert_eq!(y[[]], 0);
    let x = ndarray::arr1(&[-128i8, -1, -1]);
    assert_eq!(
        einplan::reduce(&x, "a ->", Reduction::Prod, &[]).unwrap()[[]],
        -128
    );
    // The compiled op and apply_into alike.
    let op = einplan::Reduce::new("a b -> a", Reduction::Sum).unwrap();
    let x = ndarray::arr2(&[[i32::MAX, 1], [1, 2]]);
    let mut out = ndarray::Array1::<i32>::zeros(2);
    let e = op.apply_into(&x, &mut out).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::IntegerOverflow { element: "i32", .. }
    ));
    // Pooling-shaped integer sums (the pooling kernel): exact at the
    // type's limits, and an overflow still an error.
    let pool = einplan::Reduce::new("(a k) -> a", Reduction::Sum).unwrap();
    let pool = pool.with("k", 3).unwrap();
    let x = ndarray::arr1(&[i32::MAX, 1, -1, i32::MIN, -1, 1]);
    let y = pool.apply(&x).unwrap();
    assert_eq!(y.iter().copied().collect::<Vec<_>>(), [i32::MAX, i32::MIN]);
    let x = ndarray::arr1(&[i32::MAX, 1, 0, 5, 6, 7]);
    let e = pool.apply(&x).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::IntegerOverflow { element: "i32", .. }
    ));
    // Floats keep their arithmetic.
    let f = ndarray::arr1(&[f32::MAX, f32::MAX]);
    let y = einplan::reduce(&f, "a ->", Reduction::Sum, &[]).unwrap();
    assert!(y[[]].is_infinite());
}
