#!/usr/bin/env python3
"""Python PyTorch side of the worker's training-throughput benchmark.

Builds the network of a NetworkPlan JSON dump (written by worker_train_bench)
op by op with the same functional calls as the worker's LibTorch builder
(worker/plan_net.cc), then trains it for one epoch on the same data with the
same loop: per batch index_select, forward, cross entropy, loss.item() (the
worker's NaN check), backward, SGD step, accuracy count. Prints one JSON line:
{"samples_per_s": ..., "samples_per_cpu_s": ..., "seconds": ..., "loss": ...}.

usage: train_plan.py PLAN.json DATA_PREFIX --batch-size 64 --threads 1 --lr 0.05
DATA_PREFIX.x.f32 holds float32 samples, DATA_PREFIX.y.i64 int64 labels.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F


class PlanNet(torch.nn.Module):
    def __init__(self, plan):
        super().__init__()
        self.ops = plan["ops"]
        self.output = plan["output"]
        self.input_shape = self.ops[0]["output_shape"]
        self.params = torch.nn.ParameterList()
        self.index = {}  # op index -> list of parameter positions
        self.buffers_ = {}
        last_use = [-1] * len(self.ops)
        for i, op in enumerate(self.ops):
            for j in op["inputs"]:
                last_use[j] = i
            t = op["type"]
            if t == "conv":
                shape = [op["out_channels"], op["in_channels"] // op["groups"]]
                if op["dims"] == 2:
                    shape.append(op["kernel_h"])
                shape.append(op["kernel_w"])
                w = torch.empty(shape)
                torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
                ps = [w] + ([torch.zeros(op["out_channels"])] if op["bias"] else [])
                self._add(i, ps)
            elif t == "linear":
                bound = 1 / math.sqrt(op["in_channels"])
                ps = [torch.empty(op["out_channels"], op["in_channels"]).uniform_(-bound, bound)]
                if op["bias"]:
                    ps.append(torch.empty(op["out_channels"]).uniform_(-bound, bound))
                self._add(i, ps)
            elif t == "batchnorm":
                c = op["output_shape"][0]
                self._add(i, [torch.ones(c), torch.zeros(c)])
                rm, rv = torch.zeros(c), torch.ones(c)
                self.register_buffer(f"rm{i}", rm)
                self.register_buffer(f"rv{i}", rv)
                self.buffers_[i] = (f"rm{i}", f"rv{i}")
            elif t == "recurrent":
                gates = 4 if op["cell"] == "lstm" else 3
                h = op["out_channels"]
                bound = 1 / math.sqrt(h)
                shapes = [(gates * h, op["in_channels"]), (gates * h, h), (gates * h,), (gates * h,)]
                self._add(i, [torch.empty(s).uniform_(-bound, bound) for s in shapes])
        last_use[self.output] = len(self.ops)
        self.release = [[] for _ in self.ops]
        for j, u in enumerate(last_use):
            if 0 <= u < len(self.ops):
                self.release[u].append(j)

    def _add(self, i, tensors):
        self.index[i] = []
        for t in tensors:
            self.index[i].append(len(self.params))
            self.params.append(torch.nn.Parameter(t))

    def _p(self, i):
        return [self.params[k] for k in self.index[i]]

    def _weight(self, op, w):
        bits = op["weight_bits"]
        if bits in (8, 4):
            qmax = (1 << (bits - 1)) - 1
            with torch.no_grad():
                scale = (w.detach().abs().flatten(1).amax(1) / qmax).clamp_min(1e-12).float()
            zp = torch.zeros(w.size(0), dtype=torch.int32)
            return torch.fake_quantize_per_channel_affine(w, scale, zp, 0, -qmax, qmax)
        return w

    def forward(self, x):
        v = [None] * len(self.ops)
        v[0] = x
        for i in range(1, len(self.ops)):
            op = self.ops[i]
            t = op["type"]
            ins = op["inputs"]
            if t == "conv":
                ps = self._p(i)
                w = self._weight(op, ps[0])
                b = ps[1] if len(ps) > 1 else None
                if op["dims"] == 2:
                    y = F.conv2d(v[ins[0]], w, b, (op["stride_h"], op["stride_w"]),
                                 (op["pad_h"], op["pad_w"]), (op["dilation_h"], op["dilation_w"]),
                                 op["groups"])
                else:
                    y = F.conv1d(v[ins[0]], w, b, op["stride_w"], op["pad_w"], op["dilation_w"],
                                 op["groups"])
            elif t == "batchnorm":
                ps = self._p(i)
                rm, rv = self.buffers_[i]
                y = torch.batch_norm(v[ins[0]], ps[0], ps[1], getattr(self, rm), getattr(self, rv),
                                     self.training, 0.1, 1e-5, False)
            elif t == "activation":
                a = op["activation"]
                x0 = v[ins[0]]
                y = {"identity": lambda z: z, "relu": torch.relu,
                     "relu6": lambda z: F.hardtanh(z, 0.0, 6.0), "elu": F.elu,
                     "sigmoid": torch.sigmoid, "hswish": F.hardswish, "tanh": torch.tanh}[a](x0)
            elif t == "add":
                y = v[ins[0]]
                for j in ins[1:]:
                    y = y + v[j]
            elif t == "mul":
                y = v[ins[0]] * v[ins[1]]
            elif t == "pool":
                x0 = v[ins[0]]
                avg = op["pool"] == "avg"
                if op["dims"] == 1 or x0.dim() == 3:
                    y = (F.avg_pool1d(x0, op["kernel_w"], op["stride_w"], op["pad_w"], False, False)
                         if avg else F.max_pool1d(x0, op["kernel_w"], op["stride_w"], op["pad_w"]))
                else:
                    k, s, p = ((op["kernel_h"], op["kernel_w"]), (op["stride_h"], op["stride_w"]),
                               (op["pad_h"], op["pad_w"]))
                    y = (F.avg_pool2d(x0, k, s, p, False, False) if avg
                         else F.max_pool2d(x0, k, s, p))
            elif t == "global_avg_pool":
                x0 = v[ins[0]]
                y = x0.mean((2, 3), keepdim=True) if x0.dim() == 4 else x0.mean(2, keepdim=True)
            elif t == "flatten":
                y = v[ins[0]].flatten(1)
            elif t == "linear":
                ps = self._p(i)
                y = F.linear(v[ins[0]], self._weight(op, ps[0]), ps[1] if len(ps) > 1 else None)
            elif t == "recurrent":
                seq = v[ins[0]].transpose(1, 2).contiguous()
                ps = self._p(i)
                params = [self._weight(op, ps[0]), self._weight(op, ps[1]), ps[2], ps[3]]
                h0 = torch.zeros(1, seq.size(0), op["out_channels"])
                if op["cell"] == "lstm":
                    out = torch.lstm(seq, (h0, torch.zeros_like(h0)), params, True, 1, 0.0,
                                     self.training, False, True)[0]
                else:
                    out = torch.gru(seq, h0, params, True, 1, 0.0, self.training, False, True)[0]
                y = out.transpose(1, 2) if op["return_sequence"] else out[:, -1]
            elif t == "dropout":
                y = F.dropout(v[ins[0]], op["dropout"], self.training)
            elif t == "zero":
                y = torch.zeros([x.size(0)] + op["output_shape"])
            else:
                raise ValueError(f"unsupported op type {t}")
            v[i] = y
            for j in self.release[i]:
                v[j] = None
        return v[self.output]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("plan")
    ap.add_argument("data")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    plan = json.load(open(args.plan))
    shape = plan["ops"][0]["output_shape"]
    with open(args.data + ".x.f32", "rb") as f:
        x_all = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).view(-1, *shape)
    with open(args.data + ".y.i64", "rb") as f:
        y_all = torch.frombuffer(bytearray(f.read()), dtype=torch.int64)
    net = PlanNet(plan)
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum)
    n = y_all.numel()
    bs = args.batch_size
    batches = n // bs + (1 if n % bs > 1 else 0)
    gen = torch.Generator().manual_seed(args.seed)
    net.train()
    start = time.perf_counter()
    cpu_start = time.process_time()
    perm = torch.randperm(n, generator=gen)
    loss_sum = 0.0
    correct = 0
    for b in range(batches):
        idx = perm[b * bs:min((b + 1) * bs, n)]
        x = x_all.index_select(0, idx)
        y = y_all.index_select(0, idx)
        lr = 0.5 * args.lr * (1 + math.cos(math.pi * b / batches))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        lv = loss.item()
        if not math.isfinite(lv):
            raise RuntimeError(f"loss became {lv}")
        loss.backward()
        opt.step()
        loss_sum += lv * idx.numel()
        with torch.no_grad():
            correct += logits.argmax(1).eq(y).sum().item()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    print(json.dumps({"samples_per_s": n / seconds, "seconds": seconds,
                      "samples_per_cpu_s": n / cpu_seconds, "loss": loss_sum / n,
                      "accuracy": correct / n}))


if __name__ == "__main__":
    main()
