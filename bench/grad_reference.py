#!/usr/bin/env python3
"""Independent float64 reference for `sasnet grad IN.safetensors OUT.safetensors`.

Implements the verification interface of docs/MODEL.md §8 with JAX autodiff in
float64 (no hand-written gradients), and checks a `sasnet` binary against it.

Semantics (t = 1..T, tensor index t-1; row = receiving unit; per-sample products r @ M.T):

    mu = (1-pi) m          v = (1-pi) xi + pi (1-pi) m^2            (every layer)
    r_0 = relu(h0)
    u_t = mu_rec r_{t-1} + mu_in x_t + eps_u * sqrt(v_rec r_{t-1}^2 + [sas_in] v_in x_t^2)
    h_t = (1-alpha) h_{t-1} + alpha u_t + sqrt(2 alpha sigma^2) noise_rec_t
    r_t = relu(h_t)                                                   (relu'(0) = 0)
    z_t = mu_out r_t + eps_out * sqrt(v_out r_t^2)
    ce : L = -(1/B) sum target * log_softmax(z_T)
    mse: L = 1/(2BT) sum_t sum (mask * (z_t - target))^2
    ce_steps: L = -(1/sum mask) sum_{t,b} mask[t,b] * log_softmax(z_t,b)[labels[t,b]]
              (labels, mask [T,B]; labels are integers stored in the common dtype)

Where a variance sum S is 0, sqrt(S) is 0 and the gradient through it is 0.
With sas_in = false the input layer is deterministic (no v_in term) and grad.in.pi,
grad.in.xi are zeros (held fixed); grad.in.m is the true gradient.

Usage:
    python3 bench/grad_reference.py --sasnet PATH_TO_BINARY [--cases 20] [--seed 0]
                                    [--loss ce|mse|ce_steps]   # one loss only (default: ce/mse alternate)
    python3 bench/grad_reference.py --self-test           # reference vs finite differences
    python3 bench/grad_reference.py --grad IN OUT         # act like `sasnet grad IN OUT`
    python3 bench/grad_reference.py --write-case PATH [--seed 0]   # dump one random case

As a library:  from grad_reference import make_case, write_case, read_case, reference
(importing it turns on jax_enable_x64).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

LAYERS = ("in", "rec", "out")
FIELDS = ("m", "pi", "xi")
PARAM_NAMES = tuple(f"{l}.{f}" for l in LAYERS for f in FIELDS)
GRAD_NAMES = tuple(f"grad.{p}" for p in PARAM_NAMES)
OUTPUT_NAMES = ("loss",) + GRAD_NAMES
REL_TOL = 1e-7


# ----------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------

def safe_sqrt(s):
    """sqrt(s) where s > 0, else 0; the derivative is 0 where s <= 0 (no NaN/inf)."""
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


def relu(h):
    """ReLU with relu'(0) = 0 (the gradient flows only through the h > 0 branch)."""
    return jnp.where(h > 0, h, jnp.zeros_like(h))


def moments(m, pi, xi):
    mu = (1.0 - pi) * m
    v = (1.0 - pi) * xi + pi * (1.0 - pi) * m * m
    return mu, v


def parse_meta(meta: dict) -> dict:
    """Parse the safetensors string metadata into Python values (strict)."""
    missing = [k for k in ("alpha", "sigma", "loss", "sas_in") if k not in meta]
    if missing:
        raise ValueError(f"metadata is missing keys {missing}")
    loss = meta["loss"]
    if loss not in ("ce", "mse", "ce_steps"):
        raise ValueError(f"metadata loss must be 'ce', 'mse' or 'ce_steps', got {loss!r}")
    sas_in = meta["sas_in"]
    if sas_in not in ("true", "false"):
        raise ValueError(f"metadata sas_in must be 'true' or 'false', got {sas_in!r}")
    return {
        "alpha": float(meta["alpha"]),
        "sigma": float(meta["sigma"]),
        "loss": loss,
        "sas_in": sas_in == "true",
    }


def loss_fn(params, data, cfg, zero_v=()):
    """The scalar loss. `params` maps the nine parameter names to arrays, `data` holds
    h0, x, eps_u, eps_out, noise_rec, target (and mask for mse). `zero_v` lists layers
    whose variance is forced to 0 (deterministic limit; used by the self-test)."""
    alpha, sigma = cfg["alpha"], cfg["sigma"]
    mom = {}
    for l in LAYERS:
        mu, v = moments(params[f"{l}.m"], params[f"{l}.pi"], params[f"{l}.xi"])
        if l in zero_v:
            v = jnp.zeros_like(v)
        mom[l] = (mu, v)
    mu_in, v_in = mom["in"]
    mu_rec, v_rec = mom["rec"]
    mu_out, v_out = mom["out"]
    sas_in = cfg["sas_in"]
    noise_scale = np.sqrt(2.0 * alpha * sigma * sigma)

    def readout(r, eps_o):
        return r @ mu_out.T + eps_o * safe_sqrt((r * r) @ v_out.T)

    def step(carry, inp):
        h, r = carry
        x_t, eu_t, eo_t, n_t = inp
        s = (r * r) @ v_rec.T
        if sas_in:
            s = s + (x_t * x_t) @ v_in.T
        u = r @ mu_rec.T + x_t @ mu_in.T + eu_t * safe_sqrt(s)
        h = (1.0 - alpha) * h + alpha * u + noise_scale * n_t
        r = relu(h)
        return (h, r), readout(r, eo_t)

    h0 = data["h0"]
    (_, _), z = jax.lax.scan(
        step, (h0, relu(h0)),
        (data["x"], data["eps_u"], data["eps_out"], data["noise_rec"]))
    B = h0.shape[0]
    T = data["x"].shape[0]
    if cfg["loss"] == "ce":
        logp = jax.nn.log_softmax(z[-1], axis=-1)
        return -jnp.sum(data["target"] * logp) / B
    if cfg["loss"] == "ce_steps":
        logp = jax.nn.log_softmax(z, axis=-1)                       # [T, B, K]
        lab = data["labels"].astype(jnp.int32)
        picked = jnp.take_along_axis(logp, lab[..., None], axis=-1)[..., 0]
        return -jnp.sum(data["mask"] * picked) / jnp.sum(data["mask"])
    d = data["mask"] * (z - data["target"])
    return jnp.sum(d * d) / (2.0 * B * T)


def _split(tensors):
    params = {k: jnp.asarray(tensors[k]) for k in PARAM_NAMES}
    data = {k: jnp.asarray(v) for k, v in tensors.items() if k not in PARAM_NAMES}
    return params, data


def check_inputs(tensors: dict, cfg: dict) -> None:
    """Raise ValueError with a clear message when tensors are missing or mis-shaped."""
    need = list(PARAM_NAMES) + ["h0", "x", "eps_u", "eps_out", "noise_rec"]
    need += ["labels", "mask"] if cfg["loss"] == "ce_steps" else ["target"]
    if cfg["loss"] == "mse":
        need.append("mask")
    missing = [k for k in need if k not in tensors]
    if missing:
        raise ValueError(f"input is missing tensors {missing}")
    N = tensors["rec.m"].shape[0]
    I = tensors["in.m"].shape[1]
    K = tensors["out.m"].shape[0]
    T, B = tensors["x"].shape[:2]
    want = {"h0": (B, N), "x": (T, B, I), "eps_u": (T, B, N), "eps_out": (T, B, K),
            "noise_rec": (T, B, N)}
    for f in FIELDS:
        want[f"in.{f}"] = (N, I)
        want[f"rec.{f}"] = (N, N)
        want[f"out.{f}"] = (K, N)
    if cfg["loss"] == "ce_steps":
        want["labels"] = (T, B)
        want["mask"] = (T, B)
        lab = np.asarray(tensors["labels"], np.float64)
        if np.any(lab != np.round(lab)) or np.any(lab < 0) or np.any(lab >= K):
            raise ValueError(f"labels must be integers in 0..{K - 1}")
        if not np.sum(np.asarray(tensors["mask"], np.float64)) > 0:
            raise ValueError("mask sums to 0")
    else:
        want["target"] = (B, K) if cfg["loss"] == "ce" else (T, B, K)
    if cfg["loss"] == "mse":
        want["mask"] = (T, B, K)
    for k, shp in want.items():
        if tuple(tensors[k].shape) != shp:
            raise ValueError(f"tensor {k} has shape {tuple(tensors[k].shape)}, expected {shp}")
    dts = {str(tensors[k].dtype) for k in need}
    if len(dts) != 1:
        raise ValueError(f"input tensors have mixed dtypes {sorted(dts)}")


def reference(tensors: dict, meta: dict, zero_v=()) -> dict:
    """Loss and all nine gradients, computed in float64 with JAX autodiff.

    Returns numpy arrays: `loss` of shape [1] and `grad.<layer>.<field>` with the parameter
    shapes, cast back to the dtype of the input tensors."""
    cfg = parse_meta(meta) if isinstance(meta.get("sas_in"), str) else meta
    check_inputs(tensors, cfg)
    out_dtype = tensors["rec.m"].dtype
    t64 = {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}
    params, data = _split(t64)
    loss, grads = jax.value_and_grad(loss_fn)(params, data, cfg, tuple(zero_v))
    out = {"loss": np.asarray([float(loss)], dtype=np.float64)}
    for k in PARAM_NAMES:
        g = np.asarray(grads[k], dtype=np.float64)
        if k in ("in.pi", "in.xi") and not cfg["sas_in"]:
            g = np.zeros_like(g)  # held fixed in the deterministic limit
        out[f"grad.{k}"] = g
    return {k: v.astype(out_dtype) for k, v in out.items()}


# ----------------------------------------------------------------------------------------
# Random cases and file I/O
# ----------------------------------------------------------------------------------------

def numpy_forward(tensors, cfg, zero_v=()):
    """A second, plain-NumPy f64 forward pass written straight from the spec (used to check
    the JAX forward in the self-test, and to reject ill-conditioned random cases).
    Returns (loss, min |h_t|, min recurrent variance sum, min readout variance sum)."""
    t = {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}
    mom = {}
    for l in LAYERS:
        m, pi, xi = t[f"{l}.m"], t[f"{l}.pi"], t[f"{l}.xi"]
        v = np.zeros_like(m) if l in zero_v else (1 - pi) * xi + pi * (1 - pi) * m ** 2
        mom[l] = ((1 - pi) * m, v)
    a = cfg["alpha"]
    ns = np.sqrt(2 * a * cfg["sigma"] ** 2)
    T, B = t["x"].shape[:2]
    h = t["h0"]
    r = np.maximum(h, 0)
    min_h, min_srec, min_sout = np.inf, np.inf, np.inf
    loss = 0.0
    for i in range(T):
        x = t["x"][i]
        s = np.zeros_like(h)
        for b in range(B):  # per sample, as matrix-vector products
            s[b] = mom["rec"][1] @ (r[b] ** 2)
            if cfg["sas_in"]:
                s[b] += mom["in"][1] @ (x[b] ** 2)
        min_srec = min(min_srec, s.min())
        u = np.stack([mom["rec"][0] @ r[b] + mom["in"][0] @ x[b] for b in range(B)])
        u = u + t["eps_u"][i] * np.sqrt(np.maximum(s, 0))
        h = (1 - a) * h + a * u + ns * t["noise_rec"][i]
        r = np.maximum(h, 0)
        min_h = min(min_h, np.abs(h).min())
        so = np.stack([mom["out"][1] @ (r[b] ** 2) for b in range(B)])
        min_sout = min(min_sout, so.min())
        z = np.stack([mom["out"][0] @ r[b] for b in range(B)]) + t["eps_out"][i] * np.sqrt(np.maximum(so, 0))
        if cfg["loss"] == "mse":
            loss += np.sum((t["mask"][i] * (z - t["target"][i])) ** 2) / (2.0 * B * T)
        elif cfg["loss"] == "ce_steps":
            zm = z.max(axis=1, keepdims=True)
            logp = z - zm - np.log(np.sum(np.exp(z - zm), axis=1, keepdims=True))
            lab = t["labels"][i].astype(np.int64)
            loss -= np.sum(t["mask"][i] * logp[np.arange(B), lab]) / np.sum(t["mask"])
        elif i == T - 1:
            zm = z.max(axis=1, keepdims=True)
            logp = z - zm - np.log(np.sum(np.exp(z - zm), axis=1, keepdims=True))
            loss = -np.sum(t["target"] * logp) / B
    return loss, min_h, min_srec, min_sout


def _zero_set(zero_var_layer, sas_in):
    if zero_var_layer is None:
        z = set()
    elif isinstance(zero_var_layer, str):
        z = {zero_var_layer}
    else:
        z = set(zero_var_layer)
    bad = z - set(LAYERS)
    if bad:
        raise ValueError(f"unknown layers {sorted(bad)}")
    if not sas_in:
        z.discard("in")  # the deterministic input layer has no variance term anyway
    return z


def vanishing_layers(zero_var_layer, sas_in):
    """Layers whose variance sum S is identically 0 for a case made with `zero_var_layer`,
    i.e. where the zero-variance rule drops every gradient through v. The readout's S is
    v_out r^2; the recurrent S is v_rec r^2 + [sas_in] v_in x^2 and is shared with 'in'."""
    z = _zero_set(zero_var_layer, sas_in)
    out = []
    if "rec" in z and (not sas_in or "in" in z):
        out += ["in", "rec"] if sas_in else ["rec"]
    if "out" in z:
        out.append("out")
    return tuple(out)


def make_case(rng, N, I, K, B, T, loss, sas_in, sigma, special=True, zero_var_layer=None,
              alpha=None, max_tries=200):
    """Random float64 inputs for `sasnet grad`. Returns (tensors, meta).

    special=True sets some entries exactly to pi=0, pi=1 and xi=0 (with xi=0 and pi=0
    together on a few entries, i.e. v=0 there). zero_var_layer in {None,'in','rec','out'}
    (or a tuple of layers) sets that whole layer's pi and xi to 0 (v == 0); where this makes
    a variance sum identically 0 (see vanishing_layers) the zero-variance rule is exercised.
    The case is redrawn until no h_t is near the ReLU kink and every variance sum S is
    comfortably positive except those that are identically 0."""
    zset = _zero_set(zero_var_layer, sas_in)
    vanish = vanishing_layers(zset, sas_in)
    for _ in range(max_tries):
        a = float(rng.choice([0.1, 0.25, 0.5, 0.75, 1.0])) if alpha is None else float(alpha)
        shapes = {"in": (N, I), "rec": (N, N), "out": (K, N)}
        tens = {}
        for l, shp in shapes.items():
            scale = {"in": 1.0, "rec": 1.0 / np.sqrt(N), "out": 1.0 / np.sqrt(N)}[l]
            m = rng.normal(0.0, 1.5 * scale, shp)
            pi = rng.uniform(0.0, 0.9, shp)
            xi = rng.uniform(0.0, 0.5, shp) * scale ** 2
            # keep v_in > 0 everywhere when it alone keeps the recurrent S positive
            if special and not (l == "in" and "rec" in zset):
                flat = np.arange(m.size)
                rng.shuffle(flat)
                n_sp = max(1, m.size // 6)
                k0 = flat[:n_sp]                  # pi = 0 exactly
                k1 = flat[n_sp:2 * n_sp]          # pi = 1 exactly
                k2 = flat[2 * n_sp:3 * n_sp]      # xi = 0 exactly
                k3 = flat[3 * n_sp:3 * n_sp + max(1, n_sp // 2)]  # pi = 0 and xi = 0
                pi.flat[k0] = 0.0
                pi.flat[k1] = 1.0
                xi.flat[k2] = 0.0
                pi.flat[k3] = 0.0
                xi.flat[k3] = 0.0
            if l == "in" and not sas_in:
                pi[:] = 0.0
                xi[:] = 0.0
            if l in zset:
                pi[:] = 0.0
                xi[:] = 0.0
            tens[f"{l}.m"], tens[f"{l}.pi"], tens[f"{l}.xi"] = m, pi, xi
        tens["h0"] = rng.uniform(0.05, 1.0, (B, N)) * rng.choice([1.0, -1.0], (B, N), p=[0.8, 0.2])
        tens["x"] = rng.uniform(-1.0, 1.0, (T, B, I))
        tens["eps_u"] = rng.normal(size=(T, B, N))
        tens["eps_out"] = rng.normal(size=(T, B, K))
        tens["noise_rec"] = rng.normal(size=(T, B, N))
        if loss == "ce":
            tens["target"] = np.eye(K)[rng.integers(0, K, B)]
        elif loss == "ce_steps":
            tens["labels"] = rng.integers(0, K, (T, B)).astype(np.float64)
            w = rng.uniform(0.5, 1.5, (T, B)) * (rng.uniform(size=(T, B)) < 0.7)
            w[-1, :] = 1.0  # every trial scored at its last step (a decision period)
            tens["mask"] = w
        else:
            tens["target"] = rng.normal(size=(T, B, K))
            tens["mask"] = (rng.uniform(size=(T, B, K)) < 0.7).astype(np.float64)
        meta = {"alpha": repr(a), "sigma": repr(float(sigma)), "loss": loss,
                "sas_in": "true" if sas_in else "false"}
        cfg = parse_meta(meta)
        _, min_h, min_srec, min_sout = numpy_forward(tens, cfg)
        ok = min_h > 1e-3
        ok = ok and (min_srec == 0.0 if "rec" in vanish else min_srec > 1e-8)
        ok = ok and (min_sout == 0.0 if "out" in vanish else min_sout > 1e-8)
        if ok:
            return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in tens.items()}, meta
    raise RuntimeError("make_case: could not draw a well-conditioned case; try other sizes")


def write_case(path, tensors, meta):
    from safetensors.numpy import save_file
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path),
              metadata={k: str(v) for k, v in meta.items()})


def read_case(path):
    """Returns (tensors, meta) from a safetensors file."""
    from safetensors import safe_open
    tensors = {}
    with safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata() or {})
        for k in f.keys():
            tensors[k] = f.get_tensor(k)
    return tensors, meta


# ----------------------------------------------------------------------------------------
# Self-test: the reference against central finite differences
# ----------------------------------------------------------------------------------------

def finite_difference(tensors, meta, step=1e-6, zero_v=()):
    cfg = parse_meta(meta)
    params, data = _split({k: np.asarray(v, np.float64) for k, v in tensors.items()})
    f = jax.jit(lambda p: loss_fn(p, data, cfg, tuple(zero_v)))
    base = {k: np.asarray(v) for k, v in params.items()}
    fd = {}
    for k in PARAM_NAMES:
        g = np.zeros_like(base[k])
        for idx in np.ndindex(*base[k].shape):
            vals = []
            for sgn in (1.0, -1.0):
                p = dict(base)
                arr = base[k].copy()
                arr[idx] += sgn * step
                p[k] = arr
                vals.append(float(f(p)))
            g[idx] = (vals[0] - vals[1]) / (2 * step)
        fd[k] = g
    return fd


def rel_err(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-300))


def self_test(seed=0, tol=1e-6) -> bool:
    rng = np.random.default_rng(seed)
    configs = [
        dict(loss="ce", sas_in=True, sigma=0.0, zero_var_layer=None),
        dict(loss="mse", sas_in=True, sigma=0.3, zero_var_layer=None),
        dict(loss="ce", sas_in=False, sigma=0.2, zero_var_layer=None),
        dict(loss="mse", sas_in=False, sigma=0.0, zero_var_layer="out"),
        dict(loss="ce", sas_in=False, sigma=0.1, zero_var_layer="rec"),
        dict(loss="mse", sas_in=True, sigma=0.1, zero_var_layer=("rec", "in")),
        dict(loss="ce", sas_in=True, sigma=0.1, zero_var_layer="rec"),   # S > 0 via v_in
        dict(loss="mse", sas_in=True, sigma=0.0, zero_var_layer="in"),   # S > 0 via v_rec
        dict(loss="ce_steps", sas_in=True, sigma=0.2, zero_var_layer=None),
        dict(loss="ce_steps", sas_in=False, sigma=0.0, zero_var_layer="out"),
    ]
    all_ok = True
    print(f"self-test: reference (JAX autodiff, f64) vs central finite differences "
          f"(step 1e-6), tolerance {tol:g} per tensor")
    for ci, c in enumerate(configs):
        N, I, K, B, T = 4, 2, 3, 2, 4
        tens, meta = make_case(rng, N, I, K, B, T, c["loss"], c["sas_in"], c["sigma"],
                               special=True, zero_var_layer=c["zero_var_layer"])
        ref = reference(tens, meta)
        n_special = {k: (int(np.sum(tens[k + ".pi"] == 0)), int(np.sum(tens[k + ".pi"] == 1)),
                         int(np.sum(tens[k + ".xi"] == 0))) for k in LAYERS}
        np_loss = numpy_forward(tens, parse_meta(meta))[0]
        e_loss = abs(np_loss - ref["loss"][0]) / abs(np_loss)
        ok = e_loss < 1e-12
        all_ok &= ok
        # Zero-variance rule: where a variance sum S is identically 0 the gradient through
        # v is dropped, which equals the gradient of the same network with those layers'
        # v forced to 0 (the deterministic limit): finite differences of that network.
        zero_v = vanishing_layers(c["zero_var_layer"], c["sas_in"])
        fd = finite_difference(tens, meta, zero_v=zero_v)
        print(f"  case {ci}: loss={c['loss']} sas_in={c['sas_in']} sigma={c['sigma']} "
              f"v==0 in {c['zero_var_layer']} (S==0 rule for {list(zero_v)})  "
              f"L={ref['loss'][0]:.6g}")
        print(f"    {'ok  ' if ok else 'FAIL'} loss vs independent NumPy forward: rel err {e_loss:.1e}; "
              f"#(pi==0, pi==1, xi==0) per layer: {n_special}")
        for k in PARAM_NAMES:
            g = ref[f"grad.{k}"]
            layer, field = k.split(".")
            if not np.all(np.isfinite(g)):
                print(f"    FAIL grad.{k}: non-finite values")
                all_ok = False
                continue
            if k in ("in.pi", "in.xi") and not c["sas_in"]:
                ok = not np.any(g)
                print(f"    {'ok  ' if ok else 'FAIL'} grad.{k:7s} exactly zero (held fixed)")
                all_ok &= ok
                continue
            if layer in zero_v and field == "xi":
                # xi enters only through v: with the rule its gradient is exactly 0
                ok = not np.any(g)
                print(f"    {'ok  ' if ok else 'FAIL'} grad.{k:7s} exactly zero (S == 0 rule)")
                all_ok &= ok
                continue
            e = rel_err(g, fd[k])
            ok = e < tol
            all_ok &= ok
            print(f"    {'ok  ' if ok else 'FAIL'} grad.{k:7s} rel err vs FD {e:.2e}  "
                  f"(max|g| {np.max(np.abs(g)):.3g})")
    print("self-test:", "PASSED" if all_ok else "FAILED")
    return all_ok


# ----------------------------------------------------------------------------------------
# Checking a sasnet binary
# ----------------------------------------------------------------------------------------

def compare(out, ref, in_dtype):
    """Returns (ok, rows) comparing a sasnet output dict to the reference."""
    rows = []
    ok = True
    for k in OUTPUT_NAMES:
        r = ref[k]
        if k not in out:
            rows.append((k, "MISSING", None))
            ok = False
            continue
        a = out[k]
        if tuple(a.shape) != tuple(r.shape):
            rows.append((k, f"WRONG SHAPE {tuple(a.shape)} (want {tuple(r.shape)})", None))
            ok = False
            continue
        if a.dtype != in_dtype:
            rows.append((k, f"WRONG DTYPE {a.dtype} (want {in_dtype})", None))
            ok = False
            continue
        if not np.all(np.isfinite(a)):
            rows.append((k, "NON-FINITE", None))
            ok = False
            continue
        e = rel_err(a, r)
        good = e <= REL_TOL
        ok &= good
        rows.append((k, "ok" if good else "FAIL", e))
    return ok, rows


def random_config(rng, i, loss=None):
    """Sizes and settings of case i; `loss` None alternates ce and mse (the draws do not
    depend on `loss`, so old case files are reproduced exactly)."""
    loss = ("ce", "mse")[i % 2] if loss is None else loss
    sas_in = bool((i // 2) % 2 == 0)
    sigma = 0.0 if (i // 4) % 2 == 0 else float(rng.choice([0.05, 0.2, 0.5]))
    zero_var = None
    if i % 5 == 4:
        zero_var = ("rec", "in", "out", ("rec", "in"))[(i // 5) % 4]
    return dict(N=int(rng.integers(3, 13)), I=int(rng.integers(1, 5)),
                K=int(rng.integers(2, 5)), B=int(rng.integers(1, 6)),
                T=int(rng.integers(1, 9)), loss=loss, sas_in=sas_in, sigma=sigma,
                zero_var_layer=zero_var)


def check_binary(cmd, n_cases, seed, timeout, keep_dir=None, loss=None) -> bool:
    argv0 = shlex.split(cmd)
    if not argv0:
        print("error: empty --sasnet command", file=sys.stderr)
        return False
    exe = argv0[0]
    if os.sep in exe:
        if not os.path.exists(exe):
            print(f"error: sasnet binary {exe!r} does not exist (build it first, e.g. "
                  f"cargo build --release, then pass target/release/sasnet)", file=sys.stderr)
            return False
    rng = np.random.default_rng(seed)
    all_ok = True
    worst = {k: 0.0 for k in OUTPUT_NAMES}
    unusable = {k: 0 for k in OUTPUT_NAMES}  # cases where the tensor was missing/bad
    n_run = 0
    tmp_ctx = tempfile.TemporaryDirectory(prefix="sasnet-grad-") if keep_dir is None else None
    tmp = keep_dir if keep_dir is not None else tmp_ctx.name
    os.makedirs(tmp, exist_ok=True)
    try:
        for i in range(n_cases):
            c = random_config(rng, i, loss)
            tens, meta = make_case(rng, c["N"], c["I"], c["K"], c["B"], c["T"], c["loss"],
                                   c["sas_in"], c["sigma"], special=True,
                                   zero_var_layer=c["zero_var_layer"])
            desc = (f"case {i:2d}: N={c['N']} I={c['I']} K={c['K']} B={c['B']} T={c['T']} "
                    f"loss={c['loss']} sas_in={meta['sas_in']} sigma={meta['sigma']} "
                    f"alpha={meta['alpha']} zero-var={c['zero_var_layer']}")
            inp = os.path.join(tmp, f"case{i:03d}_in.safetensors")
            outp = os.path.join(tmp, f"case{i:03d}_out.safetensors")
            write_case(inp, tens, meta)
            if os.path.exists(outp):
                os.remove(outp)
            argv = argv0 + ["grad", inp, outp]
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            except FileNotFoundError:
                print(f"error: cannot run {argv0[0]!r}: not found", file=sys.stderr)
                return False
            except subprocess.TimeoutExpired:
                print(f"{desc}\n  FAIL: `{shlex.join(argv)}` timed out after {timeout}s")
                all_ok = False
                continue
            if proc.returncode != 0:
                print(f"{desc}\n  FAIL: `{shlex.join(argv)}` exited with {proc.returncode}")
                tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-15:]
                for line in tail:
                    print(f"    | {line}")
                all_ok = False
                continue
            if not os.path.exists(outp):
                print(f"{desc}\n  FAIL: sasnet exited 0 but wrote no {outp}")
                all_ok = False
                continue
            try:
                out, _ = read_case(outp)
            except Exception as ex:  # noqa: BLE001
                print(f"{desc}\n  FAIL: cannot read {outp} as safetensors: {ex}")
                all_ok = False
                continue
            ref = reference(tens, meta)
            ok, rows = compare(out, ref, tens["rec.m"].dtype)
            print(f"{desc}  -> {'ok' if ok else 'FAIL'}")
            n_run += 1
            for k, status, e in rows:
                if e is not None:
                    worst[k] = max(worst[k], e)
                else:
                    unusable[k] += 1
                if not ok or status != "ok":
                    es = f"{e:.2e}" if e is not None else "-"
                    print(f"    {k:14s} {status:40s} rel err {es}")
            all_ok &= ok
            extra = sorted(set(out) - set(OUTPUT_NAMES))
            if extra:
                print(f"    note: extra output tensors ignored: {extra}")
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()
    print(f"\nmax relative error per tensor over the {n_run} of {n_cases} cases where sasnet "
          f"produced output (tolerance {REL_TOL:.0e}):")
    if n_run == 0:
        print("  (none: sasnet failed on every case)")
    for k in OUTPUT_NAMES if n_run else ():
        note = f"   (missing/wrong shape/dtype/non-finite in {unusable[k]} cases)" if unusable[k] else ""
        flag = "FAIL" if worst[k] > REL_TOL or unusable[k] else "ok"
        print(f"  {k:14s} {worst[k]:.3e}  {flag}{note}")
    print("RESULT:", "PASSED" if all_ok else "FAILED")
    return all_ok


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Independent JAX float64 reference for `sasnet grad` (docs/MODEL.md §8).")
    ap.add_argument("--sasnet", metavar="CMD",
                    help="path to the sasnet binary (or a command, split like a shell line)")
    ap.add_argument("--cases", type=int, default=20, help="number of random cases (20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per sasnet call")
    ap.add_argument("--keep", metavar="DIR", help="keep the case files in DIR")
    ap.add_argument("--self-test", action="store_true",
                    help="check the reference against central finite differences")
    ap.add_argument("--grad", nargs=2, metavar=("IN", "OUT"),
                    help="behave like `sasnet grad IN OUT` using the reference")
    ap.add_argument("--write-case", metavar="PATH", help="write one random case to PATH")
    ap.add_argument("--loss", choices=("ce", "mse", "ce_steps"),
                    help="use only this loss for --sasnet / --write-case cases "
                         "(default: ce and mse alternate)")
    args = ap.parse_args(argv)

    if not (args.sasnet or args.self_test or args.grad or args.write_case):
        ap.error("give --sasnet PATH, --self-test, --grad IN OUT or --write-case PATH")
    ok = True
    if args.write_case:
        rng = np.random.default_rng(args.seed)
        c = random_config(rng, args.seed, args.loss)
        tens, meta = make_case(rng, c["N"], c["I"], c["K"], c["B"], c["T"], c["loss"],
                               c["sas_in"], c["sigma"], zero_var_layer=c["zero_var_layer"])
        write_case(args.write_case, tens, meta)
        print(f"wrote {args.write_case}: {meta}, "
              + ", ".join(f"{k}{list(v.shape)}" for k, v in tens.items()))
    if args.grad:
        try:
            tens, meta = read_case(args.grad[0])
            res = reference(tens, parse_meta(meta))
        except (ValueError, OSError) as ex:
            print(f"error: {ex}", file=sys.stderr)
            return 2
        from safetensors.numpy import save_file
        save_file(res, args.grad[1])
    if args.self_test:
        ok &= self_test(args.seed)
    if args.sasnet:
        ok &= check_binary(args.sasnet, args.cases, args.seed, args.timeout, args.keep, args.loss)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
