"""Peer (c) of bench/train.ts: the MNIST CNN of examples/mnist in PyTorch on the CPU with one thread
(batch 64, Adam 0.001, cross-entropy), on the real MNIST training images read from the same IDX files.
Prints one JSON line: {"samplesPerS", "steps", "batchSize", "torch"} over --steps batches after --warmup.

    python3 bench/train/pytorch_mnist.py --data DIR [--steps 300] [--warmup 20]
"""
import argparse, json, os, struct, time

import numpy as np
import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--steps", type=int, default=300)
p.add_argument("--warmup", type=int, default=20)
a = p.parse_args()
torch.set_num_threads(1)
torch.manual_seed(1)
B = 64
n = (a.steps + a.warmup) * B


def idx(path, count):
    with open(path, "rb") as f:
        magic, = struct.unpack(">I", f.read(4))
        dims = struct.unpack(">" + "I" * (magic & 0xFF), f.read(4 * (magic & 0xFF)))
        per = int(np.prod(dims[1:])) if len(dims) > 1 else 1
        return np.frombuffer(f.read(count * per), dtype=np.uint8).reshape((count,) + tuple(dims[1:]))


x = torch.from_numpy(idx(os.path.join(a.data, "train-images-idx3-ubyte"), n).astype(np.float32) / 255).reshape(n, 1, 28, 28)
y = torch.from_numpy(idx(os.path.join(a.data, "train-labels-idx1-ubyte"), n).astype(np.int64))
model = nn.Sequential(
    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.BatchNorm2d(64, eps=1e-3, momentum=0.01),
    nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 10),
)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
model.train()
t0 = None
for i in range(a.steps + a.warmup):
    if i == a.warmup:
        t0 = time.perf_counter()
    xb, yb = x[i * B:(i + 1) * B], y[i * B:(i + 1) * B]
    opt.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    opt.step()
secs = time.perf_counter() - t0
print(json.dumps({"samplesPerS": a.steps * B / secs, "steps": a.steps, "batchSize": B, "torch": torch.__version__}))
