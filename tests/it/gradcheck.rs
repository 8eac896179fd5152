//! Gradient checks of the engine: hand-derived gBPTT gradients against central finite
//! differences (f64) of an independent loop-based loss, the π = Ξ = 0 reduction to plain
//! BPTT, and a golden case written out by hand.

#![allow(clippy::needless_range_loop)]

use crate::common::{Case, plain_bptt, random_case, random_case_steps, reference_loss, smooth, smooth_case};
use sasnet::engine::noise::TensorNoise;
use sasnet::engine::{Batch, Engine, EngineConfig, RunOptions, Targets};
use sasnet::net::{SasNet, SasNetGrad};
use sasnet::sas::SasLayer;

fn engine_run(c: &Case, chunks: usize) -> (f64, SasNetGrad<f64>) {
    let net = SasNet {
        inp: c.layers[0].clone(),
        rec: c.layers[1].clone(),
        out: c.layers[2].clone(),
        stochastic: [c.sas_in, true, true],
    };
    let labels: Vec<usize> = c.target.iter().map(|&v| v as usize).collect();
    let targets = if c.mse {
        Targets::MaskedMse {
            y: &c.target,
            mask: &c.mask,
        }
    } else if c.ce_steps {
        Targets::CrossEntropySteps {
            labels: &labels,
            mask: &c.mask,
        }
    } else {
        Targets::CrossEntropyLast(&c.target)
    };
    let batch = Batch {
        steps: c.t,
        size: c.b,
        x: &c.x,
        h0: &c.h0,
        targets,
    };
    let noise = TensorNoise {
        batch: c.b,
        n: c.n,
        k: c.k,
        eps_u: &c.eps_u,
        eps_out: &c.eps_out,
        noise_rec: &c.noise_rec,
    };
    let mut e = Engine::<f64>::new(EngineConfig {
        alpha: c.alpha,
        sigma: c.sigma,
        chunks,
    })
    .unwrap();
    let out = e
        .run(
            &net.moments(),
            &batch,
            &noise,
            RunOptions {
                grad: true,
                ..Default::default()
            },
        )
        .unwrap();
    (out.loss, net.chain(out.grads.as_ref().unwrap()))
}

fn param_mut(c: &mut Case, layer: usize, kind: usize) -> &mut Vec<f64> {
    let l: &mut SasLayer<f64> = &mut c.layers[layer];
    match kind {
        0 => &mut l.m,
        1 => &mut l.pi,
        _ => &mut l.xi,
    }
}

/// Max over a tensor of |analytic − FD| / max(max|FD|, 1e-12).
fn check_case(c: &Case, label: &str) {
    let (loss, g) = engine_run(c, 2);
    let lref = reference_loss(c);
    assert!(
        (loss - lref).abs() <= 1e-12 * lref.abs().max(1.0),
        "{label}: loss {loss} vs reference {lref}"
    );
    let h = 1e-5;
    for (li, (lname, gl)) in g.layers().into_iter().enumerate() {
        for (ki, (kname, an)) in [("m", &gl.m), ("pi", &gl.pi), ("xi", &gl.xi)]
            .into_iter()
            .enumerate()
        {
            let fixed = li == 0 && ki > 0 && !c.sas_in;
            let mut fd = vec![0.0; an.len()];
            if !fixed {
                for e in 0..an.len() {
                    // Fourth-order central difference (error O(h⁴)).
                    let f = |d: f64| {
                        let mut cp = c.clone();
                        param_mut(&mut cp, li, ki)[e] += d;
                        reference_loss(&cp)
                    };
                    fd[e] = (8.0 * (f(h) - f(-h)) - (f(2.0 * h) - f(-2.0 * h))) / (12.0 * h);
                }
            }
            let scale = fd.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-12);
            let err = an.iter().zip(&fd).fold(0.0f64, |a, (x, y)| a.max((x - y).abs())) / scale;
            if fixed {
                assert!(
                    an.iter().all(|&v| v == 0.0),
                    "{label}: fixed {lname}.{kname} has nonzero gradient"
                );
            } else {
                assert!(
                    err < 1e-6,
                    "{label}: {lname}.{kname} relative error {err:.3e}\nanalytic {an:?}\nfd {fd:?}"
                );
            }
        }
    }
}

#[test]
fn finite_differences_all_nine_tensors() {
    let mut seed = 11;
    for mse in [false, true] {
        for sas_in in [false, true] {
            for sigma in [0.0, 0.4] {
                for special in [false, true] {
                    seed += 1;
                    let c = smooth_case(seed * 1000, 6, 3, 3, 4, 5, mse, sas_in, sigma, special);
                    let label =
                        format!("mse={mse} sas_in={sas_in} sigma={sigma} special={special} seed={seed}");
                    check_case(&c, &label);
                }
            }
        }
    }
}

#[test]
fn finite_differences_single_input_and_single_step() {
    // I = 1 takes the rank-1 input path; T = 1 has no recurrent backward step.
    check_case(&smooth_case(3000, 5, 1, 2, 3, 4, false, false, 0.0, true), "I=1");
    check_case(&smooth_case(4000, 4, 2, 2, 2, 1, true, true, 0.2, true), "T=1");
    check_case(&smooth_case(5000, 4, 1, 3, 1, 6, true, false, 0.0, true), "B=1");
}

#[test]
fn finite_differences_per_step_cross_entropy() {
    let mut seed = 61;
    for sas_in in [false, true] {
        for sigma in [0.0, 0.4] {
            for special in [false, true] {
                seed += 1;
                let c = smooth(seed * 1000, |s| {
                    random_case_steps(s, 6, 3, 3, 4, 5, sas_in, sigma, special)
                });
                check_case(&c, &format!("ce_steps sas_in={sas_in} sigma={sigma} seed={seed}"));
            }
        }
    }
    // T = 1, B = 1 and K = 2.
    let c = smooth(9000, |s| random_case_steps(s, 4, 2, 2, 1, 1, true, 0.2, true));
    check_case(&c, "ce_steps T=1 B=1");
}

#[test]
fn per_step_cross_entropy_reduces_and_chunks() {
    // π = Ξ = 0: the engine equals plain BPTT of the per-step loss.
    let mut c = random_case_steps(31, 6, 2, 3, 3, 7, true, 0.3, false);
    for l in c.layers.iter_mut() {
        l.pi.iter_mut().for_each(|p| *p = 0.0);
        l.xi.iter_mut().for_each(|p| *p = 0.0);
    }
    let (loss, g) = engine_run(&c, 2);
    let (lb, d_in, d_rec, d_out) = plain_bptt(&c, &c.layers[0].m, &c.layers[1].m, &c.layers[2].m);
    assert!((loss - lb).abs() < 1e-12, "loss {loss} vs BPTT {lb}");
    for (a, b) in [(&g.inp.m, &d_in), (&g.rec.m, &d_rec), (&g.out.m, &d_out)] {
        for (x, y) in a.iter().zip(b.iter()) {
            assert!((x - y).abs() <= 1e-12 * y.abs().max(1e-3), "{x} vs BPTT {y}");
        }
    }
    // Chunks split the batch, the mask sum stays global.
    let c = random_case_steps(32, 5, 2, 4, 5, 6, true, 0.2, true);
    let (l1, g1) = engine_run(&c, 1);
    let (l3, g3) = engine_run(&c, 3);
    assert!((l1 - l3).abs() < 1e-14, "{l1} vs {l3}");
    for (x, y) in g1.rec.m.iter().zip(&g3.rec.m) {
        assert!((x - y).abs() < 1e-12, "{x} vs {y}");
    }
    // A mask twice as large gives the same loss (normalised by its sum).
    let mut c2 = c.clone();
    c2.mask.iter_mut().for_each(|m| *m *= 2.0);
    let (l2, _) = engine_run(&c2, 1);
    assert!((l1 - l2).abs() < 1e-13, "{l1} vs {l2}");
}

#[test]
fn per_step_cross_entropy_rejects_bad_targets() {
    let c = random_case_steps(33, 4, 2, 3, 2, 3, true, 0.0, false);
    let net = SasNet {
        inp: c.layers[0].clone(),
        rec: c.layers[1].clone(),
        out: c.layers[2].clone(),
        stochastic: [true, true, true],
    };
    let noise = TensorNoise {
        batch: c.b,
        n: c.n,
        k: c.k,
        eps_u: &c.eps_u,
        eps_out: &c.eps_out,
        noise_rec: &c.noise_rec,
    };
    let mut e = Engine::<f64>::new(EngineConfig {
        alpha: c.alpha,
        sigma: c.sigma,
        chunks: 1,
    })
    .unwrap();
    let mut run = |labels: &[usize], mask: &[f64]| {
        let batch = Batch {
            steps: c.t,
            size: c.b,
            x: &c.x,
            h0: &c.h0,
            targets: Targets::CrossEntropySteps { labels, mask },
        };
        e.run(&net.moments(), &batch, &noise, RunOptions::default())
            .map(|o| o.loss)
            .map_err(|e| e.to_string())
    };
    let ok_labels = vec![1usize; 6];
    assert!(run(&ok_labels, &[1.0; 6]).unwrap().is_finite());
    let e0 = run(&ok_labels, &[0.0; 6]).unwrap_err();
    assert!(e0.contains("sums to 0"), "{e0}");
    let mut bad = ok_labels.clone();
    bad[4] = 3;
    let e1 = run(&bad, &[1.0; 6]).unwrap_err();
    assert!(
        e1.contains("label 3 at step 2, trial 0") && e1.contains("K = 3"),
        "{e1}"
    );
    let e2 = run(&ok_labels, &[1.0, 1.0, -1.0, 1.0, 1.0, 1.0]).unwrap_err();
    assert!(e2.contains("`mask`") && e2.contains("step 1, trial 0"), "{e2}");
    let e3 = run(&ok_labels, &[1.0; 5]).unwrap_err();
    assert!(e3.contains("mask"), "{e3}");
}

#[test]
fn chunking_does_not_change_results_beyond_rounding() {
    let c = random_case(77, 7, 2, 3, 5, 6, true, true, 0.3, true);
    let (l1, g1) = engine_run(&c, 1);
    let (l3, g3) = engine_run(&c, 3);
    assert!((l1 - l3).abs() < 1e-14);
    for ((_, a), (_, b)) in g1.layers().into_iter().zip(g3.layers()) {
        for (x, y) in
            a.m.iter()
                .chain(&a.pi)
                .chain(&a.xi)
                .zip(b.m.iter().chain(&b.pi).chain(&b.xi))
        {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
    }
}

#[test]
fn zero_variance_equals_plain_bptt() {
    for (seed, mse, sigma) in [
        (21, false, 0.0),
        (22, true, 0.0),
        (23, true, 0.5),
        (24, false, 0.3),
    ] {
        let mut c = random_case(seed, 6, 2, 3, 3, 7, mse, true, sigma, false);
        for l in c.layers.iter_mut() {
            l.pi.iter_mut().for_each(|p| *p = 0.0);
            l.xi.iter_mut().for_each(|p| *p = 0.0);
        }
        let (loss, g) = engine_run(&c, 2);
        let (lb, d_in, d_rec, d_out) = plain_bptt(&c, &c.layers[0].m, &c.layers[1].m, &c.layers[2].m);
        assert!((loss - lb).abs() < 1e-12, "loss {loss} vs BPTT {lb}");
        for (a, b) in [(&g.inp.m, &d_in), (&g.rec.m, &d_rec), (&g.out.m, &d_out)] {
            for (x, y) in a.iter().zip(b.iter()) {
                assert!((x - y).abs() <= 1e-12 * y.abs().max(1e-3), "{x} vs BPTT {y}");
            }
        }
        // With V = 0 every variance sum is 0: by the zero-variance rule the gradient through
        // sqrt(S) is 0, so Ξ gets none, and π only its mean part −m ∂L/∂μ.
        for (l, gl) in c.layers.iter().zip([&g.inp, &g.rec, &g.out]) {
            assert!(gl.xi.iter().all(|&v| v == 0.0));
            for ((&gp, &m), &gm) in gl.pi.iter().zip(&l.m).zip(&gl.m) {
                assert!((gp + m * gm).abs() <= 1e-15 * gm.abs().max(1.0));
            }
        }
    }
}

/// N = I = K = B = T = 1, α = 0.5, σ = 0, input deterministic, MSE. The numbers below were
/// worked out by hand from the formulas of docs/MODEL.md §1 (see the comments).
pub fn golden_case() -> Case {
    let l = |m: f64, pi: f64, xi: f64| SasLayer {
        rows: 1,
        cols: 1,
        m: vec![m],
        pi: vec![pi],
        xi: vec![xi],
    };
    Case {
        n: 1,
        i: 1,
        k: 1,
        b: 1,
        t: 1,
        alpha: 0.5,
        sigma: 0.0,
        mse: true,
        ce_steps: false,
        sas_in: false,
        layers: [l(1.0, 0.0, 0.0), l(0.5, 0.2, 0.1), l(2.0, 0.5, 0.0)],
        h0: vec![0.4],
        x: vec![0.6],
        eps_u: vec![1.0],
        eps_out: vec![-0.5],
        noise_rec: vec![0.0],
        target: vec![1.0],
        mask: vec![1.0],
    }
}

#[test]
fn golden_values_by_hand() {
    // μ_rec = 0.4, v_rec = 0.8·0.1 + 0.2·0.8·0.25 = 0.12; r0 = 0.4; S = 0.12·0.16 = 0.0192
    // u = 0.16 + 0.6 + sqrt(0.0192) = 0.89856406460551; h1 = 0.2 + 0.5u = 0.64928203230276
    // μ_out = 1, v_out = 0.25·4 = 1; z = r1 − 0.5·r1 = 0.32464101615138; L = ½(z − 1)²
    let (loss, g) = engine_run(&golden_case(), 1);
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-14, "{a} vs {b}");
    close(loss, 0.22805487853252196);
    close(g.rec.m[0], -0.06962546635287517);
    close(g.rec.pi[0], 0.0288939655533732);
    close(g.rec.xi[0], -0.07798373822492685);
    close(g.inp.m[0], -0.10130384757729337);
    assert_eq!((g.inp.pi[0], g.inp.xi[0]), (0.0, 0.0));
    close(g.out.m[0], -0.10962461339178928);
    close(g.out.pi[0], 0.8769969071343142);
    close(g.out.xi[0], 0.05481230669589464);
}
