#!/usr/bin/env python3
"""PyTorch reference for the `shufflenet` example binary.

Defines ShuffleNet v1 (Zhang et al., 2017) with the channel shuffle written as
an einops `Rearrange`, and writes the parity fixtures the Rust side checks
against:

    <name>.weights.safetensors   state_dict (PyTorch names, float32)
    <name>.input.safetensors     one tensor named `input`
    <name>.output.safetensors    one tensor named `output`
    fixtures.json                constructor arguments for every fixture

Run from anywhere:

    pip install torch numpy safetensors einops
    python3 tests/data/shufflenet/gen_shufflenet.py [--out DIR]

Everything is seeded, so re-running reproduces the same weights and inputs
(outputs can differ in the last bits between PyTorch builds).
"""

import argparse
import json
import re
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops.layers.torch import Rearrange
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent


def conv1x1(in_channels, out_channels, groups=1):
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, groups=groups, bias=True)


def conv3x3(in_channels, out_channels, stride=1, groups=1):
    return nn.Conv2d(
        in_channels, out_channels, kernel_size=3, stride=stride, padding=1, groups=groups, bias=True
    )


class ShuffleUnitNew(nn.Module):
    def __init__(self, in_channels, out_channels, groups=3, grouped_conv=True, combine='add'):
        super().__init__()
        first_1x1_groups = groups if grouped_conv else 1
        bottleneck_channels = out_channels // 4
        self.combine = combine
        if combine == 'add':
            self.left = Rearrange('...->...')  # identity
            depthwise_stride = 1
        else:
            self.left = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
            depthwise_stride = 2
            out_channels -= in_channels
            assert out_channels > 0
        self.right = nn.Sequential(
            conv1x1(in_channels, bottleneck_channels, groups=first_1x1_groups),
            nn.BatchNorm2d(bottleneck_channels),
            nn.ReLU(inplace=True),
            Rearrange('b (c1 c2) h w -> b (c2 c1) h w', c1=groups),
            conv3x3(bottleneck_channels, bottleneck_channels, stride=depthwise_stride,
                    groups=bottleneck_channels),
            nn.BatchNorm2d(bottleneck_channels),
            conv1x1(bottleneck_channels, out_channels, groups=groups),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x):
        if self.combine == 'add':
            combined = self.left(x) + self.right(x)
        else:
            combined = torch.cat([self.left(x), self.right(x)], dim=1)
        return F.relu(combined, inplace=True)


# Output channels of stages 2, 3 and 4 per number of groups (paper, Table 1).
STAGE_CHANNELS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}


def stage_channels(groups, scale):
    """Scaled stage widths, rounded down to a multiple of 4*groups (at least
    4*groups) so that every grouped convolution divides evenly."""
    q = 4 * groups
    return [max(q, int(c * scale) // q * q) for c in STAGE_CHANNELS[groups]]


def make_stage(in_channels, out_channels, repeats, groups, first_grouped=True):
    return nn.Sequential(
        ShuffleUnitNew(in_channels, out_channels, groups, grouped_conv=first_grouped,
                       combine='concat'),
        *[ShuffleUnitNew(out_channels, out_channels, groups, True, 'add')
          for _ in range(repeats - 1)],
    )


class ShuffleNet(nn.Module):
    def __init__(self, groups=3, scale=1.0, num_classes=1000):
        super().__init__()
        c2, c3, c4 = stage_channels(groups, scale)
        self.conv1 = nn.Conv2d(3, 24, 3, stride=2, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(24)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.stage2 = make_stage(24, c2, 4, groups, first_grouped=False)
        self.stage3 = make_stage(c2, c3, 8, groups)
        self.stage4 = make_stage(c3, c4, 4, groups)
        self.fc = nn.Linear(c4, num_classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.stage4(self.stage3(self.stage2(x)))
        x = x.mean(dim=(2, 3))  # global average pool
        return self.fc(x)  # logits


def randomize_batchnorm(model, generator):
    """Give every BatchNorm non-trivial statistics and affine parameters so
    that a missing or misapplied BN shows up in the outputs."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)  # [0.5, 1.5)
                m.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                m.bias.copy_(0.1 * torch.randn(n, generator=generator))


def build(spec, seed):
    torch.manual_seed(seed)
    if spec['kind'] == 'unit':
        model = ShuffleUnitNew(spec['in_channels'], spec['out_channels'], spec['groups'],
                               grouped_conv=spec['grouped_conv'], combine=spec['combine'])
    else:
        model = ShuffleNet(groups=spec['groups'], scale=spec['scale'],
                           num_classes=spec['num_classes'])
    randomize_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    return model.eval()


FIXTURES = [
    dict(name='unit_add', kind='unit', in_channels=48, out_channels=48, groups=3,
         grouped_conv=True, combine='add', input_shape=[2, 48, 8, 8]),
    # Odd spatial size: exercises the padding of the stride-2 pool and depthwise conv.
    dict(name='unit_concat', kind='unit', in_channels=24, out_channels=48, groups=3,
         grouped_conv=True, combine='concat', input_shape=[2, 24, 9, 9]),
    dict(name='unit_concat_ungrouped', kind='unit', in_channels=24, out_channels=60, groups=3,
         grouped_conv=False, combine='concat', input_shape=[1, 24, 8, 8]),
    dict(name='net_g3_s025', kind='net', groups=3, scale=0.25, num_classes=1000,
         input_shape=[2, 3, 64, 64]),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', type=Path, default=HERE, help='output directory')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    index = {'torch_version': torch.__version__, 'seed': args.seed, 'fixtures': []}
    for i, spec in enumerate(FIXTURES):
        seed = args.seed + 100 * i
        model = build(spec, seed)
        x = torch.randn(*spec['input_shape'], generator=torch.Generator().manual_seed(seed + 2))
        with torch.no_grad():
            y = model(x.clone())  # the units run ReLU in place; keep x intact

        name = spec['name']
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(state, args.out / f'{name}.weights.safetensors')
        save_file({'input': x.contiguous()}, args.out / f'{name}.input.safetensors')
        save_file({'output': y.contiguous()}, args.out / f'{name}.output.safetensors')

        entry = dict(spec)
        entry.setdefault('in_channels', None)
        entry.setdefault('out_channels', None)
        entry.setdefault('grouped_conv', True)
        entry.setdefault('combine', None)
        entry.setdefault('scale', None)
        entry.setdefault('num_classes', None)
        if spec['kind'] == 'net':
            entry['stage_channels'] = stage_channels(spec['groups'], spec['scale'])
        entry['output_shape'] = list(y.shape)
        entry['seed'] = seed
        entry['files'] = {
            'weights': f'{name}.weights.safetensors',
            'input': f'{name}.input.safetensors',
            'output': f'{name}.output.safetensors',
        }
        index['fixtures'].append(entry)
        print(f'{name:24s} in {tuple(x.shape)} -> out {tuple(y.shape)}  '
              f'|y|max {y.abs().max().item():.4f}  params {sum(v.numel() for v in state.values())}')

    text = json.dumps(index, indent=2)
    # Keep shapes and channel lists on one line.
    text = re.sub(r'\[[\s\d,]+\]', lambda m: json.dumps(json.loads(m.group(0))), text)
    (args.out / 'fixtures.json').write_text(text + '\n')


if __name__ == '__main__':
    main()
