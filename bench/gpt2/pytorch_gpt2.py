"""PyTorch reference of examples/gpt2 (bench/gpt2.ts runs it; not a test).

The same network as examples/gpt2/model.ts: token + learned position embeddings, pre-LN decoder blocks
(causal multi-head self-attention with biases, exact-GELU feed-forward), final layer norm, logits from the
token table transposed; truncated-normal(0, 0.02) weights (redrawn beyond 2 stddev), zero biases; mean
per-token cross-entropy; Adam (beta1 0.9, beta2 0.999, epsilon 1e-7 as tfjs); batches of shuffled windows
(a new permutation every epoch, last partial batch dropped). Data and split come from the JSON file
written by bench/gpt2.ts (the windows of examples/gpt2/data.ts), so only the random streams differ.

usage: python3 pytorch_gpt2.py DATA.json  ->  prints one JSON line {test_loss, perplexity, accuracy, ...}
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads, ffn, eps):
        super().__init__()
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.ln2 = nn.LayerNorm(d, eps=eps)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.heads = heads

    def forward(self, h, mask):
        b, t, d = h.shape
        e = d // self.heads
        q, k, v = self.qkv(self.ln1(h)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, e).transpose(1, 2) for z in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(e)
        s = s.masked_fill(~mask, -1e9)
        ctx = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        h = h + self.out(ctx)
        return h + self.fc2(F.gelu(self.fc1(self.ln2(h))))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.tok = nn.Embedding(c["vocab_size"], d)
        self.pos = nn.Embedding(c["max_position_embeddings"], d)
        self.blocks = nn.ModuleList(Block(d, c["num_heads"], c["filter_size"], c["layer_norm_epsilon"]) for _ in range(c["num_hidden_layers"]))
        self.ln = nn.LayerNorm(d, eps=c["layer_norm_epsilon"])
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() >= 2:
                nn.init.trunc_normal_(p, std=0.02, a=-0.04, b=0.04)

    def forward(self, ids):
        t = ids.shape[1]
        h = self.tok(ids) + self.pos.weight[:t]
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
        for blk in self.blocks:
            h = blk(h, mask)
        return self.ln(h) @ self.tok.weight.T


def main():
    data = json.load(open(sys.argv[1]))
    c = data["config"]
    torch.manual_seed(c["seed"])
    torch.set_num_threads(1)
    T = c["max_sequence_length"]
    xs = torch.tensor(data["train_inputs"], dtype=torch.long).view(-1, T)
    ys = torch.tensor(data["train_labels"], dtype=torch.long).view(-1, T)
    tx = torch.tensor(data["test_inputs"], dtype=torch.long).view(-1, T)
    ty = torch.tensor(data["test_labels"], dtype=torch.long).view(-1, T)
    model = GPT(c)
    opt = torch.optim.Adam(model.parameters(), lr=c["learning_rate"], betas=(0.9, 0.999), eps=1e-7)
    bs = c["batch_size"]
    per_epoch = xs.shape[0] // bs
    order = torch.randperm(xs.shape[0])
    t0 = time.time()
    for step in range(c["steps"]):
        k = step % per_epoch
        if k == 0 and step > 0:
            order = torch.randperm(xs.shape[0])
        idx = order[k * bs:(k + 1) * bs]
        loss = F.cross_entropy(model(xs[idx]).reshape(-1, c["vocab_size"]), ys[idx].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_s = time.time() - t0
    model.eval()
    with torch.no_grad():
        logits = model(tx).reshape(-1, c["vocab_size"])
        test_loss = F.cross_entropy(logits, ty.reshape(-1)).item()
        acc = (logits.argmax(-1) == ty.reshape(-1)).float().mean().item()
    print(json.dumps({"test_loss": test_loss, "perplexity": math.exp(test_loss), "accuracy": acc, "steps": c["steps"], "train_s": train_s,
                      "params": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
