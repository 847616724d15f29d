//! Kernel tests small enough for Miri (`cargo +nightly miri test --lib
//! exec::`): views, copies and folds over reversed, stepped, transposed
//! and broadcast layouts, with a heap-owning element type so that Miri
//! also sees every clone and drop.

use ndarray::{ArrayD, Axis, Dimension, IxDyn, Slice};

use super::kernel;

/// A tiny deterministic generator (no dependencies under Miri).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

/// An array of Strings "0", "1", ... and a random strided view of it.
fn strided(rng: &mut Lcg) -> (ArrayD<String>, Vec<usize>, Vec<bool>, Vec<isize>) {
    let nd = 1 + rng.below(3);
    let shape: Vec<usize> = (0..nd).map(|_| 1 + rng.below(4)).collect();
    let n: usize = shape.iter().product();
    let base =
        ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|i| i.to_string()).collect()).unwrap();
    let mut perm: Vec<usize> = (0..nd).collect();
    for i in (1..nd).rev() {
        perm.swap(i, rng.below(i + 1));
    }
    let flips = (0..nd).map(|_| rng.below(2) == 1).collect();
    let steps = (0..nd).map(|_| 1 + rng.below(2) as isize).collect();
    (base, perm, flips, steps)
}

fn apply<'a>(
    base: &'a ArrayD<String>,
    perm: &[usize],
    flips: &[bool],
    steps: &[isize],
) -> ndarray::ArrayViewD<'a, String> {
    let mut v = base.view().permuted_axes(IxDyn(perm));
    for (d, (&flip, &step)) in flips.iter().zip(steps).enumerate() {
        v.slice_axis_inplace(Axis(d), Slice::new(0, None, step));
        if flip {
            v.invert_axis(Axis(d));
        }
    }
    v
}

#[test]
fn copy_equals_iteration() {
    let mut rng = Lcg(7);
    for _ in 0..40 {
        let (base, perm, flips, steps) = strided(&mut rng);
        let v = apply(&base, &perm, &flips, &steps);
        let mut out = Vec::new();
        kernel::copy(&v, &mut out);
        assert_eq!(out, v.iter().cloned().collect::<Vec<_>>());
    }
}

#[test]
fn view_rebuilds_the_same_elements() {
    let mut rng = Lcg(11);
    for _ in 0..40 {
        let (base, perm, flips, steps) = strided(&mut rng);
        let v = apply(&base, &perm, &flips, &steps);
        if v.is_empty() {
            continue;
        }
        // The same view, rebuilt from its own shape and strides, plus a
        // broadcast axis of stride 0.
        let mut shape = v.shape().to_vec();
        let mut strides = v.strides().to_vec();
        shape.push(3);
        strides.push(0);
        let w = kernel::view(&v, &shape, &strides);
        for (i, e) in v.indexed_iter() {
            let mut at = i.as_array_view().to_vec();
            at.push(2);
            assert_eq!(&w[IxDyn(&at)], e);
        }
    }
}

#[test]
#[should_panic(expected = "outside its input")]
fn view_refuses_to_reach_outside() {
    let base = ArrayD::from_elem(IxDyn(&[4]), String::from("x"));
    let v = base.view();
    let _ = kernel::view(&v, &[5], &[1]);
}

#[test]
fn fold_equals_iteration() {
    let mut rng = Lcg(13);
    for _ in 0..40 {
        let (base, perm, flips, steps) = strided(&mut rng);
        let v = apply(&base, &perm, &flips, &steps);
        // Reduce the last axis: out index = row-major over the others.
        let nd = v.ndim();
        let lens = v.shape();
        let mut out_strides = vec![0isize; nd];
        let mut s = 1isize;
        for d in (0..nd - 1).rev() {
            out_strides[d] = s;
            s *= lens[d] as isize;
        }
        let n_out: usize = lens[..nd - 1].iter().product();
        let mut acc = vec![String::new(); n_out];
        kernel::fold(&v, &out_strides, &mut acc, |a, e| {
            a.push_str(e);
            a.push(',');
        });
        let mut want = vec![String::new(); n_out];
        for (i, e) in v.indexed_iter() {
            let o: usize = (0..nd - 1).map(|d| i[d] * out_strides[d] as usize).sum();
            want[o].push_str(e);
            want[o].push(',');
        }
        // The fold may visit the reduced axis in memory order: compare as
        // multisets of items per output.
        for (a, w) in acc.iter().zip(&want) {
            let mut a: Vec<&str> = a.split(',').collect();
            let mut w: Vec<&str> = w.split(',').collect();
            a.sort_unstable();
            w.sort_unstable();
            assert_eq!(a, w);
        }
    }
}
