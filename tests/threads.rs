//! One compiled op shared by many threads, each with its own shapes: the
//! plan cache under contention must hand every thread the right plan.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

#[test]
fn one_rearrange_many_threads_many_shapes() {
    let op = Arc::new(
        einplan::Rearrange::new("b (c1 c2) h -> b (c2 c1) h")
            .unwrap()
            .with("c1", 2)
            .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let op = Arc::clone(&op);
            std::thread::spawn(move || {
                for i in 0..200usize {
                    // Shapes vary per thread and iteration, more than the
                    // cache holds, so plans are evicted and re-made.
                    let shape = [1 + (t + i) % 3, 2 * (1 + i % 40), 1 + t % 2];
                    let n: usize = shape.iter().product();
                    let x = ArrayD::from_shape_vec(IxDyn(&shape), (0..n as i64).collect()).unwrap();
                    let y = op.apply(&x).unwrap();
                    let want = einplan::__private::reference_rearrange(
                        &x,
                        "b (c1 c2) h -> b (c2 c1) h",
                        &[("c1", 2)],
                    )
                    .unwrap();
                    assert_eq!(y.view(), want.view(), "thread {t} shape {shape:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn compiled_ops_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<einplan::Rearrange>();
    check::<einplan::Reduce>();
    check::<einplan::Repeat>();
    check::<einplan::Plan>();
    check::<einplan::Error>();
}
