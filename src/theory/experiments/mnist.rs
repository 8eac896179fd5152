//! Row-wise MNIST 0 vs 1: the data set, its kernels and the closed-form gradient flow.

use super::*;

/// A regression data set: training and test inputs (each `[T·I]`) with scalar targets.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Training inputs, each `[28·28]`.
    pub x_train: Vec<Vec<f64>>,
    /// Training targets.
    pub y_train: Vec<f64>,
    /// Test inputs.
    pub x_test: Vec<Vec<f64>>,
    /// Test targets.
    pub y_test: Vec<f64>,
}

/// The analytic kernel (no time kernels) over the training then the test inputs of `data`.
pub(crate) fn data_kernel(params: &NtkParams, data: &Dataset) -> Result<Kernel> {
    let mut all = data.x_train.clone();
    all.extend_from_slice(&data.x_test);
    let mut kp = *params;
    kp.time_kernels = false;
    ntk(&all, &kp)
}

/// Row-wise MNIST (`T = 28`, `I = 28`, pixels/255) of digits 0 and 1 with targets −1
/// (digit 0) and +1 (digit 1): the first `train_per_class` zeros and ones of the MNIST
/// training file and the first `test_per_class` of the test file, in file order within each
/// class (zeros first).
pub(crate) fn mnist_binary(dir: &Path, train_per_class: usize, test_per_class: usize) -> Result<Dataset> {
    let m = crate::task::mnist::Mnist::load(dir)?;
    let pick = |im: &crate::io::idx::Images, lab: &[u8], per: usize| -> Result<(Vec<Vec<f64>>, Vec<f64>)> {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for digit in [0u8, 1] {
            let idx: Vec<usize> = (0..im.count).filter(|&k| lab[k] == digit).take(per).collect();
            if idx.len() < per {
                return Err(SasError::Data {
                    path: dir.to_path_buf(),
                    reason: format!("only {} images of digit {digit}, need {per}", idx.len()),
                });
            }
            for k in idx {
                let img = im.image(k).unwrap_or(&[]);
                xs.push(img.iter().map(|&v| f64::from(v) / 255.0).collect());
                ys.push(if digit == 0 { -1.0 } else { 1.0 });
            }
        }
        Ok((xs, ys))
    };
    let (x_train, y_train) = pick(&m.train, &m.train_labels, train_per_class)?;
    let (x_test, y_test) = pick(&m.test, &m.test_labels, test_per_class)?;
    Ok(Dataset {
        x_train,
        y_train,
        x_test,
        y_test,
    })
}

/// The settings of the MNIST experiment: `T = I = 28`, the reference leak `α = 0.1`, the
/// other settings as [`NtkParams::default`], no time kernels.
pub(crate) fn mnist_params() -> NtkParams {
    NtkParams {
        steps: 28,
        alpha: 0.1,
        time_kernels: false,
        ..NtkParams::default()
    }
}

/// Gradient-flow curves of the infinitely wide network on MNIST: expected train and test MSE
/// at `ητ` on a log grid from the analytic kernel `k` over the training then the test inputs
/// ([`data_kernel`]), plus the kernel heat maps (a `2·per × 2·per` block of `Θ` with
/// zeros first, and the backward kernel `Π^{t,t'}` of the first training image).
pub(crate) fn mnist_flow(
    params: &NtkParams,
    data: &Dataset,
    k: &Kernel,
    per: usize,
) -> Result<(Vec<[f64; 3]>, Vec<Figure>)> {
    let (p, q) = (data.x_train.len(), data.x_test.len());
    let tr: Vec<usize> = (0..p).collect();
    let te: Vec<usize> = (p..p + q).collect();
    let lin = Linearized::new(
        &k.theta_block(&tr, &tr),
        &k.theta_block(&te, &tr),
        &data.y_train,
        &vec![0.0; p],
        &vec![0.0; q],
    )?;
    let prior = lin.prior(
        &k.nngp_block(&tr, &tr),
        &k.nngp_block(&te, &tr),
        &te.iter().map(|&a| k.nngp[a * k.p + a]).collect::<Vec<f64>>(),
    )?;
    let lmin = lin
        .eigenvalues()
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(1e-12 * lin.lambda_max());
    // ητ from 0.01/λ_max to min(10/λ_min, 10⁴/λ_max) on a log grid, plus 0.
    let (a, b) = (
        (0.01 / lin.lambda_max()).ln(),
        (10.0 / lmin).min(1e4 / lin.lambda_max()).ln(),
    );
    let mut rows = vec![[0.0, 0.0, 0.0]];
    for j in 0..60 {
        let et = (a + (b - a) * j as f64 / 59.0).exp();
        let (tr_e, te_e) = lin.expected_mse(&prior, &data.y_test, Schedule::Flow { eta: 1.0, tau: et });
        rows.push([et, tr_e, te_e]);
    }
    let (t0, s0) = lin.expected_mse(&prior, &data.y_test, Schedule::Flow { eta: 1.0, tau: 0.0 });
    rows[0] = [0.0, t0, s0];
    let x: Vec<f64> = rows[1..].iter().map(|r| r[0].log10()).collect();
    let flow = figure(
        "mnist_flow",
        "Gradient-flow learning curves of the infinitely wide network, row MNIST 0 vs 1",
        "log₁₀ ητ",
        "expected mean squared error",
        true,
        format!(
            "Closed-form gradient flow f_X(τ) = Y + e^(−ηΘτ)(f_X(0) − Y) and test predictions \
             f_*(τ) = f_*(0) + Θ(*,X)Θ⁻¹(I − e^(−ηΘτ))(Y − f_X(0)), MSE averaged over \
             f(0) ~ N(0, K); {p} training / {q} test images (digits 0 → −1, 1 → +1), T = 28, \
             α = {}, λ_max(Θ) = {:.3e}, λ_min = {:.3e}.",
            params.alpha,
            lin.lambda_max(),
            lin.eigenvalues()[0]
        ),
        vec![
            series(
                "train",
                x.clone(),
                rows[1..].iter().map(|r| r[1]).collect(),
                false,
            ),
            series("test", x, rows[1..].iter().map(|r| r[2]).collect(), false),
        ],
    );
    // Θ block: `per` zeros and `per` ones of the training set.
    let n0 = data.y_train.iter().filter(|&&y| y < 0.0).count();
    let sel: Vec<usize> = (0..per.min(n0)).chain(n0..(n0 + per).min(p)).collect();
    let th = block(&k.theta, k.p, &sel, &sel);
    let (lo, hi) = th.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
        (l.min(v), h.max(v))
    });
    let heat = Figure {
        name: "mnist_theta".into(),
        title: "NTK Θ on row MNIST (zeros, then ones)".into(),
        x_label: "image".into(),
        y_label: "image".into(),
        log_y: false,
        caption: format!(
            "Analytic Θ(x, x') between {} training zeros (first) and {} ones: the block \
             structure by class is what gradient descent exploits.",
            per.min(n0),
            sel.len() - per.min(n0)
        ),
        plot: Plot::Heatmap(Heatmap {
            rows: sel.len(),
            cols: sel.len(),
            values: th,
            range: (lo, hi),
        }),
    };
    let mut one = *params;
    one.time_kernels = true;
    let k1 = ntk(&data.x_train[..1], &one)?;
    let t = params.steps;
    let pi = k1.time.map(|tk| tk.pi).unwrap_or_else(|| vec![0.0; t * t]);
    let (plo, phi) = pi.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
        (l.min(v), h.max(v))
    });
    let back = Figure {
        name: "mnist_backward_kernel".into(),
        title: "Backward kernel Π^{t,t'} of one image".into(),
        x_label: "step t'".into(),
        y_label: "step t".into(),
        log_y: false,
        caption: format!(
            "Π^(t,t') = lim Σ_i ∂z/∂u_i(t) ∂z/∂u_i(t') for the first training image (a zero), \
             T = {t}, α = {}: credit for the output at T reaches back in time through the leak \
             and the recurrent weights.",
            params.alpha
        ),
        plot: Plot::Heatmap(Heatmap {
            rows: t,
            cols: t,
            values: pi,
            range: (plo, phi),
        }),
    };
    Ok((rows, vec![flow, heat, back]))
}
