//! Small tensors in random layouts: every reduction agrees with the
//! element-by-element reference executor, results and errors alike.
#![no_main]

use einplan::__private::reference_reduce;
use einplan::Reduction;
use einplan_fuzz::Case;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let raw = u.ratio(1, 4).unwrap_or(false);
    let Ok(case) = (if raw {
        Case::raw(&mut u)
    } else {
        Case::generate(&mut u, true)
    }) else {
        return;
    };
    let storage = case.storage();
    let x = case.view(&storage);
    let lengths = case.lengths();
    for r in [
        Reduction::Sum,
        Reduction::Prod,
        Reduction::Min,
        Reduction::Max,
    ] {
        let fast = einplan::reduce(&x, &case.pattern, r, &lengths);
        let slow = reference_reduce(&x, &case.pattern, r, &lengths);
        match (fast, slow) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{case:?} {r:?}"),
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("{case:?} {r:?}: {:?} vs {:?}", a.map(|_| ()), b.map(|_| ())),
        }
    }
});
