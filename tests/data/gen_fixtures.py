#!/usr/bin/env python3
"""Generate the einops conformance fixtures in ``tests/data``.

Every expected value in the fixtures is produced by the reference
implementation (``einops`` running on ``numpy``); nothing is computed by hand.
Run from the repository root::

    pip install einops numpy
    python3 tests/data/gen_fixtures.py

The output depends only on the einops/numpy versions (recorded in every file
as ``einops_version`` / ``numpy_version``): all randomness comes from
``numpy.random.default_rng(SEED)`` and ``random.Random`` seeded from ``SEED``.
Python's string hashing is pinned as well (the script re-executes itself with
``PYTHONHASHSEED=0``), because some einops error messages print sets of axis
names.

Files written
=============

``rearrange.json``, ``reduce.json``, ``repeat.json``
    ``{"id", "source", "pattern", ["reduction"], "lengths", "input" | "inputs",
    "expect", ["error", "error_type"]}``.  ``lengths`` is the list of
    ``[name, length]`` keyword arguments in the order they were passed.
    ``inputs`` (a list of tensors of equal shape) is used instead of ``input``
    for cases that pass a list, which einops stacks on a new leading axis.
``pack.json``
    ``{"id", "source", "kind": "pack", "pattern", "inputs", "expect":
    {"packed", "packed_shapes"} | null}`` and ``{"id", "source", "kind":
    "unpack", "pattern", "input", "packed_shapes", "expect": [tensor, ...] |
    null}``.
``parse_shape.json``
    ``{"id", "source", "pattern", "shape", "expect": {name: length} | null}``.
``einsum.json``
    ``{"id", "source", "pattern", "lengths", "operands", "expect"}``.  Cases
    with source ``group-composed`` use parenthesised groups, which einops'
    einsum does not support; their expectation is computed by rearranging
    every operand to ungrouped axes, calling ``einops.einsum`` on the
    ungrouped pattern and rearranging the result into the grouped output.

Input tensors
=============

An input tensor is ``{"base_shape", "data", "ops"}``: ``data`` holds
``prod(base_shape)`` integers in C order, and the ``ops`` are applied in
order to the base array to obtain the actual (possibly non-contiguous or
negatively strided) input view:

* ``{"op": "transpose", "perm": [...]}``  -- ``np.transpose(x, perm)``
* ``{"op": "flip", "axis": k}``            -- ``np.flip(x, k)``
* ``{"op": "step", "axis": k, "step": s}`` -- ``x[..., ::s, ...]`` on axis k, s >= 2
* ``{"op": "crop", "axis": k, "start": a, "stop": b}`` -- ``x[..., a:b, ...]`` on axis k

Expected tensors are ``{"shape", "data"}`` with ``data`` in C order
(integers where the result is exact, floats for ``mean``).  A case whose
``expect`` is ``null`` must fail; ``error`` holds ``str()`` of the exception
einops (or numpy underneath it) raised and ``error_type`` its class name.
Cases marked ``deliberate_difference`` are ones where einops does *not*
raise but this crate rejects the input on purpose; ``einops_result`` then
says what einops did instead.

Case sources: ``einops-tests`` (ported from einops' own test-suite and
documentation examples), ``handwritten``, ``random``, ``strided``
(re-runs of other cases with non-contiguous input views, see
``variant_of``), ``list`` and ``error``.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

import einops

SEED = 20261128
DATA_DIR = Path(__file__).resolve().parent
# Upper bound on the number of elements of one input (base) array.
MAX_ELEMENTS = 400
# Upper bound for inputs of randomly generated cases (results may grow in repeat).
MAX_RANDOM_ELEMENTS = 240

SOURCE_TAGS = {
    "einops-tests": "einops",
    "handwritten": "hand",
    "random": "random",
    "strided": "strided",
    "list": "list",
    "error": "error",
    "einops": "einops",
    "numpy": "numpy",
    "group-composed": "group",
}

# --------------------------------------------------------------------------
# tensors: description <-> numpy
# --------------------------------------------------------------------------


def apply_ops(x: np.ndarray, ops) -> np.ndarray:
    """Apply the view ops of an input description to ``x``."""
    for op in ops:
        kind = op["op"]
        if kind == "transpose":
            x = np.transpose(x, op["perm"])
        elif kind == "flip":
            x = np.flip(x, op["axis"])
        elif kind in ("step", "crop"):
            index = [slice(None)] * x.ndim
            if kind == "step":
                assert op["step"] >= 2
                index[op["axis"]] = slice(None, None, op["step"])
            else:
                assert 0 <= op["start"] < op["stop"] <= x.shape[op["axis"]]
                index[op["axis"]] = slice(op["start"], op["stop"])
            x = x[tuple(index)]
        else:
            raise ValueError(f"unknown op {kind}")
    return x


def materialize(spec, dtype=np.int64) -> np.ndarray:
    base = np.asarray(spec["data"], dtype=dtype).reshape(spec["base_shape"])
    return apply_ops(base, spec["ops"])


def spec_of(base: np.ndarray, ops=()) -> dict:
    base = np.asarray(base)
    return {
        "base_shape": [int(d) for d in base.shape],
        "data": [int(v) for v in base.ravel()],
        "ops": [dict(op) for op in ops],
    }


def encode(result, as_float=False) -> dict:
    result = np.asarray(result)
    flat = result.ravel(order="C")
    if as_float:
        data = [float(v) for v in flat]
        assert all(math.isfinite(v) for v in data)
    else:
        assert result.dtype.kind in "iub", result.dtype
        data = [int(v) for v in flat]
        assert all(abs(v) < 2**53 for v in data)
    return {"shape": [int(d) for d in result.shape], "data": data}


class Fill:
    """Ways to fill a base array of a given shape with small integers."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def arange(self, shape, offset=0):
        n = math.prod(shape)
        return np.arange(offset, offset + n, dtype=np.int64).reshape(shape)

    def small(self, shape, lo=-9, hi=9):
        return self.rng.integers(lo, hi + 1, size=shape, dtype=np.int64)

    def prod_safe(self, shape):
        """Values in {-2, -1, 1, 2}, with at most 40 entries of magnitude 2 in
        the whole array, so every product stays exact in f64."""
        x = self.rng.choice(np.array([-1, 1], dtype=np.int64), size=shape)
        flat = x.reshape(-1)
        n_twos = min(40, flat.size // 3)
        if n_twos:
            pos = self.rng.choice(flat.size, size=n_twos, replace=False)
            flat[pos] *= 2
        return x


def view_ops_for(shape, prng: random.Random, max_base=MAX_ELEMENTS, n_ops=None):
    """Choose ops that turn a freshly allocated base array into a view of
    ``shape``.  Returns ``(base_shape, ops)`` or ``None`` for 0-d shapes."""
    ndim = len(shape)
    if ndim == 0:
        return None
    for _ in range(200):
        cur = list(shape)
        rev = []
        count = n_ops or prng.choice([1, 1, 2, 2, 3])
        for _ in range(count):
            kinds = ["flip", "step", "step"]
            if ndim >= 2:
                kinds += ["transpose", "transpose"]
            if any(d >= 1 for d in cur):
                kinds.append("crop")
            kind = prng.choice(kinds)
            if kind == "transpose":
                perm = list(range(ndim))
                while perm == sorted(perm):
                    prng.shuffle(perm)
                before = [0] * ndim
                for i, p in enumerate(perm):
                    before[p] = cur[i]
                rev.append({"op": "transpose", "perm": perm})
                cur = before
            elif kind == "flip":
                long_axes = [i for i, d in enumerate(cur) if d >= 2] or list(range(ndim))
                rev.append({"op": "flip", "axis": prng.choice(long_axes)})
            elif kind == "step":
                axis = prng.randrange(ndim)
                step = prng.choice([2, 2, 3])
                n = cur[axis]
                before_len = 0 if n == 0 else prng.randint((n - 1) * step + 1, n * step)
                rev.append({"op": "step", "axis": axis, "step": step})
                cur[axis] = before_len
            else:
                axis = prng.choice([i for i, d in enumerate(cur) if d >= 1])
                n = cur[axis]
                start = prng.randint(0, 2)
                extra = prng.randint(0, 2) or (0 if start else 1)
                rev.append({"op": "crop", "axis": axis, "start": start, "stop": start + n})
                cur[axis] = start + n + extra
        if math.prod(cur) <= max_base:
            return cur, rev[::-1]
    raise RuntimeError(f"could not build a strided view of shape {shape}")


def strided_spec(shape, fill, prng, **kwargs):
    """An input description whose view has ``shape`` but needs non-trivial ops."""
    made = view_ops_for(shape, prng, **kwargs)
    if made is None:
        return None
    base_shape, ops = made
    spec = spec_of(fill(base_shape), ops)
    assert list(materialize(spec).shape) == list(shape)
    return spec


def has_ops(case) -> bool:
    specs = []
    for key in ("input", "inputs", "operands"):
        value = case.get(key)
        if isinstance(value, dict):
            specs.append(value)
        elif isinstance(value, list):
            specs.extend(value)
    return any(s["ops"] for s in specs)


def record_error(case, exc):
    case["expect"] = None
    case["error"] = str(exc)
    case["error_type"] = type(exc).__name__


# --------------------------------------------------------------------------
# case collection
# --------------------------------------------------------------------------


class CaseList:
    """Collects the cases of one fixture file and assigns stable ids."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.cases: list[dict] = []
        self.counters: Counter = Counter()

    def new_id(self, source: str) -> str:
        tag = SOURCE_TAGS[source]
        self.counters[tag] += 1
        return f"{self.prefix}/{tag}/{self.counters[tag]:03d}"

    def add(self, case: dict) -> dict:
        self.cases.append(case)
        return case


def run_guarded(case, source, compute, *, expect_error=None, as_float=False):
    """Run ``compute``; store the encoded result or the error on ``case``.

    ``expect_error`` defaults to ``source == "error"``; a mismatch means the
    table entry is wrong, so it aborts generation."""
    if expect_error is None:
        expect_error = source == "error"
    try:
        result = compute()
    except Exception as exc:  # noqa: BLE001 - einops raises several types
        if not expect_error:
            raise AssertionError(f"{case['id']} {case.get('pattern')!r} failed: {exc!r}") from exc
        record_error(case, exc)
        return None
    if expect_error:
        raise AssertionError(f"{case['id']} {case.get('pattern')!r} was expected to fail")
    return result


# --------------------------------------------------------------------------
# random patterns
# --------------------------------------------------------------------------

SINGLE_NAMES = list("abcdefghijklmnopqrstuvwxyz")
MULTI_NAMES = ["h1", "w1", "ch", "batch", "seq", "head", "x0", "y_1", "dim", "k2", "ab",
               "ba", "aa", "t_in", "out", "AB", "cA", "Z9"]
UNICODE_NAMES = ["α", "β", "γ", "λ", "ω", "ß", "ж", "ñ"]


def pick_names(prng: random.Random, n: int) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        r = prng.random()
        pool = SINGLE_NAMES if r < 0.6 else MULTI_NAMES if r < 0.92 else UNICODE_NAMES
        name = prng.choice(pool)
        if name not in names:
            names.append(name)
    return names


def split_groups(items, prng: random.Random, max_group=3, p_single=0.55):
    groups = []
    i = 0
    while i < len(items):
        size = 1 if prng.random() < p_single else prng.randint(2, max_group)
        groups.append(list(items[i:i + size]))
        i += size
    return groups


def fmt_side(tokens, style: str) -> str:
    """Tokens are strings (axis, "...", "1", "()", anonymous number) or lists
    (a parenthesised group)."""
    def one(t):
        if isinstance(t, list):
            if style == "wide":
                return "( " + "  ".join(t) + " )" if t else "()"
            return "(" + " ".join(t) + ")"
        return t

    if style == "tight":
        out = ""
        prev = None
        for t in tokens:
            if prev is not None and not isinstance(t, list) and not isinstance(prev, list) \
                    and t != "()" and prev != "()":
                out += " "
            out += one(t)
            prev = t
        return out
    sep = "  " if style == "wide" else " "
    return sep.join(one(t) for t in tokens)


def fmt_pattern(left, right, prng: random.Random) -> str:
    style = prng.choices(["plain", "tight", "wide"], weights=[7, 2, 1])[0]
    arrow = {"plain": " -> ", "tight": "->", "wide": "  ->  "}[style]
    return fmt_side(left, style) + arrow + fmt_side(right, style)


def token_dim(token, lens, ell_dims):
    """Input dims contributed by one left-side token."""
    if token == "...":
        return list(ell_dims)
    if token in ("1", "()"):
        return [1]
    if isinstance(token, list):
        return [math.prod(lens[a] if not a.isdecimal() else int(a) for a in token)]
    if token.isdecimal():
        return [int(token)]
    return [lens[token]]


def insert_units(tokens, prng, p):
    out = []
    for t in tokens:
        if prng.random() < p:
            out.append(prng.choice(["1", "()"]))
        out.append(t)
    if prng.random() < p:
        out.append(prng.choice(["1", "()"]))
    return out


def random_left(prng, names, lens, use_ell, *, anon=False, unit_p=0.1):
    """Random left side over ``names``.  Returns ``(tokens, given)`` where
    ``given`` maps the axes whose lengths are passed as keyword arguments."""
    order = names[:]
    prng.shuffle(order)
    groups = split_groups(order, prng)
    if anon:
        for _ in range(prng.randint(1, 2)):
            k = str(prng.choice([2, 3]))
            if groups and prng.random() < 0.6:
                g = prng.choice(groups)
                g.insert(prng.randint(0, len(g)), k)
            else:
                groups.insert(prng.randint(0, len(groups)), [k])
    given = {}
    tokens = []
    for g in groups:
        named = [a for a in g if not a.isdecimal()]
        if len(g) > 1 and named:
            zero = [a for a in named if lens[a] == 0]
            unknown = zero[0] if zero else prng.choice(named)
            for a in named:
                if a != unknown or prng.random() < 0.1:
                    given[a] = lens[a]
        elif named and prng.random() < 0.12:
            given[named[0]] = lens[named[0]]
        if len(g) == 1 and not (g[0].isdecimal() and prng.random() < 0.5):
            tokens.append(g[0])
        else:
            tokens.append(g)
    tokens = insert_units(tokens, prng, unit_p)
    if use_ell:
        tokens.insert(prng.randint(0, len(tokens)), "...")
    return tokens, given


def random_right(prng, items, *, unit_p=0.1, ellipsis_in_group_p=0.35):
    order = items[:]
    prng.shuffle(order)
    groups = split_groups(order, prng)
    tokens = []
    for g in groups:
        if len(g) == 1 and not (g[0] == "..." and prng.random() < ellipsis_in_group_p) \
                and prng.random() > 0.05:
            tokens.append(g[0])
        else:
            if prng.random() < 0.08:
                g.insert(prng.randint(0, len(g)), "1")
            tokens.append(g)
    return insert_units(tokens, prng, unit_p)


def random_axes(prng, n_min, n_max, max_elems, allow_zero):
    """Random axis names, their lengths and ellipsis dims."""
    while True:
        n = prng.randint(n_min, n_max)
        if n == 0 and prng.random() < 0.75:
            continue  # keep 0-d cases rare
        names = pick_names(prng, n)
        lens = {a: prng.choice([1, 2, 2, 3, 3, 4, 5]) for a in names}
        if allow_zero and names and prng.random() < 0.06:
            lens[prng.choice(names)] = 0
        use_ell = prng.random() < 0.3
        ell_dims = [prng.choice([1, 2, 3]) for _ in range(prng.randint(0, 2))] if use_ell else []
        total = math.prod(lens.values()) * math.prod(ell_dims)
        if total <= max_elems:
            return names, lens, use_ell, ell_dims


def input_shape(tokens, lens, ell_dims):
    shape = []
    for t in tokens:
        shape.extend(token_dim(t, lens, ell_dims))
    return shape


def shuffled_items(prng, mapping):
    items = list(mapping.items())
    prng.shuffle(items)
    return [[k, int(v)] for k, v in items]


# --------------------------------------------------------------------------
# rearrange / reduce / repeat
# --------------------------------------------------------------------------


class EinopsOpFile:
    """Shared machinery of rearrange.json, reduce.json and repeat.json."""

    def __init__(self, op: str, rng: np.random.Generator, prng: random.Random):
        self.op = op
        self.rng = rng
        self.prng = prng
        self.fill = Fill(rng)
        self.cases = CaseList(op)

    # -- data ----------------------------------------------------------------
    def base_for(self, shape, reduction=None, offset=0):
        if self.op == "reduce":
            if reduction == "prod":
                return self.fill.prod_safe(shape)
            return self.fill.small(shape)
        return self.fill.arange(shape, offset)

    def filler(self, reduction=None):
        return lambda shape: self.base_for(shape, reduction)

    def dtype(self, reduction):
        return np.float64 if reduction == "mean" else np.int64

    # -- evaluation ----------------------------------------------------------
    def compute(self, pattern, lengths, x, reduction):
        kw = dict(lengths)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.op == "rearrange":
                return einops.rearrange(x, pattern, **kw)
            if self.op == "repeat":
                return einops.repeat(x, pattern, **kw)
            return einops.reduce(x, pattern, reduction, **kw)

    def add(self, source, pattern, lengths=(), *, shape=None, spec=None, specs=None,
            reduction=None, extra=None, expect_error=None):
        """Add one case.  Give either ``shape`` (plain input filled here),
        ``spec`` (an input description) or ``specs`` (a list input)."""
        if self.op == "reduce":
            assert reduction is not None
        lengths = [[k, int(v)] for k, v in lengths]
        case = {"id": self.cases.new_id(source), "source": source, "pattern": pattern}
        if reduction is not None:
            case["reduction"] = reduction
        case["lengths"] = lengths
        if specs is not None:
            case["inputs"] = specs
            tensor = [materialize(s, self.dtype(reduction)) for s in specs]
        else:
            if spec is None:
                spec = spec_of(self.base_for(shape, reduction))
            case["input"] = spec
            tensor = materialize(spec, self.dtype(reduction))
        if extra:
            case.update(extra)
        result = run_guarded(case, source, lambda: self.compute(pattern, lengths, tensor, reduction),
                             expect_error=expect_error)
        if "error" not in case:
            case["expect"] = encode(result, as_float=(reduction == "mean"))
        return self.cases.add(case)

    def add_list(self, source, pattern, lengths, shape, n, *, reduction=None, strided_p=0.0):
        specs = []
        for i in range(n):
            base = self.base_for(shape, reduction, offset=i * max(1, math.prod(shape)))
            spec = spec_of(base)
            if shape and self.prng.random() < strided_p:
                made = view_ops_for(shape, self.prng)
                base = self.base_for(made[0], reduction, offset=i * 1000)
                spec = spec_of(base, made[1])
            specs.append(spec)
        return self.add(source, pattern, lengths, specs=specs, reduction=reduction)

    def add_strided_variants(self, count, pool_sources=("einops-tests", "handwritten", "random")):
        """Re-run a subset of successful single-input cases on strided views."""
        pool = [c for c in self.cases.cases
                if c["source"] in pool_sources and c.get("expect") is not None
                and "input" in c and not c["input"]["ops"]
                and len(c["input"]["base_shape"]) > 0]
        pool.sort(key=lambda c: c["id"])
        chosen = self.prng.sample(pool, min(count, len(pool)))
        chosen.sort(key=lambda c: c["id"])
        for c in chosen:
            shape = c["input"]["base_shape"]
            spec = strided_spec(shape, self.filler(c.get("reduction")), self.prng)
            self.add("strided", c["pattern"], c["lengths"], spec=spec,
                     reduction=c.get("reduction"), extra={"variant_of": c["id"]})

    def maybe_strided(self, shape, reduction=None, p=0.15):
        if shape and self.prng.random() < p:
            return strided_spec(shape, self.filler(reduction), self.prng)
        return spec_of(self.base_for(shape, reduction))


REDUCTIONS = ["sum", "mean", "min", "max", "prod"]

# (pattern, input shape, lengths)
REARRANGE_EINOPS_EXAMPLES = [
    ("b c h w -> b h w c", [2, 3, 2, 4], []),
    ("b c h w -> b (c h w)", [2, 3, 2, 4], []),
    ("b (c h1 w1) h w -> b c (h h1) (w w1)", [1, 8, 2, 3], [("h1", 2), ("w1", 2)]),
    ("b c (h h1) (w w1) -> b (h1 w1 c) h w", [1, 2, 4, 6], [("h1", 2), ("w1", 2)]),
    ("b1 sound b2 letter -> b1 b2 sound letter", [2, 3, 2, 4], []),
    ("b c h w -> (b h w) c", [2, 3, 2, 4], []),
    ("(b h w) c2 -> b c2 h w", [16, 3], [("b", 2), ("h", 2), ("w", 4)]),
    ("b (c g) h w -> g b c h w", [1, 6, 2, 2], [("g", 2)]),
    ("b c () () -> c b", [2, 3, 1, 1], []),
    ("b c h w -> h (b w) c", [2, 3, 2, 4], []),
    ("b (c1 c2) h w-> b (c2 c1) h w", [1, 6, 2, 2], [("c1", 2), ("c2", 3)]),
    ("b c t1 t2 -> b c (t1 t2)", [1, 2, 3, 4], []),
    ("b c (t stride) -> (stride b) c t", [2, 2, 6], [("stride", 2)]),
    ("(stride b) c t -> b c (t stride)", [4, 2, 3], [("stride", 2)]),
    ("b c (h hs) (w ws) -> (hs ws b) c h w", [1, 2, 4, 4], [("hs", 2), ("ws", 2)]),
    ("(hs ws b) c h w -> b c (h hs) (w ws)", [4, 2, 2, 2], [("hs", 2), ("ws", 2)]),
    ("b c (t dt) -> b (dt c) t", [2, 2, 6], [("dt", 2)]),
    ("b (dt c) t -> b c (t dt)", [2, 4, 3], [("dt", 2)]),
    ("(i rest alpha) -> rest (alpha i)", [24], [("alpha", 2), ("i", 3)]),
    ("i j alpha beta -> (alpha i) (j beta)", [2, 3, 2, 2], []),
    ("rest (beta j) -> (beta rest j)", [4, 6], [("beta", 2), ("j", 3)]),
    ("i ... (j alpha) -> ... j (alpha i)", [2, 3, 6], [("alpha", 2), ("i", 2)]),
    (" b (anchor prediction) h w -> prediction b anchor h w", [1, 6, 2, 2], [("anchor", 3)]),
    ("anchor dim -> dim () anchor () ()", [3, 2], []),
    ("h -> () () h ()", [4], []),
    ("w -> () () () w", [5], []),
    ("prediction b anchor h w -> b anchor h w prediction", [2, 1, 3, 2, 2], []),
    ("b c h w -> b (c h w)", [2, 3, 2, 2], [("c", 3)]),
    ("b c (h1 h2) (w1 w2) -> b (c h2 w2) h1 w1", [1, 2, 4, 4], [("h2", 2), ("w2", 2)]),
    ("b ... c -> c b ...", [2, 3, 4], [("b", 2)]),
    ("a b (c1 c2) (d1 d2) -> (a b d1) c1 (c2 d2)", [2, 3, 4, 6], [("a", 2), ("b", 3), ("c1", 4), ("d2", 2)]),
]

# (pattern, shape, lengths)
REARRANGE_HANDWRITTEN = [
    ("b (c1 c2) h w -> b (c2 c1) h w", [2, 6, 2, 3], [("c1", 3)]),
    ("b (c1 c2) h w -> b (c2 c1) h w", [2, 6, 2, 3], [("c2", 2)]),
    ("b (c1 c2) h w -> b c1 c2 h w", [1, 6, 2, 2], [("c1", 2)]),
    ("(a b) c -> a b c", [6, 4], [("a", 2)]),
    ("(a b) c -> a b c", [6, 4], [("b", 2)]),
    ("(a b c) -> c b a", [24], [("a", 2), ("b", 3)]),
    ("(a b c) -> (c b a)", [24], [("c", 4), ("a", 2)]),
    ("a (b c) -> (a c) b", [3, 8], [("c", 2)]),
    ("a b c -> (a b c)", [2, 3, 4], []),
    ("a b c -> (c a) b", [2, 3, 4], []),
    ("a b c -> c (b a)", [2, 3, 4], []),
    ("a b -> (b a)", [3, 5], []),
    ("a b c d -> (a c) (b d)", [2, 3, 2, 3], []),
    ("(h1 h2) (w1 w2) -> (h1 w1) (h2 w2)", [4, 6], [("h2", 2), ("w2", 3)]),
    ("b (h p1) (w p2) c -> b (h w) (p1 p2 c)", [1, 4, 4, 2], [("p1", 2), ("p2", 2)]),
    ("b (h w) (p1 p2 c) -> b (h p1) (w p2) c", [1, 4, 8], [("h", 2), ("p1", 2), ("p2", 2)]),
    ("b h w c -> b c h w", [2, 3, 4, 2], []),
    ("a b c d e f -> f e d c b a", [2, 1, 3, 1, 2, 2], []),
    ("α β -> β α", [2, 3], []),
    ("(α β) γ -> β γ α", [6, 2], [("α", 2)]),
    ("日本 語 -> 語 日本", [2, 3], []),
    ("ß ñ -> (ñ ß)", [3, 2], []),
    ("batch chan height width -> batch height width chan", [2, 3, 2, 4], []),
    ("batch (heads dim) -> heads batch dim", [2, 6], [("heads", 3)]),
    ("h1 h2 h3 -> h3 h1 h2", [2, 3, 4], []),
    ("a1a1 aaaa -> aaaa a1a1", [3, 4], []),
    ("camelCase under_scored cApiTaLs -> cApiTaLs camelCase under_scored", [2, 3, 2], []),
    ("x_y -> x_y", [5], []),
    ("A a -> a A", [2, 3], []),
    ("b(c h)w -> b c h w", [2, 6, 2], [("c", 2)]),
    ("b c h w->b(c h)w", [2, 3, 2, 2], []),
    ("  a   b  ->  b  a  ", [2, 3], []),
    ("a b->b a", [2, 3], []),
    ("(a b)c->c(b a)", [6, 2], [("a", 3)]),
    ("( a b ) c -> c ( b a )", [6, 2], [("b", 3)]),
    ("a 1 b -> a b", [2, 1, 3], []),
    ("a () b -> b a", [2, 1, 3], []),
    ("a b -> a 1 b 1", [2, 3], []),
    ("a b -> a () b ()", [2, 3], []),
    ("a b -> (a 1) (1 b)", [2, 3], []),
    ("1 a 1 -> a", [1, 4, 1], []),
    ("(1 a) b -> b (a 1)", [3, 2], []),
    ("a b -> (a b 1)", [2, 3], []),
    ("a b -> (a) (b)", [2, 3], []),
    ("(a) (b) -> b a", [2, 3], []),
    ("1 -> ", [1], []),
    ("() -> ", [1], []),
    ("-> 1", [], []),
    ("-> () ()", [], []),
    ("->", [], []),
    ("... -> ...", [], []),
    ("... -> (...)", [], []),
    ("... -> 1 ... 1", [2, 3], []),
    ("... -> (...)", [2, 3, 4], []),
    ("a ... -> ... a", [2, 3, 4], []),
    ("a ... -> ... a", [5], []),
    ("... a b -> ... b a", [2, 2, 3, 2], []),
    ("a ... b -> (a b) ...", [2, 3, 4], []),
    ("a ... b -> b ... a", [2, 3], []),
    ("b ... -> b (...)", [2, 3, 2, 2], []),
    ("(a b) ... -> a (b ...)", [6, 2, 2], [("a", 2)]),
    ("a ... -> (... a)", [2, 3, 2], []),
    ("... c -> c (... 1)", [2, 3, 4], []),
    ("a b ... -> (b ... a)", [2, 3, 2, 2], []),
    ("... h w -> ... (w h)", [3, 4], []),
    ("...->...", [3, 1, 2], []),
    ("a b -> b a", [0, 3], []),
    ("a b c -> (a b) c", [2, 0, 3], []),
    ("(a b) c -> a (c b)", [0, 3], [("b", 2)]),
    ("a b -> (b a)", [3, 0], []),
    ("a ... -> ... a", [0, 2, 2], []),
    ("a b c -> c b a", [1, 1, 3], []),
    ("a b c -> (a b c)", [1, 3, 1], []),
    ("a b -> b a", [2, 3], [("a", 2), ("b", 3)]),
    ("(a b) -> b a", [6], [("a", 2), ("b", 3)]),
    ("(a b) -> b a", [6], [("b", 6)]),
    ("(a b) -> b a", [6], [("b", 1)]),
]

# (pattern, shape, lengths) that must fail
REARRANGE_ERRORS = [
    # malformed patterns
    ("a b c", [2, 3, 4], []),
    ("a b -> b a -> a", [2, 3], []),
    ("a b c -> a b c ->", [2, 3, 4], []),
    ("(a b -> a b", [6], []),
    ("a b) -> a b", [2, 3], []),
    ("a b -> (a b", [2, 3], []),
    ("a b -> a b)", [2, 3], []),
    ("a (b c)) -> a b c", [2, 6], [("b", 2)]),
    ("((a b)) -> a b", [6], [("a", 2)]),
    ("a (b (c)) -> a b c", [2, 6], [("b", 2)]),
    ("_a b -> b _a", [2, 3], []),
    ("a_ b -> b a_", [2, 3], []),
    ("_ b -> b _", [2, 3], []),
    ("2a b -> b 2a", [2, 3], []),
    ("a .. -> a", [2, 3], []),
    ("a .... -> a ....", [2, 3], []),
    ("a . b -> a b", [2, 3], []),
    ("a ..b -> a", [2, 3], []),
    ("a ...b -> ...b a", [2, 3], []),
    ("a b. -> a b", [2, 3], []),
    ("... a ... -> a", [2, 3], []),
    ("a ... -> ... a ...", [2, 3], []),
    ("(a ...) -> a ...", [6], []),
    ("(... a) b -> b a ...", [6, 2], []),
    ("a-b -> a b", [2, 3], []),
    ("a\tb -> b a", [2, 3], []),
    ("a b -> b a!", [2, 3], []),
    ("a, b -> b a", [2, 3], []),
    ("a b → b a", [2, 3], []),
    ("a b => b a", [2, 3], []),
    ("a b - > b a", [2, 3], []),
    ("a b ->> b a", [2, 3], []),
    ("a [b] -> b a", [2, 3], []),
    # semantic errors
    ("a b -> a", [2, 3], []),
    ("a -> a b", [2], []),
    ("a b -> a c", [2, 3], []),
    ("-> a", [], []),
    ("a a -> a", [2, 2], []),
    ("a b -> a b a", [2, 3], []),
    ("(a a) b -> a b", [4, 3], []),
    ("a (a b) -> a b", [2, 6], []),
    ("a 2 -> a", [3, 2], []),
    ("a b -> a b 2", [2, 3], []),
    ("(a 2) b -> a b", [6, 2], []),
    ("a 0 -> a", [3, 1], []),
    ("a b -> b a", [2, 3], [("c", 2)]),
    ("a b -> b a", [2, 3], [("_a", 2)]),
    ("(a b) c -> a b c", [6, 2], []),
    ("(a b c) -> a b c", [24], [("a", 2)]),
    ("a b -> ...", [2, 3], []),
    ("a ... -> a", [2, 3], []),
    ("... -> a ...", [2, 3], []),
    ("(...) -> (...)", [1, 1, 1, 1, 1], []),
    ("a b c d (...) ->  a b c ... d", [1, 1, 1, 1, 1], []),
    # shape errors
    ("a b c -> c b a", [2, 3], []),
    ("a b -> b a", [2, 3, 4], []),
    ("a b -> b a", [], []),
    ("a -> a", [], []),
    ("-> ", [2], []),
    ("(a b) c -> a b c", [6, 2], [("a", 4)]),
    ("(a b) -> a b", [6], [("b", 4)]),
    ("a b -> b a", [2, 3], [("a", 3)]),
    ("(a b) c -> a b c", [6, 2], [("a", 2), ("b", 2)]),
    ("a (b c) -> a b c", [2, 5], [("b", 2), ("c", 2)]),
    ("a b c ... -> ... a b c", [2, 3], []),
    ("a ... b c d -> a b c d ...", [2, 3, 4], []),
    ("... a -> a ...", [], []),
    ("a 1 b -> a b", [2, 3, 4], []),
    ("a () -> a", [2, 3], []),
    ("() a -> a", [2, 3], []),
    ("a b -> b a", [2, 3], [("a", 0)]),
    ("(a b) -> a b", [6], [("b", 0)]),
    ("(a b) -> a b", [0], [("b", 0)]),
    # the wrong shapes of einops' layer tests
    ("b c h w -> b (c h w)", [], [("c", 3)]),
    ("b c h w -> b (c h w)", [2], [("c", 3)]),
    ("b c h w -> b (c h w)", [2, 2, 2], [("c", 3)]),
    ("b c h w -> b (c h w)", [2, 4, 2, 2], [("c", 3)]),
    ("b c h w -> b (c h w)", [1, 3, 1, 1, 1], [("c", 3)]),
    ("b c (h1 h2) (w1 w2) -> b (c h2 w2) h1 w1", [1, 1, 1, 1], [("h2", 2), ("w2", 2)]),
    ("b c (h1 h2) (w1 w2) -> b (c h2 w2) h1 w1", [1, 2, 3], [("h2", 2), ("w2", 2)]),
    ("b ... c -> c b ...", [], [("b", 2)]),
    ("b ... c -> c b ...", [2], [("b", 2)]),
    ("b ... c -> c b ...", [1, 2], [("b", 2)]),
]


def build_rearrange(rng, prng) -> list[dict]:
    f = EinopsOpFile("rearrange", rng, prng)
    src = "einops-tests"

    # identity / equivalent patterns of einops' test_ops.py
    identity_patterns = [
        "...->...",
        "a b c d e-> a b c d e",
        "a b c d e ...-> ... a b c d e",
        "a b c d e ...-> a ... b c d e",
        "... a b c d e -> ... a b c d e",
        "a ... e-> a ... e",
        "a ... -> a ... ",
        "a ... c d e -> a (...) c d e",
    ]
    equivalent_rearrange_patterns = [
        ("a b c d e -> (a b) c d e", "a b ... -> (a b) ... "),
        ("a b c d e -> a b (c d) e", "... c d e -> ... (c d) e"),
        ("a b c d e -> a b c d e", "... -> ... "),
        ("a b c d e -> (a b c d e)", "... ->  (...)"),
        ("a b c d e -> b (c d e) a", "a b ... -> b (...) a"),
        ("a b c d e -> b (a c d) e", "a b ... e -> b (a ...) e"),
    ]
    all_patterns = identity_patterns + [p for pair in equivalent_rearrange_patterns for p in pair]
    for pattern in all_patterns:
        f.add(src, pattern, shape=[2, 3, 4, 5, 3])
    # the same patterns with '...' on other ranks
    for pattern in all_patterns:
        if "..." in pattern:
            f.add(src, pattern, shape=[2, 3, 1, 2, 3, 2])
    f.add(src, "a b c d ... ->  a b c ... d", shape=[1, 1, 1, 1, 1])
    f.add(src, "... ->  (...)", shape=[1, 1, 1, 1, 1])

    # test_rearrange_consistency_numpy (shape scaled down from [1, 2, 3, 5, 7, 11])
    shape6 = [1, 2, 3, 5, 2, 3]
    for pattern in [
        "a b c d e f -> a b c d e f",
        "b a c d e f -> a b d e f c",
        "a b c d e f -> f e d c b a",
        "a b c d e f -> (f e) d (c b a)",
        "a b c d e f -> (f e d c b a)",
        "a b c d e f -> a (b) (c d e) f",
        "a aa aa1 a1a1 aaaa a11 -> a aa aa1 a1a1 aaaa a11",
        "f e d c b a -> a b c d e f",
        "a b c d e f -> (f d) c (e b) a",
    ]:
        f.add(src, pattern, shape=shape6)
    a, b, c, d, e, ff = shape6
    temp_shape = [ff * d, c, e * b, a]
    f.add(src, "(f d) c (e b) a -> a b c d e f", [("b", b), ("d", d)], shape=temp_shape)
    sizes = list(zip("abcdef", shape6))
    f.add(src, "a b c d e f -> (f d) c (e b) a", sizes, shape=shape6)
    f.add(src, "(f d) c (e b) a -> a b c d e f", sizes, shape=temp_shape)
    f.add(src, "a b c -> b c a", shape=[2, 3, 4])

    # test_rearrange_permutations_numpy
    for n_axes in range(1, 9):
        perm = [int(i) for i in rng.permutation(n_axes)]
        left = " ".join(f"i{i}" for i in range(n_axes))
        right = " ".join(f"i{i}" for i in perm)
        f.add(src, f"{left} -> {right}", shape=[2] * n_axes)
        left = " ".join(f"i{i}" for i in range(n_axes)[::-1])
        right = " ".join(f"i{i}" for i in perm[::-1])
        f.add(src, f"{left} -> {right}", shape=[2] * n_axes)

    # test_reduction_stress_imperatives with reduction="rearrange"
    for n_axes in range(0, 6):
        shape = [int(s) for s in rng.integers(2, 4, size=n_axes)]
        perm = [int(i) for i in rng.permutation(n_axes)]
        left = " ".join(f"x{i}" for i in range(n_axes))
        right = " ".join(f"x{i}" for i in perm)
        f.add(src, f"{left}->{right}", shape=shape)

    for pattern, shape, lengths in REARRANGE_EINOPS_EXAMPLES:
        f.add(src, pattern, lengths, shape=shape)

    for pattern, shape, lengths in REARRANGE_HANDWRITTEN:
        f.add("handwritten", pattern, lengths, shape=shape)

    # random valid patterns
    n_random = 0
    while n_random < 170:
        names, lens, use_ell, ell_dims = random_axes(prng, 0, 6, MAX_RANDOM_ELEMENTS, allow_zero=True)
        left, given = random_left(prng, names, lens, use_ell)
        right = random_right(prng, names + (["..."] if use_ell else []))
        shape = input_shape(left, lens, ell_dims)
        pattern = fmt_pattern(left, right, prng)
        f.add("random", pattern, shuffled_items(prng, given), spec=f.maybe_strided(shape))
        n_random += 1

    # list inputs: test_concatenations_and_stacking / test_list_inputs, then handwritten
    for n_arrays in [1, 2, 5]:
        for shape in [[], [1], [1, 1], [2, 3, 5], [1] * 6]:
            for pattern in ["...->...", "b ... -> ... b"]:
                f.add_list("list", pattern, [], shape, n_arrays)
    f.add_list("list", "... -> (...)", [], [3, 2, 2, 3], 2)
    for pattern, shape, n, lengths in [
        ("n a b -> a (n b)", [2, 3], 2, []),
        ("n h w -> h w n", [2, 2], 3, []),
        ("n a -> (a n)", [4], 3, []),
        ("n ... -> (... n)", [2, 2], 2, []),
        ("n (a b) -> a n b", [6], 2, [("a", 2)]),
        ("(n1 n2) a -> n2 a n1", [3], 4, [("n1", 2)]),
        ("n a b -> b a n", [2, 3], 3, []),
        ("n a b -> (n a) b", [3, 2], 2, []),
        ("n -> n", [], 4, []),
    ]:
        f.add_list("list", pattern, lengths, shape, n, strided_p=0.6)

    f.add_strided_variants(125)

    for pattern, shape, lengths in REARRANGE_ERRORS:
        f.add("error", pattern, lengths, shape=shape)
    # list errors
    f.add("error", "n a -> a n", specs=[spec_of(f.fill.arange([2])), spec_of(f.fill.arange([3]))])
    f.add("error", "n a -> a n", specs=[])
    f.add("error", "n a b -> a b", specs=[spec_of(f.fill.arange([2, 3])), spec_of(f.fill.arange([2, 3]))])
    return f.cases.cases


# ----------------------------------------------------------------- reduce

REDUCE_HANDWRITTEN = [
    ("b c (h 2) (w 2) -> b c h w", [1, 2, 4, 6], []),
    ("b c (2 h) (w 3) -> b c h w", [1, 2, 4, 6], []),
    ("(a 3) -> a", [6], []),
    ("a 2 -> a", [3, 2], []),
    ("2 a -> a", [2, 5], []),
    ("b c h w -> b c () ()", [2, 3, 2, 2], []),
    ("b c h w -> b 1 c 1", [2, 3, 2, 2], []),
    ("b c h w -> () c () ()", [2, 3, 2, 2], []),
    ("b ... -> b", [2, 3, 4], []),
    ("b ... -> b", [3], []),
    ("... b -> b", [2, 2, 3], []),
    ("a ... b -> (b a)", [2, 3, 2, 3], []),
    ("a ... b -> (... a)", [2, 3, 2, 3], []),
    ("a b ->", [3, 4], []),
    ("a b -> ", [1, 5], []),
    ("... ->", [2, 3, 2], []),
    ("... -> ...", [], []),
    ("->", [], []),
    ("a b -> a b", [3, 4], []),
    ("a b -> b a", [3, 4], []),
    ("a b c -> (c a)", [2, 3, 4], []),
    ("a b c -> c", [2, 3, 4], []),
    ("a b c -> a c", [2, 3, 4], []),
    ("(a b) c -> b", [6, 3], [("b", 2)]),
    ("(a b) c -> (c a)", [6, 3], [("a", 3)]),
    ("a (b c) -> (c a)", [2, 6], [("c", 3)]),
    ("batch seq dim -> batch dim", [2, 4, 3], []),
    ("α β -> β", [3, 4], []),
    ("a b -> a", [3, 1], []),
    ("a b -> a", [1, 7], []),
    ("a b c d -> d b", [2, 2, 2, 3], []),
    ("b(h 2)(w 2)->b h w", [2, 4, 4], []),
    ("a b -> a", [3, 0], []),
    ("a b -> b", [0, 3], []),
]

REDUCE_ERRORS = [
    ("a b -> a c", [2, 3], [], "sum"),
    ("a b -> c", [2, 3], [], "max"),
    ("a b -> a 2", [2, 3], [], "sum"),
    ("a b -> (a 2)", [2, 3], [], "min"),
    ("a b -> ...", [2, 3], [], "sum"),
    ("a b -> a a", [2, 3], [], "sum"),
    ("a a -> a", [3, 3], [], "sum"),
    ("a b c -> a", [2, 3], [], "mean"),
    ("a b -> a", [2, 3, 4], [], "prod"),
    ("(a b) -> a", [6], [("b", 4)], "sum"),
    ("(a b) c -> c", [6, 2], [], "sum"),
    ("a b -> a", [2, 3], [("c", 3)], "max"),
    ("a b -> a", [2, 3], [("b", 4)], "sum"),
    ("a (b ...) -> a", [2, 3], [], "sum"),
    ("a b", [2, 3], [], "sum"),
    ("a b -> b -> a", [2, 3], [], "sum"),
    ("2 b -> b", [3, 4], [], "sum"),
    ("(a 2) -> a", [5], [], "max"),
    ("a ... -> ...", [], [], "sum"),
    ("a 1 -> a", [2, 3], [], "sum"),
    ("a_ b -> b", [2, 3], [], "sum"),
    # numpy refuses min/max over an empty set of elements
    ("a b -> a", [3, 0], [], "min"),
    ("a b -> b", [0, 3], [], "max"),
    ("a ->", [0], [], "max"),
]


def build_reduce(rng, prng) -> list[dict]:
    f = EinopsOpFile("reduce", rng, prng)
    src = "einops-tests"
    seen = set()

    def add_once(pattern, lengths, shape, reduction):
        key = (pattern, tuple(map(tuple, lengths)), tuple(shape), reduction)
        if key not in seen:
            seen.add(key)
            f.add(src, pattern, lengths, shape=shape, reduction=reduction)

    # equivalent_reduction_patterns (test_ellipsis_ops_numpy) with min/max/sum
    equivalent_reduction_patterns = [
        ("a b c d e -> ", " ... ->  "),
        ("a b c d e -> (e a)", "a ... e -> (e a)"),
        ("a b c d e -> d (a e)", " a b c d e ... -> d (a e) "),
        ("a b c d e -> (a b)", " ... c d e  -> (...) "),
    ]
    for reduction in ["min", "max", "sum"]:
        for pair in equivalent_reduction_patterns:
            for pattern in pair:
                add_once(pattern, [], [2, 3, 4, 2, 3], reduction)
    # test_reduction_imperatives
    for reduction in REDUCTIONS:
        for pattern, lengths in [
            ("a b c d e -> ", []),
            ("a ... -> ", []),
            ("(a1 a2) ... (e1 e2) -> ", [("a1", 1), ("e2", 2)]),
            ("a b c d e -> (e c) a", []),
            ("a ... c d e -> (e c) a", []),
            ("a b c d e ... -> (e c) a", []),
            ("a b c d e -> (e c a)", []),
            ("(a a2) ... -> (a2 a) ...", [("a2", 1)]),
            ("(a a2) ... (e e2) -> ", [("a2", 1), ("e2", 1)]),
        ]:
            add_once(pattern, lengths, [2, 3, 2, 3, 4], reduction)
    # test_reduction_stress_imperatives
    for reduction in REDUCTIONS:
        for n_axes in range(0, 6):
            shape = [int(s) for s in rng.integers(2, 4, size=n_axes)]
            perm = [int(i) for i in rng.permutation(n_axes)]
            skipped = int(rng.integers(n_axes + 1))
            left = " ".join(f"x{i}" for i in range(n_axes))
            right = " ".join(f"x{i}" for i in perm[skipped:])
            add_once(f"{left}->{right}", [], shape, reduction)
    # test_gradients_imperatives
    for reduction in REDUCTIONS:
        add_once("a b c -> c a", [], [2, 3, 4], reduction)
        add_once("c a -> a c", [], [4, 2], reduction)
        add_once("a (c1 c2) -> a", [("c1", 2)], [2, 4], reduction)
        add_once("... -> ", [], [2], reduction)
    # documentation examples and layer tests
    add_once("b c (h h1) (w w1) -> b c h w", [("h1", 2), ("w1", 2)], [1, 2, 4, 6], "max")
    add_once("b c h w -> b c () ()", [], [2, 3, 2, 2], "max")
    add_once("b c h w -> b ()", [("b", 2)], [2, 3, 2, 2], "sum")
    add_once("b c (h1 h2) (w1 w2) -> b c h1 w1", [("h1", 2), ("h2", 2), ("w2", 2)], [1, 2, 4, 4], "max")
    add_once("b ... c -> b", [("b", 2)], [2, 3, 4], "mean")
    add_once("b c (h h2) (w w2) -> b c h w", [("h2", 2), ("w2", 2)], [2, 1, 4, 4], "max")
    add_once("b hwc -> b", [("hwc", 6)], [2, 6], "mean")
    # test_reduction_imperatives_booleans patterns (with min/max in place of all/any)
    for axis in range(6):
        axes_out = list("abcdef")
        axes_out[axis] = "1"
        for reduction in ["min", "max"]:
            add_once("a b c d e f -> " + " ".join(axes_out), [], [2] * 6, reduction)
    for reduction in ["min", "max"]:
        add_once("a b ... -> 1 1 ...", [], [2] * 6, reduction)
    # check_reversion of test_repeat_numpy / test_anonymous_axes:
    # reduce(repeat(x, left -> right), right -> left) == x
    for rpattern, lengths, shape in REPEAT_REVERSIBLE:
        x = np.arange(math.prod(shape)).reshape(shape)
        repeated = einops.repeat(x, rpattern, **dict(lengths))
        if repeated.size > MAX_ELEMENTS:
            continue
        left, right = rpattern.split("->")
        for reduction in ["min", "max"]:
            add_once(right + "->" + left, lengths, list(repeated.shape), reduction)

    for pattern, shape, lengths in REDUCE_HANDWRITTEN:
        for reduction in REDUCTIONS:
            empty_reduce = 0 in shape and reduction in ("min", "max", "mean")
            if not empty_reduce:
                f.add("handwritten", pattern, lengths, shape=shape, reduction=reduction)

    # random patterns
    count = 0
    while count < 80:
        names, lens, use_ell, ell_dims = random_axes(prng, 1, 5, MAX_RANDOM_ELEMENTS, allow_zero=False)
        left, given = random_left(prng, names, lens, use_ell, anon=prng.random() < 0.3)
        kept = [a for a in names if prng.random() < 0.5]
        if use_ell and prng.random() < 0.5:
            kept.append("...")
        right = random_right(prng, kept)
        shape = input_shape(left, lens, ell_dims)
        if math.prod(shape) > MAX_RANDOM_ELEMENTS:
            continue  # anonymous axes made the input too large
        count += 1
        reduction = prng.choice(REDUCTIONS)
        f.add("random", fmt_pattern(left, right, prng), shuffled_items(prng, given),
              spec=f.maybe_strided(shape, reduction), reduction=reduction)

    # list inputs
    for pattern, shape, n, lengths, reduction in [
        ("a ... e -> (...)", [3, 2, 2, 3], 2, [], "min"),
        ("n a b -> a b", [2, 3], 3, [], "sum"),
        ("n a b -> n", [2, 3], 3, [], "max"),
        ("n ... -> ...", [2, 2], 4, [], "mean"),
        ("n a -> a", [5], 3, [], "prod"),
        ("n (a b) -> b n", [6], 2, [("a", 3)], "sum"),
        ("n a b ->", [2, 2], 2, [], "sum"),
        ("n a b -> (b n)", [3, 2], 2, [], "min"),
    ]:
        f.add_list("list", pattern, lengths, shape, n, reduction=reduction, strided_p=0.5)

    f.add_strided_variants(130)

    for pattern, shape, lengths, reduction in REDUCE_ERRORS:
        f.add("error", pattern, lengths, shape=shape, reduction=reduction)
    f.add("error", "n a -> a", reduction="sum",
          specs=[spec_of(f.fill.small([2])), spec_of(f.fill.small([3]))])
    return f.cases.cases


# ----------------------------------------------------------------- repeat

# (pattern, lengths, shape) from einops' repeat_test_cases / test_cases_repeat_anonymous
REPEAT_REVERSIBLE = [
    ("a b c -> c a b", [], [2, 3, 5]),
    ("a b c -> (c copy a b)", [("copy", 2), ("a", 2), ("b", 3), ("c", 5)], [2, 3, 5]),
    ("a b c -> (a copy) b c ", [("copy", 1)], [2, 3, 5]),
    ("a b c -> (c a) (copy1 b copy2)", [("a", 2), ("copy1", 1), ("copy2", 2)], [2, 3, 5]),
    ("a ...  -> a ... copy", [("copy", 4)], [2, 3, 5]),
    ("... c -> ... (copy1 c copy2)", [("copy1", 1), ("copy2", 2)], [2, 3, 5]),
    ("...  -> ... ", [], [2, 3, 5]),
    (" ...  -> copy1 ... copy2 ", [("copy1", 2), ("copy2", 3)], [2, 3, 5]),
    ("a b c  -> copy1 a copy2 b c () ", [("copy1", 2), ("copy2", 1)], [2, 3, 5]),
    ("a b c d -> c a d b", [], [1, 2, 4, 6]),
    ("a b c d -> (c 2 d a b)", [("a", 1), ("c", 4), ("d", 6)], [1, 2, 4, 6]),
    ("1 b c d -> (d copy 1) 3 b c ", [("copy", 3)], [1, 2, 4, 6]),
    ("1 ...  -> 3 ... ", [], [1, 2, 4, 6]),
    ("() ... d -> 1 (copy1 d copy2) ... ", [("copy1", 2), ("copy2", 3)], [1, 2, 4, 6]),
    ("1 b c d -> (1 1) (1 b) 2 c 3 d (1 1)", [], [1, 2, 4, 6]),
]

REPEAT_HANDWRITTEN = [
    ("h w -> h w c", [2, 3], [("c", 3)]),
    ("h w -> c h w", [2, 3], [("c", 2)]),
    ("h w -> h c w", [2, 3], [("c", 2)]),
    ("h w -> h (w 2)", [2, 3], []),
    ("h w -> h (2 w)", [2, 3], []),
    ("h w -> (2 h) w", [2, 3], []),
    ("h w -> (h 2) w", [2, 3], []),
    ("h w -> (h r) w", [2, 3], [("r", 2)]),
    ("h w -> (r h) (w s)", [2, 3], [("r", 2), ("s", 3)]),
    ("h w -> h w c", [2, 3], [("c", 0)]),
    ("h w -> (h c) w", [2, 3], [("c", 0)]),
    ("h w -> h w c", [0, 3], [("c", 2)]),
    ("h w -> 3 h w", [2, 2], []),
    ("h w -> h 1 w", [2, 3], []),
    ("h w -> h () w 2", [2, 3], []),
    ("h w -> w h", [2, 3], []),
    ("h w -> (w h)", [2, 3], []),
    ("h w -> h w", [2, 3], []),
    ("h w -> h w c", [2, 3], [("h", 2), ("c", 3)]),
    ("(h h2) w -> h (w h2)", [4, 3], [("h2", 2)]),
    ("(h h2) w -> h w c h2", [4, 3], [("h2", 2), ("c", 2)]),
    ("... -> ... c", [2, 3], [("c", 2)]),
    ("... -> c ...", [2, 2], [("c", 3)]),
    ("a ... -> a (... r)", [2, 3, 2], [("r", 2)]),
    ("a ... -> (r ...) a", [2, 3], [("r", 2)]),
    ("... -> (...) c", [2, 3], [("c", 2)]),
    ("-> c", [], [("c", 4)]),
    ("-> (a b)", [], [("a", 2), ("b", 3)]),
    ("-> a 2", [], [("a", 2)]),
    ("... -> ... 3", [], []),
    ("a -> a b", [5], [("b", 1)]),
    ("a -> (b a)", [5], [("b", 2)]),
    ("α -> α β", [3], [("β", 2)]),
    ("batch dim -> batch heads dim", [2, 3], [("heads", 2)]),
    ("h w->h(w 2)c", [2, 3], [("c", 2)]),
    ("1 a -> 3 a", [1, 4], []),
    ("a 1 -> a 2", [4, 1], []),
    ("a () -> a (1 c 1)", [3, 1], [("c", 2)]),
    ("a b -> (a 2) (b 3)", [2, 2], []),
    ("a b -> b c a", [2, 0], [("c", 3)]),
]

REPEAT_ERRORS = [
    ("h w -> h w c", [2, 3], []),
    ("h w -> h c", [2, 3], [("c", 2)]),
    ("h w -> h", [2, 3], []),
    ("h w -> ... h w", [2, 3], []),
    ("h ... -> h", [2, 3], []),
    ("2 h -> h", [2, 3], []),
    ("(h 2) w -> h w", [4, 3], []),
    ("h w -> h w c", [2, 3, 4], [("c", 3)]),
    ("h w -> h w h", [2, 3], []),
    ("h w -> (h h) w", [2, 3], []),
    ("h w -> h w", [2, 3], [("c", 3)]),
    ("(h r) w -> h w r", [6, 2], [("r", 4)]),
    ("h w -> h w c", [2, 3], [("h", 5), ("c", 3)]),
    ("h w -> h (w c", [2, 3], [("c", 2)]),
    ("h w -> h w 0", [2, 3], []),
    ("h h -> h", [2, 2], []),
    ("h w -> h w c d", [2, 3], [("c", 2)]),
    ("h w -> h w _c", [2, 3], [("_c", 2)]),
    ("(h r c) w -> h w", [12, 2], [("r", 2)]),
    ("h w", [2, 3], []),
]


def build_repeat(rng, prng) -> list[dict]:
    f = EinopsOpFile("repeat", rng, prng)
    src = "einops-tests"
    for pattern, lengths, shape in REPEAT_REVERSIBLE:
        f.add(src, pattern, lengths, shape=shape)
    f.add(src, "a b c -> copy a b c ", [("copy", 1)], shape=[2, 3, 5])

    for pattern, shape, lengths in REPEAT_HANDWRITTEN:
        f.add("handwritten", pattern, lengths, shape=shape)

    # random patterns
    count = 0
    while count < 70:
        names, lens, use_ell, ell_dims = random_axes(prng, 0, 4, 120, allow_zero=True)
        left, given = random_left(prng, names, lens, use_ell)
        new = pick_names(prng, len(names) + prng.randint(1, 2))[len(names):]
        new = [a for a in new if a not in names]
        for a in new:
            given[a] = prng.choice([1, 2, 2, 3]) if prng.random() > 0.05 else 0
        extra = [str(prng.choice([2, 3])) for _ in range(prng.randint(0, 1))]
        items = names + new + extra + (["..."] if use_ell else [])
        right = random_right(prng, items)
        shape = input_shape(left, lens, ell_dims)
        out_size = math.prod(shape) * math.prod(given[a] for a in new) * math.prod(int(k) for k in extra)
        if out_size > 500:
            continue
        f.add("random", fmt_pattern(left, right, prng), shuffled_items(prng, given), spec=f.maybe_strided(shape))
        count += 1

    # list inputs
    f.add_list("list", "...  -> b (...)", [("b", 3)], [3, 2, 2], 2)
    for pattern, shape, n, lengths in [
        ("n a -> a n c", [3], 2, [("c", 2)]),
        ("n a b -> (n r) a b", [2, 2], 2, [("r", 2)]),
        ("n ... -> ... (n 2)", [2, 3], 2, []),
        ("n a -> c (a n)", [2], 3, [("c", 3)]),
        ("n -> n c", [], 3, [("c", 2)]),
        ("n a b -> b a n", [2, 3], 2, []),
    ]:
        f.add_list("list", pattern, lengths, shape, n, strided_p=0.6)

    f.add_strided_variants(50)

    for pattern, shape, lengths in REPEAT_ERRORS:
        f.add("error", pattern, lengths, shape=shape)
    f.add("error", "n a -> a n c", [("c", 2)], specs=[spec_of(f.fill.arange([2])), spec_of(f.fill.arange([3]))])
    return f.cases.cases


# --------------------------------------------------------------------------
# pack / unpack
# --------------------------------------------------------------------------


def build_pack(rng, prng) -> list[dict]:
    fill = Fill(rng)
    cases = CaseList("pack")
    counter = [0]

    def arange_spec(shape, strided=False):
        counter[0] += 1
        offset = 1000 * counter[0]
        if strided and shape:
            spec = strided_spec(shape, lambda s: fill.arange(s, offset), prng)
            if spec is not None:
                return spec
        return spec_of(fill.arange(shape, offset))

    def add_pack(source, pattern, shapes, strided=(), extra=None):
        specs = [arange_spec(s, i in strided) for i, s in enumerate(shapes)]
        case = {"id": cases.new_id(source), "source": source, "kind": "pack", "pattern": pattern,
                "inputs": specs}
        arrays = [materialize(s) for s in specs]
        result = run_guarded(case, source, lambda: einops.pack(arrays, pattern))
        if "error" not in case:
            packed, ps = result
            case["expect"] = {"packed": encode(packed),
                              "packed_shapes": [[int(d) for d in p] for p in ps]}
        if extra:
            case.update(extra)
        return cases.add(case)

    def add_unpack(source, pattern, shape, packed_shapes, strided=False, extra=None, expect_error=None):
        spec = arange_spec(shape, strided)
        case = {"id": cases.new_id(source), "source": source, "kind": "unpack", "pattern": pattern,
                "input": spec, "packed_shapes": [list(p) for p in packed_shapes]}
        x = materialize(spec)
        result = run_guarded(case, source, lambda: einops.unpack(x, [tuple(p) for p in packed_shapes], pattern),
                             expect_error=expect_error)
        if "error" not in case:
            case["expect"] = [encode(r) for r in result]
        if extra:
            case.update(extra)
        return cases.add(case)

    src = "einops-tests"
    # test_numpy_trivial (H=3, W=4)
    h, w = 3, 4
    rgb = [[h, w]] * 3
    for pattern in ["h w *", "h * w", "* h w", "h *", "* w"]:
        add_pack(src, pattern, rgb)
    add_pack(src, "h w *", rgb + [[h, w, 5]])
    add_pack(src, "some_name_for_H some_name_for_w1 *", rgb)
    add_pack(src, "h H *", rgb + [[h, w, 5]])
    # the docstring example, scaled down
    add_pack(src, "i j * k", [[2, 1, 3], [2, 1, 2, 3], [2, 1, 2, 2, 3]])

    hand = "handwritten"
    add_pack(hand, "*", [[], [], [3]])
    add_pack(hand, "*", [[2, 3], [4]])
    add_pack(hand, "*", [[]])
    add_pack(hand, "b *", [[2, 3], [2], [2, 2, 2]])
    add_pack(hand, "* c", [[3, 2], [2, 2, 2], [2]])
    add_pack(hand, "a * b c", [[2, 2, 3], [2, 3, 2, 3]])
    add_pack(hand, "a b *", [[2, 3]])
    add_pack(hand, "a b *", [[2, 3], [2, 3, 0], [2, 3, 2]])
    add_pack(hand, "a *", [[2, 0], [2, 3]])
    add_pack(hand, "* c", [[0, 3], [2, 3]])
    add_pack(hand, "a * b", [[2, 0, 2], [2, 3, 2]])
    add_pack(hand, "batch * dim", [[2, 3], [2, 2, 3], [2, 1, 2, 3]])
    add_pack(hand, "α *", [[2], [2, 2]])
    for shapes, pattern in [
        ([[2, 3], [2, 2, 2]], "a *"),
        ([[3, 2], [2, 2, 2]], "* c"),
        ([[2, 3], [2, 2, 3], [2, 3]], "a * b"),
        ([[2, 2, 3], [4, 2, 3]], "* b c"),
        ([[4], [2, 3]], "*"),
        ([[3, 2, 2], [3, 2]], "a * b"),
    ]:
        add_pack("strided", pattern, shapes, strided=set(range(len(shapes))))
    for shapes, pattern, strided in [
        ([[2, 3], [2, 2, 2]], "a *", {1}),
        ([[2, 3, 3], [2, 3], [2, 1, 3]], "a * c", {0, 2}),
        ([[3, 4], [3, 2]], "h *", {0}),
        ([[2, 2], [3, 2]], "* w", {1}),
        ([[2, 3], [2]], "b *", {0}),
        ([[], [2, 2], [3]], "*", {1, 2}),
        ([[2, 2, 2], [2, 1, 2], [2, 3, 2]], "a * b", {0, 1}),
    ]:
        add_pack("strided", pattern, shapes, strided=strided)

    # pack errors
    emb = rgb + [[h, w, 5]]
    for pattern in ["h w nonexisting_axis *", "h _w *", "h_ w *", "1h_ w *", "1 w *", "h h *"]:
        add_pack("error", pattern, emb)
    for pattern, shapes in [
        ("h w", [[3, 4], [3, 4]]),
        ("* h *", [[2, 3], [2, 3]]),
        ("h w *", [[3, 4], [3, 5]]),
        ("* c", [[3, 2], [3, 3]]),
        ("a * b", [[2, 3, 4], [3, 3, 4]]),
        ("h w *", [[3]]),
        ("a b c *", [[2, 3], [2, 3, 4, 5]]),
        ("h (w) *", [[3, 4]]),
        ("h ... *", [[3, 4]]),
        ("h w2_ *", [[3, 4]]),
        ("a *", []),
    ]:
        add_pack("error", pattern, shapes)

    # unpack: the UnpackTestCase table (unpacked axis has length 5)
    unpack_table = [
        ((5,), "*"),
        ((5, 7), "* seven"),
        ((7, 5), "seven *"),
        ((5, 3, 4), "* three four"),
        ((4, 5, 3), "four * three"),
        ((3, 4, 5), "three four *"),
    ]
    small = {7: 2, 3: 2, 4: 3}  # keep the other axes small
    for shape, pattern in unpack_table:
        shape = [d if d == 5 else small[d] for d in shape]
        for ps in ([[2], [1], [2]], [[1, 2], [1, 1], [2, 1]], [[0], [5], [0]], [[2], [3], [0]]):
            add_unpack(src, pattern, shape, ps)
        add_unpack("error", pattern + " non_existent_axis", shape, [[2], [1], [2]])
        add_unpack("error", pattern, shape, [[2], [1], [1]])
        add_unpack("error", pattern, shape, [[4], [1], [1]])

    add_unpack(hand, "*", [3], [[], [], []])
    add_unpack(hand, "*", [6], [[2, 3]])
    add_unpack(hand, "a *", [2, 6], [[], [2], [3]])
    add_unpack(hand, "a * b", [2, 7, 2], [[3], [2, 2]])
    add_unpack(hand, "a * b", [2, 0, 2], [[0], [2, 0]])
    add_unpack(hand, "* c", [6, 2], [[2, 1], [1, 3], [1]])
    add_unpack(hand, "a b *", [2, 2, 4], [[4]])
    add_unpack(hand, "batch * dim", [2, 5, 3], [[], [2, 2]])
    for shape, pattern, ps in [
        ([2, 6], "a *", [[2], [2, 2]]),
        ([6, 2], "* c", [[3], [3]]),
        ([2, 5, 2], "a * b", [[1], [2, 2]]),
        ([5], "*", [[2], [], [2]]),
        ([3, 4, 3], "a b *", [[2], []]),
        ([2, 6, 2], "a * b", [[2], [2, 2]]),
        ([4, 3], "* c", [[1], [1, 3]]),
    ]:
        add_unpack("strided", pattern, shape, ps, strided=True)

    # unpack errors
    for pattern, shape, ps in [
        ("a b", [2, 3], [[1], [1]]),
        ("* a *", [2, 3], [[1], [1]]),
        ("a *", [2, 3, 4], [[2], [1]]),
        ("a *", [2], [[1], [1]]),
        ("a *", [2, 5], [[2], [4]]),
        ("a *", [2, 5], [[6]]),
        ("*", [5], [[2, 2]]),
        ("*", [6], [[2], [2, 3]]),
        ("_a *", [2, 3], [[3]]),
        ("a a *", [2, 2, 3], [[3]]),
    ]:
        add_unpack("error", pattern, shape, ps)

    # einops does not notice packed shapes that do not add up when the
    # tensor has no elements: reshaping an empty slice succeeds for any
    # shape with a zero-length axis elsewhere.
    why = ("the crate checks that the packed shapes add up to the length of the * axis "
           "instead of relying on reshape failures, which cannot happen for empty tensors")
    for pattern, shape, ps in [
        ("a *", [0, 5], [[2], [1]]),
        ("a *", [0, 5], [[3], [4]]),
        ("a b *", [2, 0, 5], [[1], [1]]),
        ("* c", [4, 0], [[1], [1, 2], [7]]),
    ]:
        spec = arange_spec(shape)
        x = materialize(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            returned = einops.unpack(x, [tuple(p) for p in ps], pattern)
        cases.add({
            "id": cases.new_id("error"), "source": "error", "kind": "unpack", "pattern": pattern,
            "input": spec, "packed_shapes": ps, "expect": None,
            "error": "packed shapes do not add up",
            "einops_result": "silently returned",
            "einops_shapes": [[int(d) for d in r.shape] for r in returned],
            "deliberate_difference": why,
        })
    return cases.cases


# --------------------------------------------------------------------------
# parse_shape
# --------------------------------------------------------------------------

PARSE_SHAPE_TABLE = [
    # (source, pattern, shape)
    ("einops-tests", "a b c d", [10, 20, 30, 40]),
    ("einops-tests", "_ _ _ _", [10, 20, 30, 40]),
    ("einops-tests", "_ _ _ hello", [10, 20, 30, 40]),
    ("einops-tests", "_ _ a1 a1a111a", [10, 20, 30, 40]),
    ("einops-tests", "...", [10, 20]),
    ("einops-tests", "... a", [10]),
    ("einops-tests", "... a", [10, 20]),
    ("einops-tests", "... a", [10, 20, 30]),
    ("einops-tests", "... a", [10, 20, 30, 40]),
    ("einops-tests", "a ...", [10]),
    ("einops-tests", "a ...", [10, 20]),
    ("einops-tests", "a ...", [10, 20, 30]),
    ("einops-tests", "a ...", [10, 20, 30, 40]),
    ("einops-tests", " a ... b", [10, 20, 30, 40]),
    ("einops-tests", " a ... b", [10, 40]),
    ("einops-tests", "1 2 3 a", [1, 2, 3, 4]),
    ("einops-tests", "a 1 2", [10, 1, 2]),
    ("einops-tests", "a () 2", [10, 1, 2]),
    ("einops-tests", "b _ h w", [2, 3, 5, 7]),
    ("einops-tests", "a b c1 _", [10, 20, 30, 40]),
    ("handwritten", "", []),
    ("handwritten", "...", []),
    ("handwritten", "... _", [2, 3, 4]),
    ("handwritten", "_ ... _", [2, 3]),
    ("handwritten", "_ ... _", [2, 3, 4, 5]),
    ("handwritten", "a ... b", [0, 3]),
    ("handwritten", "batch seq dim", [2, 0, 7]),
    ("handwritten", "α β", [3, 4]),
    ("handwritten", "() a", [1, 6]),
    ("handwritten", "1 ... 1", [1, 1]),
    ("handwritten", "a 3", [4, 3]),
    ("handwritten", "  a   b  ", [4, 3]),
    ("handwritten", "A a", [4, 3]),
    ("handwritten", "x_y _", [4, 3]),
    ("handwritten", "(a) b c", [2, 3, 4]),
    ("handwritten", "(1 a) b", [2, 3]),
    # errors
    ("error", "a a b b", [10, 20, 30, 40]),
    ("error", "a b c", [1, 2, 3, 4]),
    ("error", "2 a b c", [1, 2, 3, 4]),
    ("error", "a b c ()", [1, 2, 3, 4]),
    ("error", "a b c d e", [1, 2, 3, 4]),
    ("error", "a b c d e ...", [1, 2, 3, 4]),
    ("error", "(a b) c", [6, 4]),
    ("error", "a (b c)", [6, 4]),
    ("error", "(a 2) c", [6, 4]),
    ("error", "_a b", [6, 4]),
    ("error", "a_ b", [6, 4]),
    ("error", "2a b", [6, 4]),
    ("error", "a .. b", [6, 4]),
    ("error", "... a ...", [6, 4]),
    ("error", "(a ...)", [6, 4]),
    ("error", "a b -> a", [6, 4]),
    ("error", "a b", []),
    ("error", "a", [2, 3]),
    ("error", "", [2]),
    ("error", "a 3", [4, 5]),
    ("error", "a ()", [4, 5]),
    ("error", "a (b", [4, 5]),
    ("error", "a b)", [4, 5]),
    ("error", "a 0", [4, 5]),
    ("error", "a\tb", [4, 5]),
]


def build_parse_shape(rng, prng) -> list[dict]:
    cases = CaseList("parse_shape")
    for source, pattern, shape in PARSE_SHAPE_TABLE:
        case = {"id": cases.new_id(source), "source": source, "pattern": pattern, "shape": shape}
        x = np.zeros(shape, dtype=np.int8)
        result = run_guarded(case, source, lambda: einops.parse_shape(x, pattern))
        if "error" not in case:
            case["expect"] = {k: int(v) for k, v in result.items()}
        cases.add(case)
    return cases.cases


# --------------------------------------------------------------------------
# einsum
# --------------------------------------------------------------------------

# (pattern, operand shapes) from einops' test_einsum.py (shapes scaled down)
# and einops documentation examples
EINSUM_EINOPS = [
    ("b c h w, b w -> b h", [[2, 3, 4, 5], [2, 5]]),
    ("b c h w, b w, b c -> b h", [[2, 3, 4, 5], [2, 5], [2, 3]]),
    ("... one two three, three four five -> ... two five", [[3, 2, 2, 3, 4], [4, 2, 3]]),
    ("one two three ..., three four five -> two five ...", [[2, 3, 4, 3, 2], [4, 2, 3]]),
    ("... one two three, ... three four five -> ... two five", [[3, 2, 2, 3, 4], [3, 2, 4, 2, 3]]),
    ("first_tensor second_tensor -> first_tensor", [[5, 4]]),
    ("i i -> ", [[5, 5]]),
    (" one  two  ,  three four->two  four  ", [[2, 3], [4, 5]]),
    ("i middle i -> middle", [[4, 6, 4]]),
    ("i ... i -> ...", [[3, 3, 2, 1, 2, 3]]),
    ("i ... i -> i ...", [[3, 3, 2, 1, 2, 3]]),
    ("one one one -> one", [[5, 5, 5]]),
    ("i j k -> j i k", [[1, 2, 3]]),
    ("... -> ...", [[5, 4, 3, 2, 1]]),
    ("..., ..., ... -> ...", [[3, 2], [3, 2], [3, 2]]),
    ("index ->", [[10]]),
    ("a b c, c b d, a g k -> a b k", [[2, 3, 2], [2, 3, 2], [2, 2, 3]]),
    ("batch h w, h w channel -> batch channel", [[3, 2, 2], [2, 2, 4]]),
    ("out_dim in_dim, ... in_dim -> ... out_dim", [[2, 4], [5, 3, 4]]),
    ("a b c , a b c d -> d", [[2, 3, 2], [2, 3, 2, 4]]),
]

EINSUM_NUMPY = [
    ("i j, j k -> i k", [[2, 3], [3, 4]]),
    ("i j, j k -> k i", [[2, 3], [3, 4]]),
    ("i j, k j -> i k", [[2, 3], [4, 3]]),
    ("j i, j k -> i k", [[3, 2], [3, 4]]),
    ("b i j, b j k -> b i k", [[2, 2, 3], [2, 3, 2]]),
    ("b i j, j k -> b i k", [[2, 2, 3], [3, 4]]),
    ("b i j, b j k -> i b k", [[3, 2, 2], [3, 2, 3]]),
    ("i, j -> i j", [[3], [4]]),
    ("i, j, k -> i j k", [[2], [3], [2]]),
    ("a b, c d -> a b c d", [[2, 2], [2, 3]]),
    ("a b, c d -> d b c a", [[2, 2], [2, 3]]),
    ("i i ->", [[3, 3]]),
    ("i i -> i", [[4, 4]]),
    ("b i i -> b i", [[2, 3, 3]]),
    ("b i i -> b", [[2, 3, 3]]),
    ("i j i -> j", [[3, 2, 3]]),
    ("i j i -> i j", [[3, 2, 3]]),
    ("i j j i -> i", [[2, 3, 3, 2]]),
    ("i i i -> i", [[3, 3, 3]]),
    ("i i j, j k -> i k", [[3, 3, 2], [2, 2]]),
    ("a b -> a", [[3, 4]]),
    ("a b -> b", [[3, 4]]),
    ("a b ->", [[3, 4]]),
    ("a b c -> b", [[2, 3, 4]]),
    ("a b c -> c a", [[2, 3, 4]]),
    ("a b -> b a", [[3, 4]]),
    ("a b c -> c b a", [[2, 3, 4]]),
    ("a -> a", [[4]]),
    ("a ->", [[5]]),
    (" -> ", [[]]),
    (", -> ", [[], []]),
    ("a, -> a", [[3], []]),
    ("i, i ->", [[4], [4]]),
    ("i, i -> i", [[4], [4]]),
    ("a b, a b -> a b", [[2, 3], [2, 3]]),
    ("a b, a b ->", [[2, 3], [2, 3]]),
    ("a b, b a -> a", [[2, 3], [3, 2]]),
    ("a b, a b, a b -> b", [[2, 3], [2, 3], [2, 3]]),
    ("i j, j k, k l -> i l", [[2, 3], [3, 2], [2, 4]]),
    ("a b, b c, c a ->", [[2, 3], [3, 4], [4, 2]]),
    ("a b, b c, c d -> d a", [[2, 3], [3, 2], [2, 2]]),
    ("b h q d, b h k d -> b h q k", [[1, 2, 3, 2], [1, 2, 2, 2]]),
    ("b h q k, b h k d -> b q h d", [[1, 2, 3, 2], [1, 2, 2, 3]]),
    ("batch seq dim, dim out -> batch seq out", [[2, 3, 4], [4, 2]]),
    ("query key, key value -> value query", [[3, 2], [2, 4]]),
    ("α β, β γ -> α γ", [[2, 3], [3, 2]]),
    ("... i j, ... j k -> ... i k", [[2, 2, 3], [2, 3, 2]]),
    ("... i j, ... j k -> ... i k", [[2, 3, 2, 2], [2, 3, 2, 3]]),
    ("... i j, ... j k -> ... i k", [[2, 3], [3, 4]]),
    ("i j ..., j k ... -> i k ...", [[2, 3, 2], [3, 2, 2]]),
    ("... i -> i ...", [[2, 3, 4]]),
    ("... i i -> ... i", [[2, 3, 3]]),
    ("..., ... -> ...", [[2, 3], [2, 3]]),
    ("a ... -> ...", [[3, 2, 2]]),
    ("a b, c -> a", [[2, 3], [4]]),
    ("a b, b c, d -> a", [[2, 3], [3, 2], [2]]),
    ("a b c, d -> a d", [[2, 2, 2], [3]]),
    ("a, b -> ", [[3], [4]]),
    ("x y, y z -> x y z", [[2, 3], [3, 2]]),
    ("i j -> i j", [[2, 3]]),
    ("i j k, i j k -> k j i", [[2, 2, 3], [2, 2, 3]]),
    ("a b, a b, a b -> a b", [[2, 3], [2, 3], [2, 3]]),
    ("i j, j k -> i k", [[2, 0], [0, 3]]),
    ("i j -> i", [[0, 3]]),
    ("i j, j -> i", [[3, 1], [1]]),
]

EINSUM_GROUPS = [
    ("b (g ci) h w, g co ci -> b (g co) h w", [[1, 4, 2, 2], [2, 3, 2]], [("g", 2)]),
    ("(a b) c, c d -> a (b d)", [[6, 2], [2, 3]], [("a", 2)]),
    ("(a b) c, c d -> a (b d)", [[6, 2], [2, 3]], [("b", 3)]),
    ("(a b) -> a b", [[6]], [("a", 2)]),
    ("a b -> (a b)", [[2, 3]], []),
    ("a b -> (b a)", [[2, 3]], []),
    ("(b i) j, j k -> b i k", [[4, 3], [3, 2]], [("b", 2)]),
    ("i (j k), j k -> i", [[2, 6], [2, 3]], [("j", 2)]),
    ("(h w) c -> c (w h)", [[6, 2]], [("w", 3)]),
    ("b (h w), h w -> b", [[2, 6], [2, 3]], [("h", 2)]),
    ("x y, y z -> (x z)", [[2, 3], [3, 2]], []),
    ("(x y), y z -> (z x)", [[6], [3, 2]], [("y", 3)]),
    ("b (t c), c d -> (b t) d", [[2, 6], [3, 2]], [("c", 3)]),
    ("(a b), (b c) -> (a c)", [[6], [6]], [("b", 2)]),
    ("(a b) (c d), b d -> (a c)", [[4, 6], [2, 3]], [("b", 2), ("d", 3)]),
    ("i (j k) -> (k i) j", [[2, 6]], [("j", 3)]),
    ("(a a2) b, b c -> a (a2 c)", [[4, 3], [3, 2]], [("a2", 2)]),
    ("b (g ci), g co ci -> b (g co)", [[2, 6], [2, 2, 3]], [("g", 2)]),
    ("... (h d), h d e -> ... (h e)", [[2, 6], [2, 3, 2]], [("h", 2)]),
    ("(b s) d, d e -> b s e", [[6, 2], [2, 3]], [("s", 3)]),
    ("b i j, b j k -> (b i) k", [[2, 2, 3], [2, 3, 2]], []),
    ("b i j, b j k -> (i b k)", [[2, 2, 3], [2, 3, 2]], []),
    ("a (b c) -> (a c)", [[2, 6]], [("b", 2)]),
    ("(i i2) (j j2) -> (i j)", [[4, 6]], [("i2", 2), ("j2", 2)]),
    ("b(g ci)h w,g co ci->b(g co)h w", [[1, 6, 2, 1], [3, 2, 2]], [("g", 3)]),
    ("a b, (b c) -> (a c)", [[2, 3], [6]], [("c", 2)]),
    ("(a b) c, c -> b a", [[6, 2], [2]], [("a", 3)]),
    ("(a b) c, c -> b a", [[6, 2], [2]], [("a", 3), ("b", 2)]),
]

EINSUM_ERRORS = [
    # operand count mismatch
    ("a b, b c -> a c", [[2, 3]], []),
    ("a b -> a", [[2, 3], [2, 3]], []),
    ("a, b, c -> a b c", [[2], [3]], []),
    # rank mismatch
    ("a b c -> a", [[2, 3]], []),
    ("a b -> a", [[2, 3, 4]], []),
    ("a b, b c -> a c", [[2, 3], [3]], []),
    # the same axis with different lengths
    ("i j, j k -> i k", [[2, 3], [4, 2]], []),
    ("a b, a b -> a", [[2, 3], [3, 2]], []),
    ("i i -> i", [[2, 3]], []),
    ("b i j, b j k -> b i k", [[2, 2, 3], [3, 3, 2]], []),
    # output axes missing from the inputs / duplicated
    ("a b -> c", [[2, 3]], []),
    ("a b, b c -> a d", [[2, 3], [3, 2]], []),
    ("a b -> a a", [[2, 3]], []),
    # malformed patterns
    ("a b, b c", [[2, 3], [3, 2]], []),
    ("a b -> b -> a", [[2, 3]], []),
    ("i 2j -> i", [[2, 3]], []),
    ("a (b -> a", [[2, 3]], []),
    ("a b -> a, b", [[2, 3]], []),
    ("_a b -> b", [[2, 3]], []),
    # groups that cannot be resolved
    ("(a b) c, c d -> a b d", [[6, 2], [2, 3]], []),
    ("(a b) -> a b", [[6]], [("a", 4)]),
    ("(a b) c -> a c", [[6, 2]], [("a", 2), ("b", 2)]),
]


def split_einsum_side(side: str):
    """Tokenise one side of an einsum pattern into axes and groups (lists)."""
    tokens = []
    group = None
    name = ""
    for ch in side + " ":
        if ch in " ()":
            if name:
                (group if group is not None else tokens).append(name)
                name = ""
            if ch == "(":
                group = []
            elif ch == ")":
                tokens.append(group)
                group = None
        else:
            name += ch
    return tokens


def flat_side(tokens) -> str:
    out = []
    for t in tokens:
        out.extend(t if isinstance(t, list) else [t])
    return " ".join(out)


def group_composed_einsum(pattern: str, lengths, arrays):
    """Reference for patterns with groups: ungroup, einsum, regroup."""
    lhs, rhs = pattern.split("->")
    lengths = dict(lengths)
    flat_operands = []
    flat_arrays = []
    for side, x in zip(lhs.split(","), arrays):
        tokens = split_einsum_side(side)
        flat = flat_side(tokens)
        flat_operands.append(flat)
        if any(isinstance(t, list) for t in tokens):
            names = set(flat.split())
            kw = {k: v for k, v in lengths.items() if k in names}
            x = einops.rearrange(x, f"{side} -> {flat}", **kw)
        flat_arrays.append(x)
    out_tokens = split_einsum_side(rhs)
    flat_out = flat_side(out_tokens)
    result = einops.einsum(*flat_arrays, ", ".join(flat_operands) + " -> " + flat_out)
    if any(isinstance(t, list) for t in out_tokens):
        result = einops.rearrange(result, f"{flat_out} -> {rhs}")
    return result


def build_einsum(rng, prng) -> list[dict]:
    fill = Fill(rng)
    cases = CaseList("einsum")

    def operand_spec(shape, strided=False):
        if strided and shape:
            spec = strided_spec(shape, lambda s: fill.small(s, -3, 3), prng, max_base=300)
            if spec is not None:
                return spec
        return spec_of(fill.small(shape, -3, 3))

    def add(source, pattern, shapes=None, lengths=(), *, specs=None, strided=(), id_source=None,
            extra=None):
        if specs is None:
            specs = [operand_spec(s, i in strided) for i, s in enumerate(shapes)]
        case = {"id": cases.new_id(id_source or source), "source": source, "pattern": pattern,
                "lengths": [[k, int(v)] for k, v in lengths], "operands": specs}
        if extra:
            case.update(extra)
        arrays = [materialize(s) for s in specs]
        grouped = "(" in pattern and ")" in pattern

        def compute():
            if grouped:
                return group_composed_einsum(pattern, lengths, arrays)
            if lengths:
                raise AssertionError("einops.einsum takes no axis lengths")
            return einops.einsum(*arrays, pattern)

        result = run_guarded(case, source, compute)
        if "error" not in case:
            case["expect"] = encode(result)
        return cases.add(case)

    for pattern, shapes in EINSUM_EINOPS:
        add("einops", pattern, shapes)
    for pattern, shapes in EINSUM_NUMPY:
        add("numpy", pattern, shapes)
    for pattern, shapes, lengths in EINSUM_GROUPS:
        add("group-composed", pattern, shapes, lengths)

    # random contractions
    count = 0
    while count < 45:
        pool = pick_names(prng, prng.randint(2, 5))
        lens = {a: prng.randint(1, 4) for a in pool}
        n_ops = prng.choice([1, 2, 2, 2, 3, 3])
        operands = []
        for _ in range(n_ops):
            n_axes = 0 if prng.random() < 0.08 else prng.randint(1, min(4, len(pool)))
            axes = prng.sample(pool, n_axes)
            if axes and prng.random() < 0.12:
                axes.insert(prng.randint(0, len(axes)), prng.choice(axes))  # a diagonal
            operands.append(axes)
        used = sorted({a for axes in operands for a in axes}, key=pool.index)
        out = prng.sample(used, prng.randint(0, len(used)))
        shapes = [[lens[a] for a in axes] for axes in operands]
        if any(math.prod(s) > 120 for s in shapes) or math.prod(lens[a] for a in out) > 150:
            continue
        sep = prng.choice([", ", ",", " , "])
        pattern = sep.join(" ".join(axes) for axes in operands) + " -> " + " ".join(out)
        add("numpy", pattern, shapes, id_source="random",
            strided=set(i for i in range(n_ops) if prng.random() < 0.2))
        count += 1

    # strided re-runs of successful cases
    pool = [c for c in cases.cases if c.get("expect") is not None
            and any(s["base_shape"] for s in c["operands"]) and not has_ops(c)]
    chosen = prng.sample(pool, min(55, len(pool)))
    chosen.sort(key=lambda c: c["id"])
    for c in chosen:
        shapes = [s["base_shape"] for s in c["operands"]]
        nonscalar = [i for i, s in enumerate(shapes) if s]
        strided = set(i for i in nonscalar if prng.random() < 0.6) or {prng.choice(nonscalar)}
        add(c["source"], c["pattern"], shapes, c["lengths"], strided=strided, id_source="strided",
            extra={"variant_of": c["id"]})

    for pattern, shapes, lengths in EINSUM_ERRORS:
        add("error", pattern, shapes, lengths)
    return cases.cases


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

FILES = [
    ("rearrange.json", build_rearrange, "einops.rearrange(input, pattern, **lengths)"),
    ("reduce.json", build_reduce, "einops.reduce(input, pattern, reduction, **lengths)"),
    ("repeat.json", build_repeat, "einops.repeat(input, pattern, **lengths)"),
    ("pack.json", build_pack, "einops.pack(inputs, pattern) / einops.unpack(input, packed_shapes, pattern)"),
    ("parse_shape.json", build_parse_shape, "einops.parse_shape(np.zeros(shape), pattern)"),
    ("einsum.json", build_einsum, "einops.einsum(*operands, pattern)"),
]


def dump(path: Path, oracle: str, cases: list[dict]) -> None:
    header = {
        "einops_version": einops.__version__,
        "numpy_version": np.__version__,
        "generator": "tests/data/gen_fixtures.py",
        "seed": SEED,
        "oracle": oracle,
    }
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":"))[:-1]
    lines = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases]
    text = head + ',"cases":[\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8", newline="\n")


def summarize(paths) -> None:
    total = 0
    for path in paths:
        doc = json.loads(path.read_text(encoding="utf-8"))
        cases = doc["cases"]
        ids = [c["id"] for c in cases]
        assert len(ids) == len(set(ids)), f"duplicate ids in {path.name}"
        ok = [c for c in cases if c.get("expect") is not None]
        strided = sum(has_ops(c) for c in ok)
        for c in ok:
            for key in ("input", "inputs", "operands"):
                specs = c.get(key)
                specs = [specs] if isinstance(specs, dict) else specs or []
                for s in specs:
                    assert len(s["data"]) == math.prod(s["base_shape"])
                    assert len(s["data"]) <= MAX_ELEMENTS
        size = path.stat().st_size
        total += size
        by_source = Counter(c.get("source", "?") for c in cases)
        print(f"{path.name:18} {len(cases):4} cases ({len(ok)} ok, {len(cases) - len(ok)} failing, "
              f"{strided} ok with view ops = {100 * strided / max(1, len(ok)):.0f}%), {size / 1024:.0f} KiB")
        print("    " + ", ".join(f"{k}: {v}" for k, v in sorted(by_source.items())))
    print(f"total {total / 1024:.0f} KiB; einops {einops.__version__}, numpy {np.__version__}")
    assert total < 4 * 1024 * 1024


def main() -> None:
    if os.environ.get("PYTHONHASHSEED") != "0":
        # einops prints sets of axis names in some messages; pin their order
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    warnings.simplefilter("ignore")
    paths = []
    for index, (name, build, oracle) in enumerate(FILES):
        rng = np.random.default_rng(SEED)
        prng = random.Random(SEED * 100 + index)
        cases = build(rng, prng)
        path = DATA_DIR / name
        dump(path, oracle, cases)
        paths.append(path)
    summarize(paths)


if __name__ == "__main__":
    main()
