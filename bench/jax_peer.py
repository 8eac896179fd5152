#!/usr/bin/env python3
"""Peer benchmark for docs/MODEL.md §9 (workload W): one pixel-MNIST training minibatch.

B=128, N=100, T=784, I=1, K=10, float32, alpha=0.1, sigma=0. The recurrent and readout
layers are spike-and-slab in the mean-field (Gaussian-layer) form with eps ~ N(0,1) drawn
fresh per (time step, sample, unit) inside the timed function; the input layer is
deterministic (mu_in = m_in, no variance). Cross-entropy on the last step. The timed unit is
forward + gradients of the loss w.r.t. m, pi, xi of rec and out and m of in, via
jax.value_and_grad under jax.jit with jax.lax.scan over time.

Usage:
    python3 bench/jax_peer.py [--runs 10] [--sasnet PATH] [--numpy] [--check] [--json]

--sasnet PATH   also run `PATH bench --json` (one JSON object with `ms_per_minibatch`) and
                print sasnet ms, JAX ms and the ratio JAX/sasnet from this one run.
--numpy         also time a plain NumPy version (explicit loop over time, hand-written
                backward, same algorithm).
--check         verify the NumPy gradients against JAX on a short sequence first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np

import jax
import jax.numpy as jnp

B, N, T, I, K = 128, 100, 784, 1, 10
ALPHA = 0.1
H0 = 0.1
# matrix-product flops per minibatch: forward 2 (G, S) and backward 4 (dL/da through M and
# V, dL/dM, dL/dV) recurrent-sized products per step, 2*B*N*N flops each, plus the readout.
FLOP = T * 6 * 2 * B * N * N + 6 * 2 * B * N * K
DIFF_PARAMS = ("in.m", "rec.m", "rec.pi", "rec.xi", "out.m", "out.pi", "out.xi")


def make_problem(seed=0, b=B, n=N, t=T, i=I, k=K, dtype=np.float32):
    rng = np.random.default_rng(seed)
    params = {
        "in.m": rng.normal(0.0, 0.1, (n, i)),
        "rec.m": np.eye(n),
        "rec.pi": np.zeros((n, n)),
        "rec.xi": 0.01 * rng.uniform(0.0, 1.0, (n, n)),
        "out.m": rng.normal(0.0, 0.1, (k, n)),
        "out.pi": np.zeros((k, n)),
        "out.xi": 0.01 * rng.uniform(0.0, 1.0, (k, n)),
    }
    params = {key: v.astype(dtype) for key, v in params.items()}
    x = rng.uniform(0.0, 1.0, (t, b, i)).astype(dtype)
    labels = rng.integers(0, k, b)
    onehot = np.eye(k, dtype=dtype)[labels]
    return params, x, onehot


# ----------------------------------------------------------------------------------------
# JAX
# ----------------------------------------------------------------------------------------

def safe_sqrt(s):
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


def sas_moments(m, pi, xi):
    return (1 - pi) * m, (1 - pi) * xi + pi * (1 - pi) * m * m


def loss_fn(params, x, onehot, eps_u, eps_out, alpha=ALPHA, h0=H0):
    mu_in = params["in.m"]                       # deterministic input layer
    mu_rec, v_rec = sas_moments(params["rec.m"], params["rec.pi"], params["rec.xi"])
    mu_out, v_out = sas_moments(params["out.m"], params["out.pi"], params["out.xi"])
    b = x.shape[1]
    h_init = jnp.full((b, mu_rec.shape[0]), h0, dtype=x.dtype)

    def step(h, inp):
        x_t, e_t = inp
        r = jax.nn.relu(h)
        u = r @ mu_rec.T + x_t @ mu_in.T + e_t * safe_sqrt((r * r) @ v_rec.T)
        return (1 - alpha) * h + alpha * u, None

    h_T, _ = jax.lax.scan(step, h_init, (x, eps_u))
    r = jax.nn.relu(h_T)
    z = r @ mu_out.T + eps_out * safe_sqrt((r * r) @ v_out.T)
    return -jnp.sum(onehot * jax.nn.log_softmax(z, axis=-1)) / b


@jax.jit
def train_step(params, x, onehot, key):
    """Forward + all gradients for one minibatch, eps drawn inside."""
    t, b, _ = x.shape
    n = params["rec.m"].shape[0]
    k = params["out.m"].shape[0]
    k_u, k_o = jax.random.split(key)
    eps_u = jax.random.normal(k_u, (t, b, n), dtype=x.dtype)
    eps_out = jax.random.normal(k_o, (b, k), dtype=x.dtype)
    return jax.value_and_grad(loss_fn)(params, x, onehot, eps_u, eps_out)


# ----------------------------------------------------------------------------------------
# NumPy: explicit loop over time, hand-written backward (docs/MODEL.md §1.4)
# ----------------------------------------------------------------------------------------

def numpy_step(params, x, onehot, eps_u, eps_out, alpha=ALPHA, h0=H0):
    p = params
    dt = x.dtype
    mu_in = p["in.m"]
    mu_rec = (1 - p["rec.pi"]) * p["rec.m"]
    v_rec = (1 - p["rec.pi"]) * p["rec.xi"] + p["rec.pi"] * (1 - p["rec.pi"]) * p["rec.m"] ** 2
    mu_out = (1 - p["out.pi"]) * p["out.m"]
    v_out = (1 - p["out.pi"]) * p["out.xi"] + p["out.pi"] * (1 - p["out.pi"]) * p["out.m"] ** 2
    t_len, b, _ = x.shape
    n = mu_rec.shape[0]
    a = dt.type(alpha)
    # forward, saving r_{t-1}, h_t and sqrt(S_t)
    R = np.empty((t_len, b, n), dt)
    H = np.empty((t_len, b, n), dt)
    SQ = np.empty((t_len, b, n), dt)
    h = np.full((b, n), h0, dt)
    for t in range(t_len):
        r = np.maximum(h, 0)
        R[t] = r
        sq = np.sqrt((r * r) @ v_rec.T)
        SQ[t] = sq
        u = r @ mu_rec.T + x[t] @ mu_in.T + eps_u[t] * sq
        h = (1 - a) * h + a * u
        H[t] = h
    r = np.maximum(h, 0)
    sq_o = np.sqrt((r * r) @ v_out.T)
    z = r @ mu_out.T + eps_out * sq_o
    zm = z - z.max(axis=1, keepdims=True)
    logp = zm - np.log(np.exp(zm).sum(axis=1, keepdims=True))
    loss = -np.sum(onehot * logp) / b
    # backward
    gz = (np.exp(logp) - onehot) / dt.type(b)
    ge_o = np.where(sq_o > 0, gz * eps_out / np.where(sq_o > 0, sq_o, 1), 0)  # g*eps/sqrt(S)
    d_mu_out = gz.T @ r
    d_v_out = 0.5 * (ge_o.T @ (r * r))
    dr = gz @ mu_out + r * (ge_o @ v_out)
    delta = (H[-1] > 0) * dr
    d_mu_rec = np.zeros_like(mu_rec)
    d_v_rec = np.zeros_like(v_rec)
    d_mu_in = np.zeros_like(mu_in)
    for t in range(t_len - 1, -1, -1):
        gu = a * delta
        rp = R[t]
        sq = SQ[t]
        ge = np.where(sq > 0, gu * eps_u[t] / np.where(sq > 0, sq, 1), 0)
        d_mu_rec += gu.T @ rp
        d_mu_in += gu.T @ x[t]
        d_v_rec += 0.5 * (ge.T @ (rp * rp))
        if t > 0:
            dr = gu @ mu_rec + rp * (ge @ v_rec)
            delta = (1 - a) * delta + (H[t - 1] > 0) * dr

    def sas_grads(m, pi, xi, dmu, dv):
        return ((1 - pi) * dmu + 2 * pi * (1 - pi) * m * dv,
                -m * dmu + ((1 - 2 * pi) * m * m - xi) * dv,
                (1 - pi) * dv)

    g = {"in.m": d_mu_in}
    g["rec.m"], g["rec.pi"], g["rec.xi"] = sas_grads(p["rec.m"], p["rec.pi"], p["rec.xi"], d_mu_rec, d_v_rec)
    g["out.m"], g["out.pi"], g["out.xi"] = sas_grads(p["out.m"], p["out.pi"], p["out.xi"], d_mu_out, d_v_out)
    return loss, g


def numpy_train_step(params, x, onehot, rng):
    t, b, _ = x.shape
    n = params["rec.m"].shape[0]
    k = params["out.m"].shape[0]
    eps_u = rng.standard_normal((t, b, n), dtype=x.dtype)
    eps_out = rng.standard_normal((b, k), dtype=x.dtype)
    return numpy_step(params, x, onehot, eps_u, eps_out)


def check_numpy_against_jax():
    """NumPy hand-written gradients vs JAX autodiff on a short sequence (float32)."""
    params, x, onehot = make_problem(seed=1, b=16, t=50)
    rng = np.random.default_rng(2)
    # perturb pi away from 0 so every term of the SaS map is exercised
    params["rec.pi"] = (0.3 * rng.uniform(size=params["rec.pi"].shape)).astype(np.float32)
    params["out.pi"] = (0.3 * rng.uniform(size=params["out.pi"].shape)).astype(np.float32)
    eps_u = rng.standard_normal((50, 16, N), dtype=np.float32)
    eps_out = rng.standard_normal((16, K), dtype=np.float32)
    l_np, g_np = numpy_step(params, x, onehot, eps_u, eps_out)
    l_jx, g_jx = jax.jit(jax.value_and_grad(loss_fn))(params, x, onehot, eps_u, eps_out)
    ok = abs(float(l_jx) - float(l_np)) <= 1e-5 * abs(float(l_jx))
    print(f"check NumPy vs JAX (B=16, T=50, f32): loss {float(l_np):.6f} vs {float(l_jx):.6f}")
    for k in DIFF_PARAMS:
        a, b = np.asarray(g_np[k], np.float64), np.asarray(g_jx[k], np.float64)
        e = np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)
        ok &= e < 1e-4
        print(f"  grad.{k:7s} rel err {e:.1e}")
    print("check:", "PASSED" if ok else "FAILED")
    return ok


# ----------------------------------------------------------------------------------------

def time_it(fn, runs, warmup):
    times = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        fn(i)
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt * 1e3)
    return times


def run_sasnet(cmd, timeout):
    argv = shlex.split(cmd) + ["bench", "--json"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return None, f"cannot run {argv[0]!r}: not found"
    except subprocess.TimeoutExpired:
        return None, f"`{shlex.join(argv)}` timed out after {timeout}s"
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        return None, f"`{shlex.join(argv)}` exited with {proc.returncode}:\n{tail}"
    out = proc.stdout.strip()
    obj = None
    try:
        obj = json.loads(out)
    except json.JSONDecodeError:
        for line in reversed(out.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                    break
                except json.JSONDecodeError:
                    pass
    if not isinstance(obj, dict) or "ms_per_minibatch" not in obj:
        return None, f"`{shlex.join(argv)}` printed no JSON object with ms_per_minibatch:\n{out[-2000:]}"
    return obj, None


def main(argv=None):
    ap = argparse.ArgumentParser(description="JAX peer benchmark for sasnet (docs/MODEL.md §9).")
    ap.add_argument("--runs", type=int, default=10, help="timed runs (median reported; >= 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs after compiling")
    ap.add_argument("--sasnet", metavar="PATH", help="sasnet binary: runs `PATH bench --json`")
    ap.add_argument("--sasnet-timeout", type=float, default=1800.0)
    ap.add_argument("--numpy", action="store_true", help="also time the NumPy loop version")
    ap.add_argument("--numpy-runs", type=int, default=3)
    ap.add_argument("--check", action="store_true", help="check NumPy gradients against JAX")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    threads = os.cpu_count()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = threads
    import jaxlib
    print(f"JAX {jax.__version__} (jaxlib {getattr(jaxlib, '__version__', '?')}), "
          f"NumPy {np.__version__}, Python {platform.python_version()}, "
          f"device {jax.devices()[0]}, CPU threads: os.cpu_count()={threads}, usable={affinity}")
    print(f"workload W: pixel MNIST minibatch B={B} N={N} T={T} I={I} K={K} float32 "
          f"alpha={ALPHA} sigma=0, ~{FLOP / 1e9:.1f} GFLOP of matrix products")

    ok = True
    if args.check:
        ok &= check_numpy_against_jax()

    params_np, x_np, onehot_np = make_problem(args.seed)
    params = {k: jnp.asarray(v) for k, v in params_np.items()}
    x, onehot = jnp.asarray(x_np), jnp.asarray(onehot_np)
    base_key = jax.random.PRNGKey(args.seed)

    t0 = time.perf_counter()
    compiled = train_step.lower(params, x, onehot, base_key).compile()
    t_compile = time.perf_counter() - t0

    def jax_run(i):
        loss, grads = compiled(params, x, onehot, jax.random.fold_in(base_key, i))
        jax.block_until_ready((loss, grads))
        return loss

    loss0 = float(jax_run(0))
    if not np.isfinite(loss0):
        print(f"error: JAX loss is {loss0}", file=sys.stderr)
        return 1
    runs = max(args.runs, 1)
    jax_times = time_it(jax_run, runs, args.warmup)
    jax_ms = statistics.median(jax_times)
    print(f"JAX jit+scan: compile {t_compile:.2f} s, loss {loss0:.4f}, median of {runs} runs "
          f"{jax_ms:.1f} ms (min {min(jax_times):.1f}, max {max(jax_times):.1f}) "
          f"= {FLOP / (jax_ms * 1e6):.2f} GFLOP/s")
    results = {"jax_version": jax.__version__, "cpu_threads": threads, "usable_cpus": affinity,
               "jax_ms_per_minibatch": jax_ms, "jax_runs_ms": jax_times,
               "jax_compile_s": t_compile}

    np_ms = None
    if args.numpy:
        rng = np.random.default_rng(args.seed)
        np_times = time_it(lambda i: numpy_train_step(params_np, x_np, onehot_np, rng),
                           max(args.numpy_runs, 1), 1)
        np_ms = statistics.median(np_times)
        results["numpy_ms_per_minibatch"] = np_ms
        print(f"NumPy loop: median of {len(np_times)} runs {np_ms:.1f} ms "
              f"= {FLOP / (np_ms * 1e6):.2f} GFLOP/s")

    sas_ms = None
    if args.sasnet:
        obj, err = run_sasnet(args.sasnet, args.sasnet_timeout)
        if err:
            print(f"error: {err}", file=sys.stderr)
            ok = False
        else:
            sas_ms = float(obj["ms_per_minibatch"])
            results["sasnet"] = obj
            results["sasnet_ms_per_minibatch"] = sas_ms

    print("\n  implementation        ms/minibatch   GFLOP/s   ratio to sasnet")
    if sas_ms is not None:
        print(f"  sasnet                {sas_ms:12.1f}   {FLOP / (sas_ms * 1e6):7.2f}   1.00")
    for name, ms in (("JAX (jit + scan)", jax_ms), ("NumPy loop", np_ms)):
        if ms is None:
            continue
        ratio = f"{ms / sas_ms:.2f}" if sas_ms else "-"
        print(f"  {name:20s}  {ms:12.1f}   {FLOP / (ms * 1e6):7.2f}   {ratio}")
    if sas_ms:
        results["ratio_jax_over_sasnet"] = jax_ms / sas_ms
        print(f"\n  JAX/sasnet = {jax_ms / sas_ms:.2f}  (same machine, this run; "
              f"{threads} CPU threads)")
    if args.json:
        print(json.dumps(results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
