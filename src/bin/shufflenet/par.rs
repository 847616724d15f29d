//! Splitting one layer's work into parts that run on the current rayon
//! pool: column ranges of a matrix product, ranges of channels.
//!
//! Without the `rayon` feature every part runs on the calling thread.

use std::ops::Range;

use ndarray::{ArrayViewMut2, Axis};

/// `f` of every item, in order: computed on the rayon pool the caller is
/// installed in when there are several items, else in place. Outside a
/// pool (the one-thread runner installs none) everything runs in place:
/// rayon's global pool would bring in every core.
///
/// On the pool, the caller and the pool's other threads claim items one
/// at a time. A thread that has not got a core yet (the machine's other
/// cores busy with other work) costs the call nothing, since the caller
/// takes the items it would have; one that is descheduled mid-item holds
/// up only that item. (rayon's parallel iterators split the items in
/// halves instead; this was 3% faster at two threads and batch 1, medians
/// of 200 forward passes each, the two alternating in one process.)
///
/// A helper that runs out of items waits, spinning, until the caller's
/// last item is done (at most [`LINGER`]) before it goes back to the pool.
/// rayon's idle workers go to sleep after some 20 µs without work, and
/// waking one took some 25 µs here (on a 2-core virtual machine), so a
/// helper that finished its part early arrived late for the next layer;
/// the caller, waiting for the helper, slept the same way. Lingering took
/// 2.5–13% off the median forward pass at two threads and batch 1 (five
/// runs of 1500–2000 passes each way, alternating in one process); with
/// the machine's other core busy it cost 1–2%.
pub fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "rayon")]
    if items.len() > 1 && rayon::current_thread_index().is_some() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Mutex, PoisonError};
        let n = items.len();
        let slots: Vec<Mutex<(Option<T>, Option<R>)>> = items
            .into_iter()
            .map(|t| Mutex::new((Some(t), None)))
            .collect();
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let work = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = slots.get(i) else {
                    return;
                };
                // Each index is claimed once: its lock is never contended.
                let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(t) = slot.0.take() {
                    slot.1 = Some(f(t));
                }
                drop(slot);
                done.fetch_add(1, Ordering::Release);
            }
        };
        let all_done = || done.load(Ordering::Acquire) == n;
        rayon::scope(|s| {
            for _ in 1..rayon::current_num_threads().min(n) {
                s.spawn(|_| {
                    work();
                    linger(all_done);
                });
            }
            work();
            linger(all_done);
        });
        // The scope has waited for every claimed item: all are computed.
        return slots
            .into_iter()
            .map(|m| {
                let (_, r) = m.into_inner().unwrap_or_else(PoisonError::into_inner);
                r.expect("every item was claimed and computed")
            })
            .collect();
    }
    items.into_iter().map(f).collect()
}

/// The longest a helper waits for the caller's last item of a layer.
#[cfg(feature = "rayon")]
const LINGER: std::time::Duration = std::time::Duration::from_micros(200);

/// Spins until `finished` or [`LINGER`] has passed.
#[cfg(feature = "rayon")]
fn linger(finished: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !finished() {
        for _ in 0..64 {
            std::hint::spin_loop();
        }
        if start.elapsed() >= LINGER {
            return;
        }
    }
}

/// `0..n` cut into at most `parts` consecutive non-empty ranges whose
/// boundaries are multiples of `align` (except the end), as even as that
/// allows.
pub fn ranges(n: usize, parts: usize, align: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, n.div_ceil(align.max(1)).max(1));
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 1..=parts {
        let end = if i == parts {
            n
        } else {
            // The ideal cut, rounded to the nearest multiple of `align`.
            let ideal = n * i / parts;
            ((ideal + align / 2) / align * align).clamp(start, n)
        };
        if end > start {
            out.push(start..end);
            start = end;
        }
    }
    if out.is_empty() {
        out.push(0..n);
    }
    out
}

/// Disjoint mutable views of the column ranges `cols` (consecutive,
/// starting at 0) of `c`.
pub fn split_columns<'a>(
    mut c: ArrayViewMut2<'a, f32>,
    cols: &[Range<usize>],
) -> Vec<ArrayViewMut2<'a, f32>> {
    let mut out = Vec::with_capacity(cols.len());
    let mut start = 0;
    for r in cols {
        debug_assert_eq!(r.start, start);
        let (left, right) = c.split_at(Axis(1), r.end - start);
        out.push(left);
        c = right;
        start = r.end;
    }
    out
}

/// Disjoint mutable slices of `data` for consecutive ranges of items that
/// are `item_len` long each.
pub fn split_items<'a>(
    mut data: &'a mut [f32],
    items: &[Range<usize>],
    item_len: usize,
) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(items.len());
    for r in items {
        let (left, right) = data.split_at_mut(r.len() * item_len);
        out.push(left);
        data = right;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_once() {
        for n in 0..100 {
            for parts in 1..5 {
                for align in [1, 4, 8, 16] {
                    let r = ranges(n, parts, align);
                    assert!(r.len() <= parts, "n {n} parts {parts} align {align}");
                    assert_eq!(r[0].start, 0);
                    assert_eq!(r.last().unwrap().end, n);
                    for w in r.windows(2) {
                        assert_eq!(w[0].end, w[1].start);
                        assert_eq!(w[0].end % align, 0);
                    }
                    if n > 0 {
                        assert!(r.iter().all(|r| !r.is_empty()));
                    }
                }
            }
        }
        assert_eq!(ranges(784, 2, 16), vec![0..400, 400..784]);
        assert_eq!(ranges(49, 2, 8), vec![0..24, 24..49]);
        assert_eq!(ranges(10, 3, 16), vec![0..10]);
    }

    #[test]
    fn splits_are_the_requested_pieces() {
        let mut m = ndarray::Array2::<f32>::zeros((2, 7));
        let parts = split_columns(m.view_mut(), &[0..3, 3..7]);
        assert_eq!(parts[0].dim(), (2, 3));
        assert_eq!(parts[1].dim(), (2, 4));
        for (k, mut p) in parts.into_iter().enumerate() {
            p.fill(k as f32 + 1.0);
        }
        assert_eq!(m.row(1).to_vec(), [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]);

        let mut data = vec![0.0; 12];
        let parts = split_items(&mut data, &[0..1, 1..3], 4);
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [4, 8]);
    }

    #[cfg(feature = "rayon")]
    #[test]
    fn linger_stops_when_finished_or_after_its_limit() {
        let calls = std::cell::Cell::new(0);
        linger(|| {
            calls.set(calls.get() + 1);
            calls.get() == 3
        });
        assert_eq!(calls.get(), 3);
        let start = std::time::Instant::now();
        linger(|| false);
        assert!(start.elapsed() >= LINGER);
    }

    #[cfg(feature = "rayon")]
    #[test]
    fn map_keeps_the_items_order_on_a_pool() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for n in [0, 1, 2, 3, 17] {
            let items: Vec<usize> = (0..n).collect();
            // Uneven work, so the threads finish out of order.
            let got = pool.install(|| {
                map(items, |i| {
                    let mut x = i as u64;
                    for _ in 0..(i % 3) * 100_000 {
                        x = std::hint::black_box(x.wrapping_mul(3).wrapping_add(1));
                    }
                    (i, x)
                })
            });
            let order: Vec<usize> = got.iter().map(|r| r.0).collect();
            assert_eq!(order, (0..n).collect::<Vec<_>>());
        }
        // Outside a pool every item runs on the calling thread.
        let me = std::thread::current().id();
        assert!(
            map(vec![1, 2, 3], |_| std::thread::current().id())
                .iter()
                .all(|&t| t == me)
        );
    }
}
