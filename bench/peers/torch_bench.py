"""PyTorch peer: hypergradients by unrolled autograd with create_graph=True (the way `higher`
differentiates through training).

    python torch_bench.py '{"case": "hc", "folder": "...", "T": 100, "reps": 3}'
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import args, emit, load_problem, peak_rss_mb, timed  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

a = args()
meta, arr = load_problem(a["folder"])
dt = torch.float64 if meta["dtype"] == "float64" else torch.float32
torch.set_num_threads(os.cpu_count() or 1)
X, Xv, w0 = (torch.from_numpy(arr[k]).to(dt) for k in ("X", "Xv", "w0"))
y, yv = (torch.from_numpy(arr[k]).long() for k in ("y", "yv"))
T = a.get("T", 100)
reps = a.get("reps", 3)
case = a["case"]

if case == "hc":
    lr = meta["lr"]

    d = X.shape[1]

    def run():
        lam = torch.full((X.shape[0],), meta["lam"], dtype=dt, requires_grad=True)
        w = w0.clone().requires_grad_(True)
        for _ in range(T):
            W, b = w[:d * 10].view(d, 10), w[d * 10:]
            loss = (lam * F.cross_entropy(X @ W + b, y, reduction="none")).mean()
            (g,) = torch.autograd.grad(loss, w, create_graph=True)
            w = w - lr * g
        W, b = w[:d * 10].view(d, 10), w[d * 10:]
        E = F.cross_entropy(Xv @ W + b, yv)
        (hg,) = torch.autograd.grad(E, lam)
        return float(E), hg

    sec, (val, g) = timed(run, reps)
    emit({"peer": "torch", "case": case, "T": T, "seconds": sec, "peak_mb": peak_rss_mb(), "value": val,
          "grad_head": [float(x) for x in g[:8]], "grad_norm": float(g.norm())})
elif case == "fr-reverse":
    widths = meta["widths"]
    groups = torch.from_numpy(arr["groups"]).long()
    m = meta["m"]

    def mlp(w, x):
        h, at = x, 0
        n = len(widths) - 1
        for i in range(n):
            W = w[at:at + widths[i] * widths[i + 1]].view(widths[i], widths[i + 1])
            at += widths[i] * widths[i + 1]
            b = w[at:at + widths[i + 1]]
            at += widths[i + 1]
            h = h @ W + b
            if i < n - 1:
                h = torch.tanh(h)
        return h

    def run():
        gw = torch.ones(m, dtype=dt, requires_grad=True)
        lr = torch.tensor(meta["lr"], dtype=dt, requires_grad=True)
        mu = torch.tensor(meta["mu"], dtype=dt, requires_grad=True)
        w = w0.clone().requires_grad_(True)
        v = torch.zeros_like(w0)
        for _ in range(T):
            loss = (gw[groups] * F.cross_entropy(mlp(w, X), y, reduction="none")).mean()
            (g,) = torch.autograd.grad(loss, w, create_graph=True)
            v = mu * v + g
            w = w - lr * v
        E = F.cross_entropy(mlp(w, Xv), yv)
        grads = torch.autograd.grad(E, (gw, lr, mu))
        return float(E), grads

    sec, (val, g) = timed(run, reps)
    emit({"peer": "torch", "case": case, "T": T, "m": m, "seconds": sec, "peak_mb": peak_rss_mb(), "value": val,
          "grad_groups": [float(x) for x in g[0][:4]], "grad_lr": float(g[1]), "grad_mu": float(g[2])})
else:
    raise SystemExit("unknown case " + case)
