//! A resolved pattern plus its per-shape plan cache; the engine behind the
//! compiled ops and the free functions.

use rustc_hash::FxHashMap as HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use crate::args::Lengths;
use crate::error::Error;
use crate::ir::{Ir, Op};
use crate::layout::same;
use crate::parse::parse_pattern_borrowed;
use crate::plan::{Plan, plan};
use crate::resolve::{resolve, set_length};

/// How many plans a compiled op keeps (one per input shape), and how many
/// schedules an einsum keeps (one per set of operand shapes).
pub(crate) const PLAN_CACHE: usize = 64;

/// How many compiled patterns the free functions keep, per cache.
const PATTERN_CACHE: usize = 256;

#[derive(Debug)]
pub(crate) struct Compiled {
    ir: Ir,
    plans: ShapeCache<Plan>,
}

/// Values made per input shape (a compiled op's plans, an einsum's
/// schedules), at most [`PLAN_CACHE`] of them: the one used last, checked
/// first (a loop over same-shape inputs never hashes), and the others by
/// shape. When full, the cache starts over; a workload with this many live
/// shapes re-plans.
#[derive(Debug)]
pub(crate) struct ShapeCache<V> {
    inner: Mutex<Shapes<V>>,
}

/// A shape as a cache key. (A `Vec`, not an inline `SmallVec`: the hit
/// on the shape used last, the per-call cost of a compiled op, compares
/// against it, and a `Vec` is one branch cheaper to read.)
type Key = Vec<usize>;

#[derive(Debug)]
struct Shapes<V> {
    /// The shape used last and its value; never also in `others`.
    last: Option<(Key, Arc<V>)>,
    others: HashMap<Key, Arc<V>>,
}

impl<V> Default for ShapeCache<V> {
    fn default() -> Self {
        ShapeCache {
            inner: Mutex::new(Shapes {
                last: None,
                others: HashMap::default(),
            }),
        }
    }
}

impl<V> Shapes<V> {
    /// Makes `(key, value)` the entry used last, keeping the one before
    /// it among the others (or starting over when they are full).
    fn touch(&mut self, key: Key, value: Arc<V>) {
        if let Some((k, v)) = self.last.replace((key, value)) {
            if self.others.len() + 1 >= PLAN_CACHE {
                self.others.clear();
            }
            self.others.insert(k, v);
        }
    }
}

impl<V> ShapeCache<V> {
    /// The value for `key`, from the cache or made by `make`.
    pub(crate) fn get(
        &self,
        key: &[usize],
        make: impl FnOnce() -> Result<V, Error>,
    ) -> Result<Arc<V>, Error> {
        self.get_arc(key, || make().map(Arc::new))
    }

    /// [`get`](ShapeCache::get), for a `make` that returns the value in its
    /// `Arc` (a large value built in place rather than moved there).
    pub(crate) fn get_arc(
        &self,
        key: &[usize],
        make: impl FnOnce() -> Result<Arc<V>, Error>,
    ) -> Result<Arc<V>, Error> {
        {
            let mut shapes = lock(&self.inner);
            if let Some((_, v)) = shapes.last.as_ref().filter(|(k, _)| same(k, key)) {
                return Ok(Arc::clone(v));
            }
            // (An empty map is not hashed into: a fresh op plans its first
            // shape.)
            if !shapes.others.is_empty()
                && let Some((k, v)) = shapes.others.remove_entry(key)
            {
                shapes.touch(k, Arc::clone(&v));
                return Ok(v);
            }
        }
        self.make_and_keep(key, make)
    }

    /// The miss path of [`get_arc`](ShapeCache::get_arc), kept out of line
    /// so that a hit does not pay for the stack frame of `make` (planning
    /// builds a large value).
    #[cold]
    #[inline(never)]
    fn make_and_keep(
        &self,
        key: &[usize],
        make: impl FnOnce() -> Result<Arc<V>, Error>,
    ) -> Result<Arc<V>, Error> {
        // Make it outside the lock: planning is pure, so two threads racing
        // on one shape both get a correct value and one of them is kept.
        let fresh = make()?;
        let mut shapes = lock(&self.inner);
        if let Some((k, _)) = &shapes.last
            && same(k, key)
        {
            // Another thread made it meanwhile; keep theirs.
            return Ok(fresh);
        }
        if !shapes.others.is_empty() {
            shapes.others.remove(key);
        }
        shapes.touch(key.to_vec(), Arc::clone(&fresh));
        Ok(fresh)
    }
}

impl Clone for Compiled {
    fn clone(&self) -> Self {
        Compiled::from_ir(self.ir.clone())
    }
}

impl Compiled {
    fn from_ir(ir: Ir) -> Compiled {
        Compiled {
            ir,
            plans: ShapeCache::default(),
        }
    }

    pub(crate) fn new(pattern: &str, op: Op) -> Result<Compiled, Error> {
        let ast = parse_pattern_borrowed(pattern)?;
        Ok(Compiled::from_ir(resolve(pattern, &ast, op)?))
    }

    pub(crate) fn with(mut self, name: &str, len: usize) -> Result<Compiled, Error> {
        set_length(&mut self.ir, name, len)?;
        // Plans made before this length was known are stale.
        self.plans = ShapeCache::default();
        Ok(self)
    }

    pub(crate) fn pattern(&self) -> &str {
        &self.ir.pattern
    }

    /// The operation's name, such as "rearrange".
    pub(crate) fn op_name(&self) -> &'static str {
        self.ir.op.name()
    }

    /// The span of the input side, for errors about the input as a whole.
    pub(crate) fn input_span(&self) -> crate::span::Span {
        self.ir.input_span
    }

    /// The span of the output side.
    pub(crate) fn output_span(&self) -> crate::span::Span {
        self.ir.output_span
    }

    /// The output's number of dimensions, when the pattern fixes it (no
    /// `...` standing for dimensions of its own on the output side).
    pub(crate) fn output_rank(&self) -> Option<usize> {
        let output = self.ir.output();
        (!output.iter().any(|g| g.is_bare_ellipsis())).then_some(output.len())
    }

    /// The plan for `shape`, from the cache or freshly made.
    pub(crate) fn plan(&self, shape: &[usize]) -> Result<Arc<Plan>, Error> {
        self.plans.get_arc(shape, || plan(&self.ir, shape))
    }
}

/// Locks a cache, recovering from poisoning: the caches hold only
/// immutable `Arc`s, so a panic elsewhere cannot leave them half-written.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Compiled patterns by what they were compiled from (an operation's
/// name, the pattern, the given lengths), at most [`PATTERN_CACHE`] of
/// them, so the free functions do not re-parse a pattern used in a loop.
/// When full, the cache starts over.
pub(crate) struct PatternCache<V> {
    map: OnceLock<Mutex<HashMap<u64, Vec<Entry<V>>>>>,
}

/// One entry of a pattern cache: what it was compiled from, and the
/// result.
struct Entry<V> {
    op: &'static str,
    pattern: String,
    lengths: Vec<(String, usize)>,
    value: Arc<V>,
}

impl<V> Entry<V> {
    fn is(&self, op: &str, pattern: &str, lengths: &[(&str, usize)]) -> bool {
        self.op == op
            && self.pattern == pattern
            && self.lengths.len() == lengths.len()
            && self
                .lengths
                .iter()
                .zip(lengths)
                .all(|((n, l), (m, k))| n == m && l == k)
    }
}

/// The hash of a pattern cache key, computed from borrowed parts so that a
/// hit allocates nothing.
fn key_hash(op: &str, pattern: &str, lengths: &[(&str, usize)]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    op.hash(&mut h);
    pattern.hash(&mut h);
    lengths.hash(&mut h);
    h.finish()
}

impl<V> PatternCache<V> {
    pub(crate) const fn new() -> PatternCache<V> {
        PatternCache {
            map: OnceLock::new(),
        }
    }

    /// The value compiled from `(op, pattern, lengths)`, from the cache or
    /// made by `make`.
    pub(crate) fn get(
        &self,
        op: &'static str,
        pattern: &str,
        lengths: &[(&str, usize)],
        make: impl FnOnce() -> Result<V, Error>,
    ) -> Result<Arc<V>, Error> {
        let cache = self.map.get_or_init(Default::default);
        let hash = key_hash(op, pattern, lengths);
        if let Some(bucket) = lock(cache).get(&hash)
            && let Some(e) = bucket.iter().find(|e| e.is(op, pattern, lengths))
        {
            return Ok(Arc::clone(&e.value));
        }
        let value = Arc::new(make()?);
        let mut cache = lock(cache);
        if cache.len() >= PATTERN_CACHE {
            cache.clear();
        }
        let bucket = cache.entry(hash).or_default();
        if !bucket.iter().any(|e| e.is(op, pattern, lengths)) {
            bucket.push(Entry {
                op,
                pattern: pattern.to_owned(),
                lengths: lengths.iter().map(|&(n, l)| (n.to_owned(), l)).collect(),
                value: Arc::clone(&value),
            });
        }
        Ok(value)
    }
}

/// The compiled op for `(op, pattern, lengths)`, from a process-wide cache.
pub(crate) fn cached<L: Lengths + ?Sized>(
    op: Op,
    pattern: &str,
    lengths: &L,
) -> Result<Arc<Compiled>, Error> {
    static CACHE: PatternCache<Compiled> = PatternCache::new();
    let lengths = &*lengths.pairs();
    CACHE.get(op.name(), pattern, lengths, || {
        let mut compiled = Compiled::new(pattern, op)?;
        for &(name, len) in lengths {
            compiled = compiled.with(name, len)?;
        }
        Ok(compiled)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_cache_hits_and_evicts() {
        let c = Compiled::new("a b -> b a", Op::Rearrange).unwrap();
        let first = c.plan(&[2, 3]).unwrap();
        // A hit: the same plan, not a new one.
        assert!(Arc::ptr_eq(&first, &c.plan(&[2, 3]).unwrap()));
        let other = c.plan(&[4, 5]).unwrap();
        assert!(Arc::ptr_eq(&first, &c.plan(&[2, 3]).unwrap()));
        assert!(Arc::ptr_eq(&other, &c.plan(&[4, 5]).unwrap()));
        // Filling the cache starts it over: the first shape is planned
        // afresh (an equal plan, a new allocation).
        for n in 0..PLAN_CACHE {
            c.plan(&[7, n + 10]).unwrap();
        }
        let again = c.plan(&[2, 3]).unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(*first, *again);
        // A length given later makes the old plans stale.
        let c = Compiled::new("(a b) -> a b", Op::Rearrange).unwrap();
        assert!(c.plan(&[6]).is_err());
        let c = c.with("a", 2).unwrap();
        assert_eq!(c.plan(&[6]).unwrap().output_shape(), &[2, 3]);
    }
}
