//! rearrange, repeat and rearrange_list on small tensors in random layouts
//! (permuted, reversed, stepped, broadcast), with extreme lengths beside
//! zero-length axes: results and accept/reject agree with the oracle.
#![no_main]

use einplan_fuzz::oracle::{self, compare};
use einplan_fuzz::{Case, Values, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let add = u.ratio(1, 2).unwrap_or(false);
    let Ok(case) = Case::any(&mut u, false, add) else {
        return;
    };
    let values = u.arbitrary::<Values>().unwrap_or(Values::Small);
    let storage = case.layout.storage(values.u8());
    let base = case.layout.view(&storage);
    let x = case.layout.broadcast(&base);
    let t = compare::tensor(&x);
    let lengths = case.lengths();
    let p = &case.pattern;

    let slow = oracle::rearrange(&t, p, &lengths);
    if !(compare::skip(&slow) || compare::would_fill_memory::<u8, _>(&slow)) {
        let fast = einplan::rearrange(&x, p, &lengths);
        check(
            &case,
            "rearrange",
            compare::verdict(&fast, &slow, |a, b| compare::same_values(a, b)),
        );
    }
    let slow = oracle::repeat(&t, p, &lengths);
    if !(compare::skip(&slow) || compare::would_fill_memory::<u8, _>(&slow)) {
        let fast = einplan::repeat(&x, p, &lengths);
        check(
            &case,
            "repeat",
            compare::verdict(&fast, &slow, |a, b| compare::same_values(a, b)),
        );
    }
    let list = [x.clone(), x.clone()];
    let slow = oracle::rearrange_list(&[t.clone(), t], p, &lengths);
    if !(compare::skip(&slow) || compare::would_fill_memory::<u8, _>(&slow)) {
        let fast = einplan::rearrange_list(&list, p, &lengths);
        check(
            &case,
            "rearrange_list",
            compare::verdict(&fast, &slow, |a, b| compare::same_values(a, b)),
        );
    }
});
