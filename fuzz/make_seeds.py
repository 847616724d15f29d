"""Writes seed corpora for the fuzz targets from the conformance fixtures.

Usage: python3 fuzz/make_seeds.py   (from the repository root)
"""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
patterns = set()
for name in ["rearrange", "reduce", "repeat", "einsum", "pack", "parse_shape"]:
    path = root / "tests" / "data" / f"{name}.json"
    if path.exists():
        for case in json.loads(path.read_text())["cases"]:
            if "pattern" in case:
                patterns.add(case["pattern"])
out = root / "fuzz" / "corpus" / "parse"
out.mkdir(parents=True, exist_ok=True)
for i, p in enumerate(sorted(patterns)):
    (out / f"fixture-{i:04}").write_text(p)
print(f"{len(patterns)} seed patterns in {out.relative_to(root)}")
