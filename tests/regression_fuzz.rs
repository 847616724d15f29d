//! Inputs found by fuzzing, kept as named tests.

/// `fuzz/artifacts/rearrange_vs_reference/crash-3d5189c1…`: a repeat of a
/// 0-d array onto a huge anonymous axis. einplan answers with a broadcast
/// view (stride 0, nothing allocated); the fuzz harness's reference
/// executor tried to materialise 71 GB. The harness now compares only
/// results of a sane size; this test pins the library's side.
#[test]
fn huge_anonymous_repeat_is_a_broadcast_view() {
    let x = ndarray::arr0(7i64);
    let y = einplan::repeat(&x, "-> 8888885888", &[]).unwrap();
    assert!(y.is_view());
    assert_eq!(y.shape(), &[8_888_885_888]);
    assert_eq!(y.strides(), &[0]);
    assert_eq!(y[[8_888_885_887]], 7);
}

/// `einsum_vs_reference`: an einsum of one 0-d operand, `" -> "`. einplan
/// returned the operand; the harness's reference summed over an axis no
/// operand had (of length 0) and got 0. The reference now ignores such
/// axes; this test pins the library's side.
#[test]
fn einsum_of_a_scalar_is_the_scalar() {
    let x = ndarray::arr0(-3i64).into_dyn();
    let y = einplan::einsum(" -> ", &[x.view()]).unwrap();
    assert_eq!(y.shape(), &[] as &[usize]);
    assert_eq!(y[[]], -3);
}

/// `einsum_text`, against the independent oracle: `_` is an ordinary axis
/// name in einops' einsum, but einplan rejected it as parse_shape's
/// "skip" (first found as `"β AB AB ry0 _,k3 y_2 AB2,k2 A->"`).
#[test]
fn einsum_takes_underscore_as_an_axis_name() {
    let x = ndarray::arr2(&[[1i64, 2], [3, 4]]).into_dyn();
    let y = einplan::einsum("_ b -> b _", &[x.view()]).unwrap();
    assert_eq!(y, ndarray::arr2(&[[1, 3], [2, 4]]).into_dyn());
    let trace = einplan::einsum("_ _ ->", &[x.view()]).unwrap();
    assert_eq!(trace[[]], 5);
}

/// `einsum_text`: an output `...` when no operand has one stands for no
/// axes in einops (numpy); einplan rejected it as a one-sided ellipsis.
#[test]
fn einsum_output_ellipsis_without_operand_ellipsis() {
    let x = ndarray::arr2(&[[1i64, 2], [3, 4]]).into_dyn();
    let y = einplan::einsum("a b -> ...", &[x.view()]).unwrap();
    assert_eq!((y.ndim(), y[[]]), (0, 10));
    let z = einplan::einsum("a b -> (... a)", &[x.view()]).unwrap();
    assert_eq!(z, ndarray::arr1(&[3, 7]).into_dyn());
}

/// `compile`: `(b a) -> (b a)` with `b = 0`, `a = usize::MAX` on an empty
/// input. The result has shape `[0]`, but the input's axes split out,
/// `[0, usize::MAX]`, are a shape no array can have; einops' reshape into
/// them fails, and einplan accepted. The planner now refuses it.
#[test]
fn empty_split_into_an_unrepresentable_shape_is_an_error() {
    let x = ndarray::Array1::<f32>::zeros(0);
    let lengths = [("b", 0), ("a", usize::MAX)];
    let e = einplan::rearrange(&x, "(b a) -> (b a)", &lengths).unwrap_err();
    assert_eq!(e.kind(), &einplan::ErrorKind::Overflow);
    assert_eq!(&e.pattern()[e.span()], "(b a)");
    let r = einplan::repeat(
        &x,
        "(b a) -> (b a) r",
        &[("b", 0), ("a", 1), ("r", isize::MAX as usize)],
    );
    assert!(
        r.is_ok(),
        "a zero-length result beside one huge new axis is representable"
    );
}

/// `einsum_vs_oracle`: `(a c b) ->` with `a = 4`, `c = 2^61`, `b = 0` on an
/// empty operand: its split `[4, 2^61, 0]` is no array's shape (the
/// non-zero lengths multiply past `isize::MAX`); einplan summed it to 0.
#[test]
fn einsum_of_an_unrepresentable_split_is_an_error() {
    let x = ndarray::Array1::<i64>::zeros(0).into_dyn();
    let e = einplan::Einsum::new("(a c b) ->")
        .and_then(|op| op.with("a", 4))
        .and_then(|op| op.with("c", 1 << 61))
        .and_then(|op| op.apply(&[x.view()]))
        .unwrap_err();
    assert_eq!(e.kind(), &einplan::ErrorKind::Overflow);
}

/// `einsum_vs_oracle`: an `i64` sum whose running total leaves `i64`
/// though the result fits (`[i64::MAX, 1, -1]`) was refused as an
/// overflow; integer einsums now run exactly in `i128` and refuse only a
/// result that does not fit.
#[test]
fn einsum_integer_sums_depend_on_the_result_not_the_order() {
    let x = ndarray::arr1(&[i64::MAX, 1, -1]).into_dyn();
    let y = einplan::einsum("a ->", &[x.view()]).unwrap();
    assert_eq!(y[[]], i64::MAX);
    let z = ndarray::arr1(&[i64::MAX, 1]).into_dyn();
    let e = einplan::einsum("a ->", &[z.view()]).unwrap_err();
    assert!(matches!(
        e.kind(),
        einplan::ErrorKind::IntegerOverflow { .. }
    ));
}

/// `einsum_vs_oracle` (`crash-769cefad…`): `"a, ,  -> "` on i64 with
/// `a = [MAX, MIN + 1]` and both scalars `MAX`. Each product
/// `a[i] * MAX * MAX` is beyond `i128`, but the terms cancel: the exact
/// answer is 0, and einplan gives it. The oracle, also exact only in
/// `i128`, rejected it; it now leaves such sums undecided.
#[test]
fn einsum_terms_beyond_i128_that_cancel() {
    let a = ndarray::arr1(&[i64::MAX, i64::MIN + 1]).into_dyn();
    let s = ndarray::arr0(i64::MAX).into_dyn();
    let y = einplan::einsum("a, ,  -> ", &[a.view(), s.view(), s.view()]).unwrap();
    assert_eq!(y[[]], 0);
    // Without the cancellation the result does not fit: an error.
    let b = ndarray::arr1(&[i64::MAX, 1]).into_dyn();
    let e = einplan::einsum("a, ,  -> ", &[b.view(), s.view(), s.view()]).unwrap_err();
    assert!(
        matches!(e.kind(), einplan::ErrorKind::IntegerOverflow { .. }),
        "{e}"
    );
}

/// `einsum_vs_oracle` (`crash-53832e79…`): `"(b a), a a ->"` on i64 with
/// `b = 4`, `a = 2`, every `x` at `MAX` (a broadcast view) and `y`'s
/// diagonal `[MAX, -MAX]`. The exact answer is 0, and the oracle's order
/// of sums stays inside `i128`; einplan sums `x` over `b` first, and
/// `4 · MAX · MAX` passes `i128`, so it refuses (the limit its checked
/// arithmetic documents). The oracle now leaves integer einsums
/// undecided where the product of the operands' absolute sums passes
/// `i128`, since some order may overflow there.
#[test]
fn einsum_intermediates_past_i128_are_refused() {
    let x = ndarray::Array1::from_elem(8, i64::MAX).into_dyn();
    let y = ndarray::arr2(&[[i64::MAX, -i64::MAX], [i64::MAX, -i64::MAX]]).into_dyn();
    let e = einplan::Einsum::new("(b a), a a ->")
        .and_then(|op| op.with("a", 2))
        .and_then(|op| op.apply(&[x.view(), y.view()]))
        .unwrap_err();
    assert!(matches!(
        e.kind(),
        einplan::ErrorKind::IntegerOverflow { .. }
    ));
    // Halve the lengths' product and the same terms fit: exactly 0.
    let x = ndarray::Array1::from_elem(2, i64::MAX).into_dyn();
    let y = einplan::Einsum::new("(b a), a a ->")
        .and_then(|op| op.with("a", 2))
        .and_then(|op| op.apply(&[x.view(), y.view()]))
        .unwrap();
    assert_eq!(y[[]], 0);
}
