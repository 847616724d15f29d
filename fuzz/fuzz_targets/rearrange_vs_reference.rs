//! Small tensors in random layouts: rearrange and repeat agree with the
//! element-by-element reference executor, results and errors alike.
#![no_main]

use einplan::__private::{reference_rearrange, reference_repeat};
use einplan_fuzz::Case;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let raw = u.ratio(1, 4).unwrap_or(false);
    let Ok(case) = (if raw {
        Case::raw(&mut u)
    } else {
        Case::generate(&mut u, false)
    }) else {
        return;
    };
    let storage = case.storage();
    let x = case.view(&storage);
    let lengths = case.lengths();
    match (
        einplan::rearrange(&x, &case.pattern, &lengths),
        reference_rearrange(&x, &case.pattern, &lengths),
    ) {
        (Ok(fast), Ok(slow)) => assert_eq!(fast.view(), slow.view(), "{case:?}"),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("{case:?}: {:?} vs {:?}", a.map(|_| ()), b.map(|_| ())),
    }
    // The reference materialises its result; a repeat may legally return
    // a huge broadcast view, so compare only results of a sane size.
    if let Ok(fast) = einplan::repeat(&x, &case.pattern, &lengths) {
        if fast.len() <= 1 << 16 {
            let slow = reference_repeat(&x, &case.pattern, &lengths).unwrap();
            assert_eq!(fast.view(), slow.view(), "{case:?}");
        }
    }
});
