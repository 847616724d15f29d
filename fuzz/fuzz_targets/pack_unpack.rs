//! Any text as a pack pattern, on a list of small tensors: pack agrees
//! with the oracle, unpack of the result gives the inputs back, and unpack
//! with arbitrary packed shapes agrees with the oracle.
#![no_main]

use einplan_fuzz::oracle::{self, compare};
use einplan_fuzz::{Layout, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let pattern = if u.ratio(1, 2).unwrap_or(false) {
        let Ok(p) = u.arbitrary::<String>() else {
            return;
        };
        p
    } else {
        let words = ["a", "b", "*", "*", "c", "...", "_", "(a)", "1", "->"];
        let n = u.int_in_range(0..=4).unwrap_or(0);
        let chosen: Vec<&str> = (0..n).map(|_| *u.choose(&words).unwrap_or(&"*")).collect();
        chosen.join(" ")
    };
    let mut layouts = Vec::new();
    for _ in 0..u.int_in_range(0..=3).unwrap_or(0) {
        let nd = u.int_in_range(0..=4).unwrap_or(0);
        let shape = (0..nd)
            .map(|_| u.int_in_range(0..=3).unwrap_or(0))
            .collect();
        let Ok(l) = Layout::generate(&mut u, shape) else {
            return;
        };
        layouts.push(l);
    }
    let storages: Vec<_> = layouts.iter().map(|l| l.storage(|i| i as i32)).collect();
    let bases: Vec<_> = layouts
        .iter()
        .zip(&storages)
        .map(|(l, s)| l.view(s))
        .collect();
    let views: Vec<_> = layouts
        .iter()
        .zip(&bases)
        .map(|(l, b)| l.broadcast(b))
        .collect();
    let tensors: Vec<_> = views.iter().map(compare::tensor).collect();
    let case = (&pattern, &layouts);

    let slow = oracle::pack(&tensors, &pattern);
    let fast = einplan::pack(&views, &pattern);
    check(
        &case,
        "pack",
        compare::verdict(&fast, &slow, |(a, sa), (b, sb)| {
            compare::same_values(a, b) && sa == sb
        }),
    );
    if let Ok((packed, shapes)) = &fast {
        let parts = einplan::unpack(packed, shapes, &pattern).expect("unpack undoes pack");
        assert!(parts.iter().zip(&views).all(|(p, v)| p == v), "{case:?}");
    }

    let nd = u.int_in_range(0..=3).unwrap_or(0);
    let shape: Vec<usize> = (0..nd)
        .map(|_| u.int_in_range(0..=6).unwrap_or(0))
        .collect();
    let Ok(x) = Layout::generate(&mut u, shape) else {
        return;
    };
    let storage = x.storage(|i| i as i32);
    let xbase = x.view(&storage);
    let xv = x.broadcast(&xbase);
    let shapes: Vec<Vec<usize>> = (0..u.int_in_range(0..=3).unwrap_or(0))
        .map(|_| {
            (0..u.int_in_range(0..=2).unwrap_or(0))
                .map(|_| u.int_in_range(0..=4).unwrap_or(0))
                .collect()
        })
        .collect();
    let signed: Vec<Vec<i64>> = shapes
        .iter()
        .map(|s| s.iter().map(|&n| n as i64).collect())
        .collect();
    let slow = oracle::unpack(&compare::tensor(&xv), &signed, &pattern);
    let fast = einplan::unpack(&xv, &shapes, &pattern);
    check(
        &(&case, &x, &shapes),
        "unpack",
        compare::verdict(&fast, &slow, |a, b| {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| compare::same_values(a, b))
        }),
    );
});
