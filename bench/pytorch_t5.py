#!/usr/bin/env python3
"""The PyTorch peer of `npm run bench -- train`: the same T5 training step in PyTorch.

A plain T5 (no `transformers`) with this project's presets: RMS norm before each block, no
biases, unscaled attention with a learned relative-position bias per stack, ReLU feed-forward,
the output head tied to the embedding (decoder output scaled by d_model^-0.5), cross-entropy
over the labels, global gradient-norm clipping and AdamW, float32. Random tokens, as the
TypeScript side uses.

It is driven over stdin/stdout so the two engines can take turns in one run:
    python3 bench/pytorch_t5.py --model tiny --batch 32 --source-length 60 --target-length 60
prints one JSON line {"ready": ...} once the model is built and warmed up; then for each line
"STEPS n" on stdin it runs n steps and prints {"seconds": <per step>}; "QUIT" or EOF ends it.

Needs Debian's python3-torch (or any PyTorch); the caller reports its absence as a note.
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

# Must match model/config.ts MODEL_PRESETS.
PRESETS = {
    "tiny": dict(d_model=32, d_kv=16, d_ff=64, layers=2, heads=2),
    "xs": dict(d_model=64, d_kv=16, d_ff=192, layers=2, heads=4),
    "s": dict(d_model=128, d_kv=32, d_ff=256, layers=3, heads=4),
    "m": dict(d_model=256, d_kv=64, d_ff=512, layers=3, heads=4),
    "t5-small": dict(d_model=512, d_kv=64, d_ff=2048, layers=6, heads=8, vocab=32128),
}
BUCKETS, MAX_DISTANCE = 32, 128


def bucket(relative, bidirectional):
    """T5's relative-position bucket of key position minus query position."""
    buckets = BUCKETS
    ret = torch.zeros_like(relative)
    n = -relative
    if bidirectional:
        buckets //= 2
        ret += (n < 0).long() * buckets
        n = n.abs()
    else:
        n = n.clamp(min=0)
    exact = buckets // 2
    large = exact + (torch.log(n.float().clamp(min=1) / exact) / math.log(MAX_DISTANCE / exact) * (buckets - exact)).long()
    large = large.clamp(max=buckets - 1)
    return ret + torch.where(n < exact, n, large)


class RMSNorm(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class Attention(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        inner = c["heads"] * c["d_kv"]
        self.h, self.dkv = c["heads"], c["d_kv"]
        self.q = torch.nn.Linear(c["d_model"], inner, bias=False)
        self.k = torch.nn.Linear(c["d_model"], inner, bias=False)
        self.v = torch.nn.Linear(c["d_model"], inner, bias=False)
        self.o = torch.nn.Linear(inner, c["d_model"], bias=False)

    def forward(self, x, kv, bias):
        B, Lq, _ = x.shape
        Lk = kv.shape[1]
        q = self.q(x).view(B, Lq, self.h, self.dkv).transpose(1, 2)
        k = self.k(kv).view(B, Lk, self.h, self.dkv).transpose(1, 2)
        v = self.v(kv).view(B, Lk, self.h, self.dkv).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-1, -2) + bias, dim=-1)
        return self.o((p @ v).transpose(1, 2).reshape(B, Lq, -1))


class FF(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wi = torch.nn.Linear(c["d_model"], c["d_ff"], bias=False)
        self.wo = torch.nn.Linear(c["d_ff"], c["d_model"], bias=False)

    def forward(self, x):
        return self.wo(F.relu(self.wi(x)))


class Block(torch.nn.Module):
    def __init__(self, c, cross):
        super().__init__()
        self.n1, self.att = RMSNorm(c["d_model"]), Attention(c)
        self.cross = cross
        if cross:
            self.n2, self.xatt = RMSNorm(c["d_model"]), Attention(c)
        self.n3, self.ff = RMSNorm(c["d_model"]), FF(c)

    def forward(self, x, bias, enc=None, enc_bias=None):
        h = self.n1(x)
        x = x + self.att(h, h, bias)
        if self.cross:
            x = x + self.xatt(self.n2(x), enc, enc_bias)
        return x + self.ff(self.n3(x))


class T5(torch.nn.Module):
    def __init__(self, c, vocab):
        super().__init__()
        self.c = c
        self.shared = torch.nn.Embedding(vocab, c["d_model"])
        self.enc_bias = torch.nn.Embedding(BUCKETS, c["heads"])
        self.dec_bias = torch.nn.Embedding(BUCKETS, c["heads"])
        self.encoder = torch.nn.ModuleList(Block(c, False) for _ in range(c["layers"]))
        self.decoder = torch.nn.ModuleList(Block(c, True) for _ in range(c["layers"]))
        self.enc_norm, self.dec_norm = RMSNorm(c["d_model"]), RMSNorm(c["d_model"])

    def position_bias(self, table, lq, lk, bidirectional):
        rel = torch.arange(lk)[None, :] - torch.arange(lq)[:, None]
        return table(bucket(rel, bidirectional)).permute(2, 0, 1)[None]

    def forward(self, ids, mask, dec_ids, labels):
        Ls, Lt = ids.shape[1], dec_ids.shape[1]
        pad = (1.0 - mask)[:, None, None, :] * -1e9
        enc_bias = self.position_bias(self.enc_bias, Ls, Ls, True) + pad
        x = self.shared(ids)
        for b in self.encoder:
            x = b(x, enc_bias)
        enc = self.enc_norm(x)
        causal = torch.triu(torch.full((Lt, Lt), -1e9), 1)
        dec_bias = self.position_bias(self.dec_bias, Lt, Lt, False) + causal
        y = self.shared(dec_ids)
        for b in self.decoder:
            y = b(y, dec_bias, enc, pad)
        logits = (self.dec_norm(y) * self.c["d_model"] ** -0.5) @ self.shared.weight.t()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def blas_library():
    """The BLAS this process loaded (Debian's torch uses whatever libblas.so.3 points to: the
    reference BLAS is several times slower than OpenBLAS, so the figures depend on it)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line}
        return ", ".join(sorted(os.path.realpath(l) for l in libs)) or "unknown"
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--source-length", type=int, default=60)
    ap.add_argument("--target-length", type=int, default=60)
    ap.add_argument("--vocab", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    c = PRESETS[a.model]
    vocab = c.get("vocab", a.vocab)
    dev = torch.device(a.device)
    model = T5(c, vocab).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    B, Ls, Lt = a.batch, a.source_length, a.target_length

    def step():
        ids = torch.randint(3, vocab, (B, Ls), device=dev)
        dec = torch.randint(3, vocab, (B, Lt), device=dev)
        labels = torch.randint(3, vocab, (B, Lt), device=dev)
        loss = model(ids, torch.ones(B, Ls, device=dev), dec, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):
        step()
    sync()
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "params": params, "device": str(dev), "blas": blas_library()}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "QUIT":
            break
        n = int(cmd[1])
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        sync()
        print(json.dumps({"seconds": (time.perf_counter() - t0) / n}), flush=True)


if __name__ == "__main__":
    main()
