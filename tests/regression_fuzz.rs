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
