#!/usr/bin/env python3
"""Time PyTorch CPU eager inference of ShuffleNet v1 (groups=3, scale=1.0).

The baseline for `cargo run --release --features shufflenet --bin shufflenet`.
The model definition is shared with the parity fixtures in
tests/data/shufflenet/gen_shufflenet.py, and the weights are seeded the same
way. To compare the top-5 classes with the Rust binary, write the weights and
input with `--save-weights W --save-input X` and run
`shufflenet net --weights W --input X`.

    python3 benches/shufflenet_pytorch.py [--runs 20] [--batch 1] [--size 224]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tests' / 'data' / 'shufflenet'))
from gen_shufflenet import build  # noqa: E402


def time_forward(model, x, threads, warmup, runs):
    torch.set_num_threads(threads)
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        for _ in range(runs):
            start = time.perf_counter()
            y = model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), y


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--groups', type=int, default=3)
    parser.add_argument('--scale', type=float, default=1.0)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--save-weights', type=Path,
                        help='write the benchmarked state_dict as safetensors')
    parser.add_argument('--save-input', type=Path,
                        help='write the benchmark input as safetensors (tensor `input`)')
    args = parser.parse_args()

    spec = dict(kind='net', groups=args.groups, scale=args.scale, num_classes=1000)
    model = build(spec, args.seed)
    x = torch.randn(args.batch, 3, args.size, args.size,
                    generator=torch.Generator().manual_seed(args.seed + 2))
    params = sum(p.numel() for p in model.parameters())
    print(f'PyTorch {torch.__version__}, ShuffleNet g={args.groups} scale={args.scale}, '
          f'{params / 1e6:.2f}M parameters, input {tuple(x.shape)}, '
          f'{args.runs} runs after {args.warmup} warm-up')

    if args.save_weights:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.save_weights)
        print(f'weights written to {args.save_weights}')
    if args.save_input:
        from safetensors.torch import save_file
        save_file({'input': x.contiguous()}, args.save_input)
        print(f'input written to {args.save_input}')

    cores = os.cpu_count() or 1
    y = None
    for threads in sorted({1, cores}):
        median, best, y = time_forward(model, x, threads, args.warmup, args.runs)
        print(f'  threads={threads:<3d} median {median * 1e3:8.2f} ms   min {best * 1e3:8.2f} ms')

    top5 = torch.topk(y, 5, dim=1).indices
    for b, row in enumerate(top5.tolist()):
        print(f'  top-5 classes (batch {b}): {row}')


if __name__ == '__main__':
    main()
