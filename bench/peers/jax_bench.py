"""JAX peer for rfho's benchmarks: HC and FR hypergradients (grad through lax.scan, optionally
checkpointed; jacfwd for forward mode) and Hessian-vector products of the FR MLP.

    python jax_bench.py '{"case": "hc", "folder": "...", "T": 100, "reps": 3}'
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import args, emit, load_problem, peak_rss_mb, timed  # noqa: E402

a = args()
meta, arr = load_problem(a["folder"])
import jax  # noqa: E402

if meta["dtype"] == "float64":
    jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

dt = jnp.float64 if meta["dtype"] == "float64" else jnp.float32
X, y, Xv, yv, w0 = (jnp.asarray(arr[k]) for k in ("X", "y", "Xv", "yv", "w0"))
X, Xv, w0 = X.astype(dt), Xv.astype(dt), w0.astype(dt)


def xent(z, labels):
    return jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, labels[:, None], axis=1)[:, 0]


case = a["case"]
T = a.get("T", 100)
reps = a.get("reps", 3)

if case == "hc":
    N = X.shape[0]
    lr = meta["lr"]

    d = X.shape[1]  # 784 for images; other widths for dense feature matrices

    def train_loss(w, lam):
        W, b = w[:d * 10].reshape(d, 10), w[d * 10:]
        return jnp.mean(lam * xent(X @ W + b, y))

    def val_loss(w):
        W, b = w[:d * 10].reshape(d, 10), w[d * 10:]
        return jnp.mean(xent(Xv @ W + b, yv))

    def E(lam):
        step = lambda w, _: (w - lr * jax.grad(train_loss)(w, lam), None)
        w, _ = lax.scan(step, w0, None, length=T)
        return val_loss(w)

    f = jax.jit(jax.value_and_grad(E))
    lam0 = jnp.full((N,), meta["lam"], dtype=dt)
    sec, (val, g) = timed(lambda: jax.block_until_ready(f(lam0)), reps)
    emit({"peer": "jax", "case": case, "T": T, "seconds": sec, "peak_mb": peak_rss_mb(), "value": float(val),
          "grad_head": [float(x) for x in g[:8]], "grad_norm": float(jnp.linalg.norm(g))})

elif case in ("fr-reverse", "fr-reverse-ckpt", "fr-forward", "fr-train", "hvp"):
    m = meta["m"]
    widths = meta["widths"]
    sizes = [(widths[i], widths[i + 1]) for i in range(len(widths) - 1)]
    groups = jnp.asarray(arr["groups"])

    def unpack(w):
        out, at = [], 0
        for (i, o) in sizes:
            W = w[at:at + i * o].reshape(i, o)
            at += i * o
            b = w[at:at + o]
            at += o
            out.append((W, b))
        return out

    def mlp(w, x):
        h = x
        layers = unpack(w)
        for li, (W, b) in enumerate(layers):
            h = h @ W + b
            if li < len(layers) - 1:
                h = jnp.tanh(h)
        return h

    def train_loss(w, gw):
        return jnp.mean(gw[groups] * xent(mlp(w, X), y))

    def val_loss(w):
        return jnp.mean(xent(mlp(w, Xv), yv))

    if case == "hvp":
        gw1 = jnp.ones((m,), dtype=dt)
        f = lambda w: train_loss(w, gw1)
        g = jax.jit(jax.grad(f))
        sec_g, _ = timed(lambda: jax.block_until_ready(g(w0)), reps)
        res = {"peer": "jax", "case": case, "grad_seconds": sec_g}
        for k in a.get("ks", [1, 8, 64]):
            import numpy as np
            V = jnp.asarray(np.random.default_rng(k).standard_normal((k, w0.shape[0]))).astype(dt)
            hv = jax.jit(jax.vmap(lambda v: jax.jvp(jax.grad(f), (w0,), (v,))[1]))
            sec, out = timed(lambda: jax.block_until_ready(hv(V)), reps)
            res["hvp%d_seconds" % k] = sec
            res["hvp%d_head" % k] = [float(x) for x in out[0, :4]]
        res["peak_mb"] = peak_rss_mb()
        emit(res)
        sys.exit(0)

    def step(carry, h):
        w, v = carry
        gw, lr, mu = h
        g = jax.grad(train_loss)(w, gw)
        v = mu * v + g
        return (w - lr * v, v)

    def run(h, checkpoint):
        init = (w0, jnp.zeros_like(w0))
        body = lambda c, _: (step(c, h), None)
        if not checkpoint:
            (w, _), _ = lax.scan(body, init, None, length=T)
        else:
            seg = max(1, int(round(T ** 0.5)))
            while T % seg:
                seg -= 1
            inner = lambda c, _: (lax.scan(body, c, None, length=T // seg)[0], None)
            (w, _), _ = lax.scan(jax.checkpoint(inner), init, None, length=seg)
        return val_loss(w)

    hyper = (jnp.full((m,), 1.0, dtype=dt), jnp.asarray(meta["lr"], dtype=dt), jnp.asarray(meta["mu"], dtype=dt))
    if case == "fr-train":
        # T training steps and the validation loss, no hypergradient: JAX's own training step
        f = jax.jit(lambda h: run(h, False))
        sec, val = timed(lambda: jax.block_until_ready(f(hyper)), reps)
        emit({"peer": "jax", "case": case, "T": T, "m": m, "seconds": sec, "peak_mb": peak_rss_mb(), "value": float(val)})
        sys.exit(0)
    if case == "fr-forward":
        f = jax.jit(jax.jacfwd(lambda h: run(h, False)))
        sec, g = timed(lambda: jax.block_until_ready(f(hyper)), reps)
        val = float(jax.jit(lambda h: run(h, False))(hyper))
    else:
        f = jax.jit(jax.value_and_grad(lambda h: run(h, case == "fr-reverse-ckpt")))
        sec, (val, g) = timed(lambda: jax.block_until_ready(f(hyper)), reps)
        val = float(val)
    emit({"peer": "jax", "case": case, "T": T, "m": m, "seconds": sec, "peak_mb": peak_rss_mb(), "value": val,
          "grad_groups": [float(x) for x in g[0][:4]], "grad_lr": float(g[1]), "grad_mu": float(g[2])})
else:
    raise SystemExit("unknown case " + case)
