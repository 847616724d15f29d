//! Each layout operation against brute force: the offsets of every index,
//! enumerated one by one.

use proptest::prelude::*;

use super::*;

/// The offset of every index of `l`, in row-major order.
fn offsets(l: &Layout) -> Vec<isize> {
    let total: usize = l.shape.iter().product();
    (0..total)
        .map(|mut n| {
            let mut off = l.offset;
            for (&len, &s) in l.shape.iter().zip(&l.strides).rev() {
                off += (n % len) as isize * s;
                n /= len;
            }
            off
        })
        .collect()
}

/// Small shapes with strides of any sign (zero included) and an offset.
fn layout() -> impl Strategy<Value = Layout> {
    prop::collection::vec((1usize..5, -7isize..8), 0..5).prop_flat_map(|axes| {
        (Just(axes), -20isize..20).prop_map(|(axes, offset)| Layout {
            shape: axes.iter().map(|a| a.0).collect(),
            strides: axes.iter().map(|a| a.1).collect(),
            offset,
        })
    })
}

/// The standard (row-major) layout of `shape`.
fn standard(shape: &[usize]) -> Layout {
    Layout::new(shape, &standard_strides(shape))
}

fn divisors(n: usize) -> Vec<usize> {
    (1..=n).filter(|d| n.is_multiple_of(*d)).collect()
}

#[test]
fn standard_strides_are_row_major() {
    assert_eq!(standard_strides(&[2, 3, 4]).as_slice(), &[12, 4, 1]);
    assert_eq!(standard_strides(&[]).as_slice(), &[] as &[isize]);
    let l = standard(&[2, 3, 4]);
    assert_eq!(offsets(&l), (0..24).collect::<Vec<_>>());
}

#[test]
fn checked_size_refuses_what_ndarray_cannot_hold() {
    assert_eq!(checked_size(&[2, 3]), Some(6));
    assert_eq!(checked_size(&[]), Some(1));
    assert_eq!(checked_size(&[0, 5]), Some(0));
    // Empty, but the other lengths overflow: ndarray refuses the shape.
    assert_eq!(checked_size(&[0, usize::MAX, 2]), None);
    assert_eq!(checked_size(&[0, usize::MAX]), None);
    assert_eq!(
        checked_size(&[isize::MAX as usize]),
        Some(isize::MAX as usize)
    );
    assert_eq!(checked_size(&[isize::MAX as usize + 1]), None);
    assert_eq!(checked_size_of([0, usize::MAX, 2]), None);
    assert_eq!(checked_size_of([3, 0]), Some(0));
}

#[test]
fn split_multipliers_are_products_of_the_inner_lengths() {
    assert_eq!(split_multipliers(&[2, 3, 4]).as_slice(), &[12, 4, 1]);
    assert_eq!(split_multipliers(&[5]).as_slice(), &[1]);
    let rev: Vec<usize> = split_multipliers_rev([2, 3, 4].into_iter()).collect();
    assert_eq!(rev, [1, 4, 12]);
}

#[test]
fn read_refuses_steps_past_a_dimension() {
    // Two axes along one dimension of 4: 2 × 2 reaches index 3, fine.
    let ok = read(
        &Layout::new(&[4], &[1]),
        &[Step::along(2, 0, 2), Step::along(2, 0, 1)],
    );
    assert_eq!(ok.unwrap().strides.as_slice(), &[2, 1]);
    // 2 × 3 reaches index 1·2 + 2 = 4: past the end.
    assert!(
        read(
            &Layout::new(&[4], &[1]),
            &[Step::along(2, 0, 2), Step::along(3, 0, 1)]
        )
        .is_none()
    );
    // A dimension the input does not have.
    assert!(read(&Layout::new(&[4], &[1]), &[Step::along(2, 1, 1)]).is_none());
    // A diagonal: one axis along two dimensions adds their strides.
    let diag = Step {
        len: 3,
        sources: smallvec![(0, 1), (1, 1)],
    };
    assert_eq!(
        read(&Layout::new(&[3, 3], &[3, 1]), &[diag])
            .unwrap()
            .strides
            .as_slice(),
        &[4]
    );
    // A broadcast axis and an axis of length 1 have stride 0.
    let l = read(
        &Layout::new(&[3], &[5]),
        &[Step::broadcast(4), Step::along(1, 0, 7)],
    )
    .unwrap();
    assert_eq!(l.strides.as_slice(), &[0, 0]);
}

#[test]
fn nest_sorts_reverses_and_coalesces() {
    // A transposed 2 × 3 copy into a standard output, one axis reversed.
    let nest = Nest::new(&[3, 2, 1], &[1, 3, 99], &[-2, 1, 0]);
    assert_eq!(
        nest.loops.as_slice(),
        &[
            Loop {
                len: 3,
                src: -1,
                dst: 2
            },
            Loop {
                len: 2,
                src: 3,
                dst: 1
            }
        ]
    );
    assert_eq!((nest.src_shift, nest.dst_shift), (2, -4));
    // A contiguous copy becomes one loop.
    let nest = Nest::new(&[2, 3, 4], &[12, 4, 1], &[12, 4, 1]);
    assert_eq!(
        nest.loops.as_slice(),
        &[Loop {
            len: 24,
            src: 1,
            dst: 1
        }]
    );
}

proptest! {
    #[test]
    fn split_keeps_every_offset(l in layout(), axis in 0usize..5, pick in 0usize..16) {
        prop_assume!(axis < l.shape.len());
        let len = l.shape[axis];
        let ds = divisors(len);
        let inner = ds[pick % ds.len()];
        let split = l.split(axis, &[len / inner, inner]).unwrap();
        prop_assert_eq!(offsets(&split), offsets(&l));
        prop_assert!(l.split(axis, &[len + 1]).is_none());
    }

    #[test]
    fn a_standard_layout_splits_into_the_standard_layout_of_its_axes(
        shape in prop::collection::vec(1usize..13, 0..5),
        picks in prop::collection::vec(0usize..16, 5),
    ) {
        let mut lens = Vec::new();
        let mut split = standard(&shape);
        for (axis, (&len, &p)) in shape.iter().zip(&picks).enumerate().rev() {
            let ds = divisors(len);
            let inner = ds[p % ds.len()];
            split = split.split(axis, &[len / inner, inner]).unwrap();
            lens.splice(0..0, [len / inner, inner]);
        }
        prop_assert_eq!(standard(&lens), split);
    }

    #[test]
    fn split_into_covers_the_dimensions(l in layout(), picks in prop::collection::vec(0usize..16, 5)) {
        let mut lens = Vec::new();
        for (&len, &p) in l.shape.iter().zip(&picks) {
            let ds = divisors(len);
            let inner = ds[p % ds.len()];
            lens.push(len / inner);
            lens.push(inner);
        }
        let split = l.split_into(&lens).unwrap();
        prop_assert_eq!(offsets(&split), offsets(&l));
        lens.push(2);
        prop_assert!(l.split_into(&lens).is_none());
    }

    #[test]
    fn insert_broadcast_repeats_every_offset(l in layout(), at in 0usize..6, len in 1usize..4) {
        prop_assume!(at <= l.shape.len());
        let b = l.insert_broadcast(at, len);
        let inner: usize = l.shape[at..].iter().product();
        let outer: usize = l.shape[..at].iter().product();
        let base = offsets(&l);
        let mut want = Vec::new();
        for o in 0..outer {
            for _ in 0..len {
                want.extend_from_slice(&base[o * inner..(o + 1) * inner]);
            }
        }
        prop_assert_eq!(offsets(&b), want);
    }

    /// A merge is free exactly when each group's offsets, in row-major
    /// order, step by one constant stride.
    #[test]
    fn merge_is_free_exactly_for_arithmetic_groups(l in layout(), cuts in prop::collection::vec(any::<bool>(), 5)) {
        let n = l.shape.len();
        let mut groups = Vec::new();
        let mut start = 0;
        for (k, &cut) in cuts.iter().enumerate().take(n) {
            if k + 1 == n || cut {
                groups.push((start, k + 1));
                start = k + 1;
            }
        }
        let arithmetic = groups.iter().all(|&(s, e)| {
            let sub = Layout { shape: l.shape[s..e].into(), strides: l.strides[s..e].into(), offset: 0 };
            let offs = offsets(&sub);
            offs.windows(2).all(|w| w[1] - w[0] == offs[1] - offs[0])
        });
        match l.merge(&groups) {
            Some(m) => {
                prop_assert!(arithmetic);
                prop_assert_eq!(offsets(&m), offsets(&l));
            }
            None => prop_assert!(!arithmetic),
        }
    }

    #[test]
    fn coalesce_visits_the_same_offsets(
        axes in prop::collection::vec((1usize..4, -6isize..7, -6isize..7), 0..5),
    ) {
        let mut loops: SmallVec<[Loop; 8]> =
            axes.iter().map(|&(len, src, dst)| Loop { len, src, dst }).collect();
        let pairs = |loops: &[Loop]| {
            let src = Layout {
                shape: loops.iter().map(|l| l.len).collect(),
                strides: loops.iter().map(|l| l.src).collect(),
                offset: 0,
            };
            let dst = Layout { strides: loops.iter().map(|l| l.dst).collect(), ..src.clone() };
            offsets(&src).into_iter().zip(offsets(&dst)).collect::<Vec<_>>()
        };
        let before = pairs(&loops);
        coalesce(&mut loops);
        prop_assert_eq!(pairs(&loops), before);
    }

    #[test]
    fn extent_and_unsigned_agree_with_the_offsets(l in layout()) {
        let offs = offsets(&l);
        let (lo, hi) = l.extent().unwrap();
        prop_assert_eq!(lo, *offs.iter().min().unwrap());
        prop_assert_eq!(hi, *offs.iter().max().unwrap());
        let (u, flipped) = l.unsigned().unwrap();
        prop_assert!(u.strides.iter().all(|&s| s >= 0));
        prop_assert_eq!(u.offset, lo);
        // Reversing the flipped axes of `u` gives back `l`'s offsets.
        let mut back = u.clone();
        for &k in &flipped {
            back.offset += (back.shape[k] - 1) as isize * back.strides[k];
            back.strides[k] = -back.strides[k];
        }
        prop_assert_eq!(offsets(&back), offs);
    }

    /// `read` accepts exactly the steps whose every index is an in-bounds
    /// input index, and then each view offset is that element's offset.
    #[test]
    fn read_proves_every_index_in_bounds(
        shape in prop::collection::vec(1usize..5, 1..4),
        raw in prop::collection::vec((1usize..4, prop::collection::vec((0usize..4, 0usize..4), 0..3)), 0..4),
    ) {
        let input = standard(&shape);
        let steps: Vec<Step> = raw.iter().map(|(len, src)| Step { len: *len, sources: src.iter().copied().collect() }).collect();
        let lens: Vec<usize> = steps.iter().map(|s| s.len).collect();
        let total: usize = lens.iter().product();
        // Brute force: every index's input index, if in bounds.
        let mut all_in = true;
        let mut want = Vec::new();
        for mut n in 0..total {
            let mut at = vec![0usize; shape.len()];
            let mut ok = true;
            for (step, &len) in steps.iter().zip(&lens).rev() {
                let i = n % len;
                n /= len;
                for &(d, m) in &step.sources {
                    if len > 1 {
                        match at.get_mut(d) {
                            Some(a) => *a += i * m,
                            None => ok = false,
                        }
                    }
                }
            }
            ok &= at.iter().zip(&shape).all(|(a, s)| a < s);
            all_in &= ok;
            want.push(at.iter().zip(&input.strides).map(|(&a, &s)| a as isize * s).sum::<isize>());
        }
        match read(&input, &steps) {
            Some(v) => {
                prop_assert!(all_in);
                prop_assert_eq!(offsets(&v), want);
            }
            // The check is per axis, a bound on the sum of the maxima, so it
            // refuses exactly the cases where the last index is out.
            None => prop_assert!(!all_in),
        }
    }
}
