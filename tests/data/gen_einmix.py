#!/usr/bin/env python3
"""Generate ``tests/data/einmix.json``: einops' ``EinMix`` with known weights.

Run from the repository root::

    pip install einops numpy
    python3 tests/data/gen_einmix.py

Every case goes through einops' own ``_EinmixMixin.initialize_einmix``, the
code shared by all of einops' EinMix layers: it checks the pattern, the
weight and bias shapes and the lengths, and builds the pre-rearrange, einsum
and post-rearrange that the layer runs. ``NumpyEinMix`` below supplies the
framework part exactly as ``einops.layers.torch.EinMix`` does (the
rearranges are ``einops.rearrange``, the product ``numpy.einsum``, the bias
added between them), in float64 so that the fixtures hold exact references.

The weights and bias einops draws are then replaced by values from
``numpy.random.default_rng(SEED)``; the Rust test loads the same values with
``set_weight``/``set_bias``. Each case is

``{"id", "pattern", "weight_shape", "bias_shape", "lengths", "input",
"weight", "bias", "expect", ["error", "error_type", "at"],
["deliberate_difference", "einops_result"]}``

with ``lengths`` the ``[name, length]`` keyword arguments in order,
tensors as ``{"shape", "data"}`` (C order), ``weight``/``bias`` as einops
shapes them (``bias`` null without a bias), and ``expect`` the output, or
null when einops raises: ``at`` is ``"new"`` if the constructor raised and
``"apply"`` if the call did. ``deliberate_difference`` marks a case einops
accepts and this crate rejects on purpose (``einops_result`` says what
einops returned).
"""

import json
import os
import sys
import warnings

import einops
import numpy as np
from einops.layers._einmix import _EinmixMixin

SEED = 20261201
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "einmix.json")


class NumpyEinMix(_EinmixMixin):
    """einops' EinMix on numpy: ``einops.layers.torch.EinMix`` with torch
    replaced by numpy."""

    def _create_rearrange_layers(self, pre, pre_lengths, post, post_lengths):
        self.pre = None if pre is None else (pre, pre_lengths)
        self.post = None if post is None else (post, post_lengths)

    def _create_parameters(self, weight_shape, weight_bound, bias_shape, bias_bound):
        self.weight = np.zeros(weight_shape)
        self.bias = None if bias_shape is None else np.zeros(bias_shape)
        self.bounds = (weight_bound, bias_bound)

    def __call__(self, x):
        if self.pre is not None:
            x = einops.rearrange(x, self.pre[0], **self.pre[1])
        result = np.einsum(self.einsum_pattern, x, self.weight)
        if self.bias is not None:
            result = result + self.bias
        if self.post is not None:
            result = einops.rearrange(result, self.post[0], **self.post[1])
        return result


def tensor(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


# (pattern, weight_shape, bias_shape, lengths, input shape)
VALID = [
    # einops' docstring and tutorial examples.
    ("b t (h d) -> b t (h k)", "h d k", "h k", dict(h=4, d=8, k=16), (2, 3, 32)),
    ("t b cin -> t b cout", "cin cout", "cout", dict(cin=10, cout=20), (3, 2, 10)),
    ("h w c -> hout w c", "h hout", "hout", dict(h=6, hout=5), (6, 4, 3)),
    ("t b c -> t b c", "c", None, dict(c=7), (2, 3, 7)),
    ("t b (head cin) -> t b (head cout)", "head cin cout", None, dict(head=3, cin=4, cout=5), (2, 2, 12)),
    # einops' test_einmix_decomposition.
    ("a b c d e -> e d c b a", "d a b", None, dict(d=2, a=3, b=5), (3, 5, 2, 2, 4)),
    ("a b c d e -> e d c b a", "d a b", "a b c d e", dict(a=1, b=2, c=3, d=4, e=5), (1, 2, 3, 4, 5)),
    ("... -> ...", "", "", dict(), (3, 4)),
    ("b a ...  -> b c ...", "b a c", None, dict(a=1, b=2, c=3), (2, 1, 4, 5)),
    ("(b a) ... -> b c (...)", "b a c", None, dict(a=1, b=2, c=3), (2, 3, 4)),
    ("b ... (a c) -> b ... (a d)", "c d", "a d", dict(a=2, c=3, d=4), (2, 5, 6)),
    ("a ... (b c) -> a (... d b)", "c d b", "d b", dict(b=2, c=3, d=4), (3, 2, 5, 6)),
    # einops' test_layers (shrunk).
    ("b c1 -> (b c2)", "c1 c2", "c2", dict(c1=6, c2=5), (3, 6)),
    ("(b c2) -> b c3", "c2 c3", "c3", dict(c2=5, c3=4), (15,)),
    # Everyday layers.
    ("b (g ci) h w -> b (g co) h w", "g co ci", "g co", dict(g=3, ci=4, co=2), (2, 12, 3, 3)),
    ("b c (h ph) (w pw) -> b (h w) d", "c ph pw d", "d", dict(c=3, ph=2, pw=2, d=8), (2, 3, 4, 6)),
    ("b n c -> b m c", "n m", "m", dict(n=6, m=4), (2, 6, 3)),
    ("b c h w -> b co h w", "c co", "co", dict(c=3, co=8), (2, 3, 4, 5)),
    ("b s c -> b d", "c d", "d", dict(c=3, d=4), (2, 5, 3)),
    ("b c -> b c", "c", "c", dict(c=5), (4, 5)),
    ("b c -> b d", "c d", None, dict(b=2, c=3, d=4), (2, 3)),
    ("b c -> b (d e)", "c d e", "(d e)", dict(c=3, d=2, e=4), (2, 3)),
    ("b () c -> b d ()", "c d", "d", dict(c=3, d=4), (2, 1, 3)),
    ("b 1 c -> 1 b d", "c d", "d", dict(c=3, d=4), (2, 1, 3)),
    ("b c -> b d", "c d", "d", dict(c=3, d=4), (0, 3)),
    ("b c -> b d", "c d", "d", dict(c=3, d=0), (2, 3)),
    ("b ... c -> b ... d", "c d", "d", dict(c=3, d=2), (2, 3)),
    ("b ... c -> ... b d", "c d", "d", dict(c=3, d=2), (2, 4, 5, 3)),
    ("x y -> y x", "x", "x", dict(x=3), (3, 4)),
    ("batch channel -> batch", "channel", None, dict(channel=4), (3, 4)),
    ("b c -> ", "b c", "", dict(b=2, c=3), (2, 3)),
]

# Cases einops rejects: (pattern, weight_shape, bias_shape, lengths, input shape).
INVALID = [
    # einops' test_einmix_restrictions.
    ("a b c d e -> e d c b a", "d a b", None, dict(d=2, a=3), (3, 1, 1, 2, 1)),
    ("a b c d e -> e d c b a", "w a b", None, dict(d=2, a=3, b=1), (3, 1, 1, 2, 1)),
    ("(...) a -> ... a", "a", None, dict(a=1), (2, 1)),
    ("(...) a -> a ...", "a", "a", dict(a=1), (2, 1)),
    # One rule each.
    ("a b -> a c", "b d", None, dict(b=2, d=3), (2, 2)),
    ("a ... -> a ...", "...", None, dict(), (2, 2)),
    ("a ... -> a", "a", None, dict(a=2), (2, 2)),
    ("a -> a ...", "a", None, dict(a=2), (2,)),
    ("a (b 2) -> a b", "b", None, dict(b=2), (2, 4)),
    ("a b -> a b 2", "b", None, dict(b=2), (2, 2)),
    ("a b -> a c", "b 2 c", None, dict(b=2, c=3), (2, 2)),
    ("a b -> a c", "b 1 c", None, dict(b=2, c=3), (2, 2)),
    ("a b -> a c", "b () c", None, dict(b=2, c=3), (2, 2)),
    ("a (b c) -> a d", "(b c) d", None, dict(b=2, c=3, d=4), (2, 6)),
    ("a b -> a c", "b c", None, dict(b=2, c=3, z=4), (2, 2)),
    ("a b -> a c", "b c w", None, dict(b=2, c=3, w=4), (2, 2)),
    ("a b -> a c", "b c", "b", dict(b=2, c=3), (2, 2)),
    ("a b -> a b", "b", "a", dict(b=2), (2, 2)),
    ("a ... -> a ...", "a", "a", dict(a=2), (2, 3)),
    ("a ... -> a ...", "a", "...", dict(a=2), (2, 3)),
    ("a ... -> a ...", "a", "2", dict(a=2), (2, 3)),
    ("a a -> a", "a", None, dict(a=2), (2, 2)),
    ("a b -> a b c", "b b c", None, dict(b=2, c=3), (2, 2)),
    ("a b -> a c", "b c", "c c", dict(b=2, c=3), (2, 2)),
    ("a b", "b", None, dict(b=2), (2, 2)),
    ("a -> b -> c", "b", None, dict(b=2), (2, 2)),
    ("a, b -> a", "b", None, dict(b=2), (2, 2)),
    ("a b -> a c", "b c", None, dict(b=0, c=2), (2, 0)),
    # Inputs the layer rejects when applied.
    ("b c -> b d", "c d", "d", dict(c=3, d=4), (2, 3, 4)),
    ("b c -> b d", "c d", "d", dict(c=3, d=4), (2, 4)),
    ("b (h d) -> b (h k)", "h d k", None, dict(h=2, d=3, k=2), (2, 7)),
    ("b (h d) -> b (h k)", "h d k", None, dict(h=2, d=3, k=2), (2, 8)),
    ("b ... c -> b ... d", "c d", None, dict(c=3, d=2), (2,)),
    ("(b c2) -> b c3", "c2 c3", "c3", dict(c2=5, c3=4), (14,)),
]

# Cases einops accepts and this crate rejects: a length given for an input
# axis that einops only checks when the input side has a group.
DELIBERATE = [
    ("b c -> b d", "c d", None, dict(b=2, c=3, d=4), (3, 3)),
]


def case(rng, i, pattern, weight_shape, bias_shape, lengths, shape, deliberate=False):
    out = {
        "id": str(i),
        "pattern": pattern,
        "weight_shape": weight_shape,
        "bias_shape": bias_shape,
        "lengths": [[k, v] for k, v in lengths.items()],
        "input": tensor(rng.standard_normal(shape)),
        "weight": None,
        "bias": None,
        "expect": None,
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer = NumpyEinMix(pattern, weight_shape, bias_shape, **lengths)
    except Exception as e:  # einops' own errors, and the ones its checks let through
        out.update(error=str(e), error_type=type(e).__name__, at="new")
        return out
    layer.weight = rng.standard_normal(layer.weight.shape)
    out["weight"] = tensor(layer.weight)
    if layer.bias is not None:
        layer.bias = rng.standard_normal(layer.bias.shape)
        out["bias"] = tensor(layer.bias)
    x = np.asarray(out["input"]["data"]).reshape(shape)
    try:
        y = layer(x)
    except Exception as e:
        out.update(error=str(e), error_type=type(e).__name__, at="apply")
        return out
    if deliberate:
        out["deliberate_difference"] = True
        out["einops_result"] = f"an output of shape {list(y.shape)}"
    else:
        out["expect"] = tensor(y)
    return out


def main():
    if os.environ.get("PYTHONHASHSEED") != "0":
        # einops prints sets of axis names in some messages.
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    rng = np.random.default_rng(SEED)
    cases = []
    for args in VALID:
        cases.append(case(rng, len(cases), *args))
        assert cases[-1]["expect"] is not None, cases[-1]
    for args in INVALID:
        cases.append(case(rng, len(cases), *args))
        assert cases[-1]["expect"] is None, cases[-1]
    for args in DELIBERATE:
        cases.append(case(rng, len(cases), *args, deliberate=True))
        assert "deliberate_difference" in cases[-1], cases[-1]
    doc = {
        "einops_version": einops.__version__,
        "numpy_version": np.__version__,
        "seed": SEED,
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"{OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
