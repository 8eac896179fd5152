#!/usr/bin/env python3
"""Attribute a `perf record --call-graph=dwarf` profile of `sasnet bench` to the parts of W.

    perf record -g --call-graph=dwarf,16384 -F 2000 -o w.data target/release/sasnet bench --reps 20
    perf script -i w.data -F comm,tid,ip,sym,srcline > w.txt
    python3 bench/profile_w.py w.txt src/engine/chunk.rs

Each sample is charged to the innermost frame that lies in sasnet's engine: a GEMM call
site in `chunk.rs` (named by the product it computes: the line's code is printed), the
fused element-wise passes, ε generation (`rng.rs`), or the rest. Samples with no engine
frame (thread-pool spinning and sleeping, page faults, the spike-and-slab chain rule, start
up) are listed by their innermost symbol. Percentages are of all samples of the process.
"""
import collections
import re
import sys


def samples(path):
    frames = []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if frames:
                    yield frames
                frames = []
                continue
            if not line.startswith("\t") and not line.startswith(" "):
                continue  # header line
            if line.startswith("\t"):
                parts = line.strip().split(None, 1)
                sym = parts[1] if len(parts) > 1 else "?"
                frames.append([sym, ""])
            elif frames:
                frames[-1][1] = line.strip()
    if frames:
        yield frames


def enclosing(src, ln):
    """The `impl`/`fn` a chunk.rs line belongs to, as a category."""
    fn = impl = ""
    for i in range(min(ln, len(src)) - 1, -1, -1):
        t = src[i].strip()
        if not fn and re.match(r"(pub(\(\w+\))? )?fn \w+", t):
            fn = re.match(r"(?:pub(?:\(\w+\))? )?fn (\w+)", t).group(1)
        if t.startswith("impl"):
            impl = t
            break
    if fn == "advance" and "BackStep" in impl:
        return "element-wise backward pass"
    if fn == "advance" or fn == "relu":
        return "element-wise forward pass"
    return f"other ({fn})"


def main():
    path, chunk_rs = sys.argv[1], sys.argv[2]
    src = open(chunk_rs).read().split("\n")
    total = 0
    cat = collections.Counter()
    for fr in samples(path):
        total += 1
        gemm = any(
            s.startswith("gemm_") or "private_gemm" in s or "linalg::gemm" in s or "x86::call" in s
            for s, _ in fr[:12]
        )
        key = None
        for sym, sl in fr:
            m = re.match(r"(?:.*/)?(chunk|rng)\.rs:(\d+)", sl)
            if not m:
                continue
            f, ln = m.group(1), int(m.group(2))
            if f == "rng":
                key = "eps generation (rng.rs)"
                break
            code = src[ln - 1].strip() if ln - 1 < len(src) else "?"
            if gemm:
                key = f"GEMM chunk.rs:{ln}  {code[:60]}"
            else:
                key = f"{enclosing(src, ln)}: chunk.rs:{ln}  {code[:50]}"
            break
        if key is None:
            key = "no engine frame: " + (fr[0][0][:60] if fr else "?")
        cat[key] += 1
    for k, v in cat.most_common(40):
        print(f"{100 * v / total:6.2f} %  {k}")
    print(f"{total} samples")


if __name__ == "__main__":
    main()
