//! Random einsums (diagonals, groups, unit and zero lengths) on small
//! tensors in random layouts: einplan equals einsum by its definition.
#![no_main]

use einplan_fuzz::EinsumCase;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(case) = EinsumCase::generate(&mut u) else { return };
    let storages: Vec<_> = case.layouts.iter().map(|l| l.storage().mapv(|v| v % 7 - 3)).collect();
    let views: Vec<_> = case.layouts.iter().zip(&storages).map(|(l, s)| l.view(s)).collect();
    let pattern = case.pattern();
    let op = case
        .lengths()
        .into_iter()
        .try_fold(einplan::Einsum::new(&pattern).unwrap(), |op, (n, l)| op.with(n, l))
        .unwrap();
    let got = op.apply(&views).unwrap_or_else(|e| panic!("{case:?}\n{e}"));
    assert_eq!(got, case.reference(&views), "{case:?}");
});
