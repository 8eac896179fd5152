//! Training finite networks against the analytic learning curve, and their kernel change.

use super::*;

/// Steps at which a training run is recorded: 0, 1, 2, 3, 5, 7, 10, … up to `steps`.
pub(crate) fn record_steps(steps: usize) -> Vec<usize> {
    if steps == 0 {
        return vec![0];
    }
    let mut v = vec![0];
    let mut x = 1.0f64;
    while (x as usize) < steps {
        let k = x as usize;
        if *v.last().unwrap_or(&0) != k {
            v.push(k);
        }
        x *= 1.4;
    }
    v.push(steps);
    v
}

/// One finite-width training run against the linearized dynamics.
#[derive(Clone, Debug, Serialize)]
pub struct TrainRun {
    /// Width `N`.
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// Recorded steps.
    pub steps: Vec<usize>,
    /// Training MSE of the network.
    pub train_mse: Vec<f64>,
    /// Test MSE of the network.
    pub test_mse: Vec<f64>,
    /// Training MSE of the linearized dynamics with the analytic `Θ` and this network's `f(0)`.
    pub lin_train_mse: Vec<f64>,
    /// Test MSE of the same.
    pub lin_test_mse: Vec<f64>,
    /// `‖f_X(k) − f_X^lin(k)‖ / ‖f_X(0) − Y‖` per recorded step.
    pub deviation: Vec<f64>,
    /// `‖Θ̂_end − Θ̂_0‖ / ‖Θ̂_0‖` on the kernel subset.
    pub kernel_change: f64,
    /// `‖Θ̂_0 − Θ‖ / ‖Θ‖` on the kernel subset.
    pub kernel_err0: f64,
}

/// Trains a width-`n` network (seed `seed`) by `steps` full-batch gradient-descent steps of
/// size `eta` on `(x_train, y_train)` and compares it with the linearized dynamics of the
/// analytic kernel `k` (over `x_train` then `x_test`). The kernel change is measured on
/// `kernel_inputs` training inputs spread evenly over the training set. The ε draws are held
/// fixed through training (training input `a` has draw id `a`, test input `i` id
/// `TEST_DRAWS + i`), so the comparison is exact for [`super::EpsMode::Shared`] and
/// [`super::EpsMode::PerSample`]; under `Fresh` it compares one quenched draw with the
/// ε-averaged theory.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_run(
    params: &NtkParams,
    k: &Kernel,
    x_train: &[Vec<f64>],
    y_train: &[f64],
    x_test: &[Vec<f64>],
    y_test: &[f64],
    n: usize,
    seed: u64,
    eta: f64,
    steps: usize,
    kernel_inputs: usize,
) -> Result<TrainRun> {
    let (p, q) = (x_train.len(), x_test.len());
    let i = params.channels(x_train[0].len())?;
    let mut net = FiniteNet::init(n, i, params, seed)?;
    let tr_draws: Vec<u64> = (0..p as u64).collect();
    let te_draws: Vec<u64> = (0..q as u64).map(|a| TEST_DRAWS + a).collect();
    let nk = kernel_inputs.clamp(1, p);
    let ki: Vec<usize> = (0..nk).map(|j| j * p / nk).collect();
    let kx: Vec<Vec<f64>> = ki.iter().map(|&a| x_train[a].clone()).collect();
    let kd: Vec<u64> = ki.iter().map(|&a| a as u64).collect();
    let th0 = net.empirical_ntk_draws(&kx, &kd)?.theta;
    let kernel_err0 = rel_frobenius(&th0, &k.theta_block(&ki, &ki));
    let tr: Vec<usize> = (0..p).collect();
    let te: Vec<usize> = (p..p + q).collect();
    let f0_train = net.outputs(x_train, &tr_draws)?;
    let f0_test = if q > 0 {
        net.outputs(x_test, &te_draws)?
    } else {
        vec![]
    };
    let lin = Linearized::new(
        &k.theta_block(&tr, &tr),
        &k.theta_block(&te, &tr),
        y_train,
        &f0_train,
        &f0_test,
    )?;
    let rec = record_steps(steps);
    let r0 = f0_train
        .iter()
        .zip(y_train)
        .map(|(f, y)| (f - y) * (f - y))
        .sum::<f64>()
        .sqrt();
    let mut run = TrainRun {
        n,
        seed,
        steps: rec.clone(),
        train_mse: vec![],
        test_mse: vec![],
        lin_train_mse: vec![],
        lin_test_mse: vec![],
        deviation: vec![],
        kernel_change: f64::NAN,
        kernel_err0,
    };
    for step in 0..=steps {
        let record = rec.contains(&step);
        // Test outputs at the parameters the training outputs of this step come from.
        let zt = if record && q > 0 {
            net.outputs(x_test, &te_draws)?
        } else {
            vec![]
        };
        let z = if step < steps {
            net.gd_step(x_train, &tr_draws, y_train, eta)?
        } else {
            net.outputs(x_train, &tr_draws)?
        };
        if record {
            let lp = lin.predict(Schedule::Steps { eta, k: step });
            run.train_mse.push(mse(&z, y_train));
            run.lin_train_mse.push(mse(&lp.train, y_train));
            run.test_mse.push(mse(&zt, y_test));
            run.lin_test_mse
                .push(if q > 0 { mse(&lp.test, y_test) } else { f64::NAN });
            let d = z
                .iter()
                .zip(&lp.train)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt();
            run.deviation.push(d / r0);
        }
    }
    let th1 = net.empirical_ntk_draws(&kx, &kd)?.theta;
    run.kernel_change = rel_frobenius(&th1, &th0);
    Ok(run)
}

/// Result of [`training`]: finite-width runs, the analytic expected errors and the kernel
/// change over widths.
#[derive(Clone, Debug, Serialize)]
pub struct TrainingResult {
    /// Step size `η` (a fraction of `1/λ_max(Θ)`).
    pub eta: f64,
    /// Largest eigenvalue of the analytic `Θ` on the training inputs.
    pub lambda_max: f64,
    /// Recorded steps.
    pub steps: Vec<usize>,
    /// Expected training MSE of the infinitely wide network (`f(0) ~ N(0, K)`), per step.
    pub expected_train: Vec<f64>,
    /// Expected test MSE, per step.
    pub expected_test: Vec<f64>,
    /// The widths.
    pub sizes: Vec<usize>,
    /// All runs.
    pub runs: Vec<TrainRun>,
    /// Mean over seeds of the kernel change per width.
    pub change_mean: Vec<f64>,
    /// Sample standard deviation (n − 1) over seeds of the kernel change per width.
    pub change_std: Vec<f64>,
}

/// Finite networks of every width in `sizes` and seed trained by `steps` gradient-descent
/// steps of size `eta_frac / λ_max(Θ)` on `data` against the analytic learning curves;
/// `kernel` is the analytic kernel over the training then the test inputs (computed when
/// `None`). The kernel change is measured on `kernel_inputs` training inputs spread evenly
/// over the training set.
#[allow(clippy::too_many_arguments)]
pub fn training(
    params: &NtkParams,
    data: &Dataset,
    kernel: Option<&Kernel>,
    sizes: &[usize],
    seeds: &[u64],
    steps: usize,
    eta_frac: f64,
    kernel_inputs: usize,
) -> Result<TrainingResult> {
    let (x_train, y_train, x_test, y_test) = (&data.x_train, &data.y_train, &data.x_test, &data.y_test);
    let (p, q) = (x_train.len(), x_test.len());
    let owned;
    let k = match kernel {
        Some(k) => k,
        None => {
            owned = data_kernel(params, data)?;
            &owned
        }
    };
    let tr: Vec<usize> = (0..p).collect();
    let te: Vec<usize> = (p..p + q).collect();
    let lin0 = Linearized::new(
        &k.theta_block(&tr, &tr),
        &k.theta_block(&te, &tr),
        y_train,
        &vec![0.0; p],
        &vec![0.0; q],
    )?;
    let lambda_max = lin0.lambda_max();
    let eta = eta_frac / lambda_max;
    let prior = lin0.prior(
        &k.nngp_block(&tr, &tr),
        &k.nngp_block(&te, &tr),
        &te.iter().map(|&a| k.nngp[a * k.p + a]).collect::<Vec<f64>>(),
    )?;
    let rec = record_steps(steps);
    let (expected_train, expected_test): (Vec<f64>, Vec<f64>) = rec
        .iter()
        .map(|&s| lin0.expected_mse(&prior, y_test, Schedule::Steps { eta, k: s }))
        .unzip();
    let mut runs = Vec::new();
    for &n in sizes {
        for &seed in seeds {
            runs.push(train_run(
                params,
                k,
                x_train,
                y_train,
                x_test,
                y_test,
                n,
                seed,
                eta,
                steps,
                kernel_inputs,
            )?);
        }
    }
    let mut change_mean = Vec::new();
    let mut change_std = Vec::new();
    for &n in sizes {
        let v: Vec<Vec<f64>> = runs
            .iter()
            .filter(|r| r.n == n)
            .map(|r| vec![r.kernel_change])
            .collect();
        let (m, s) = mean_std(&v);
        change_mean.push(m[0]);
        change_std.push(s[0]);
    }
    Ok(TrainingResult {
        eta,
        lambda_max,
        steps: rec,
        expected_train,
        expected_test,
        sizes: sizes.to_vec(),
        runs,
        change_mean,
        change_std,
    })
}

impl TrainingResult {
    /// Mean over seeds of a per-step series of the runs of width `n`.
    fn mean_of(&self, n: usize, f: &dyn Fn(&TrainRun) -> &Vec<f64>) -> (Vec<f64>, Vec<f64>) {
        let v: Vec<Vec<f64>> = self
            .runs
            .iter()
            .filter(|r| r.n == n)
            .map(|r| f(r).clone())
            .collect();
        mean_std(&v)
    }

    pub(super) fn figures(&self, tag: &str, what: &str) -> Vec<Figure> {
        let x: Vec<f64> = self.steps.iter().map(|&s| s as f64).collect();
        let seeds = self.runs.iter().filter(|r| r.n == self.sizes[0]).count();
        let nmax = self.sizes.iter().copied().max().unwrap_or(0);
        // One figure per split: theory, finite networks of every width, and the linearized
        // dynamics from the widest networks' own f(0).
        let split = |train: bool| -> Vec<Series> {
            let (name, expected) = if train {
                ("train", &self.expected_train)
            } else {
                ("test", &self.expected_test)
            };
            let mut v = vec![series(
                &format!("theory: E[{name} MSE]"),
                x.clone(),
                expected.clone(),
                false,
            )];
            for &n in &self.sizes {
                let (m, s) = self.mean_of(n, &|r| if train { &r.train_mse } else { &r.test_mse });
                v.push(banded(&format!("N = {n}"), x.clone(), m, &s, seeds));
            }
            let (m, _) = self.mean_of(nmax, &|r| {
                if train { &r.lin_train_mse } else { &r.lin_test_mse }
            });
            v.push(series(
                &format!("linearized, f(0) of N = {nmax}"),
                x.clone(),
                m,
                false,
            ));
            v
        };
        let caption = |name: &str| {
            format!(
                "{what}: {name} MSE of finite networks trained by full-batch gradient descent \
                 (NTK parametrization; m̃ of all layers and π of rec/out trained; step \
                 η = {:.3e} = {:.2}/λ_max(Θ); markers: {spread}) against \
                 the infinitely wide network under the discrete-step dynamics (I − ηΘ)^k: its \
                 expected MSE over f(0) ~ N(0, K) (theory), and the linearized dynamics with \
                 the analytic Θ started from the N = {nmax} networks' own f(0) (mean over \
                 seeds).",
                self.eta,
                self.eta * self.lambda_max,
                spread = super::spread(seeds)
            )
        };
        let mut dev = Vec::new();
        for &n in &self.sizes {
            let (dm, ds) = self.mean_of(n, &|r| &r.deviation);
            dev.push(banded(&format!("N = {n}"), x.clone(), dm, &ds, seeds));
        }
        let lx: Vec<f64> = self.sizes.iter().map(|&n| (n as f64).log10()).collect();
        let c = self.change_mean.last().copied().unwrap_or(f64::NAN)
            * (*self.sizes.last().unwrap_or(&1) as f64).sqrt();
        let mut figs = vec![figure(
            &format!("{tag}_train_curves"),
            &format!("Training error, {what}"),
            "gradient step k",
            "training MSE",
            true,
            caption("training"),
            split(true),
        )];
        if self.expected_test.iter().any(|v| v.is_finite()) {
            figs.push(figure(
                &format!("{tag}_test_curves"),
                &format!("Test error, {what}"),
                "gradient step k",
                "test MSE",
                true,
                caption("test"),
                split(false),
            ));
        }
        figs.extend([
            figure(
                &format!("{tag}_deviation"),
                &format!("Finite network vs linearized dynamics, {what}"),
                "gradient step k",
                "‖f_X − f_X^lin‖ / ‖f_X(0) − Y‖",
                true,
                format!(
                    "{what}: distance between the training outputs of each finite network and \
                     the analytic linearized dynamics started from the same f_X(0) (analytic Θ), \
                     relative to the initial residual; it grows as training proceeds and shrinks \
                     with N ({spread}).",
                    spread = super::spread(seeds)
                ),
                dev,
            ),
            figure(
                &format!("{tag}_kernel_change"),
                &format!("Relative kernel change during training, {what}"),
                "log₁₀ N",
                "‖Θ̂_end − Θ̂_0‖ / ‖Θ̂_0‖",
                true,
                format!(
                    "{what}: relative change of the empirical kernel between initialization and \
                     the end of training ({} steps), {spread}, with c/√N and \
                     c'/N references through the widest point (in the lazy limit it vanishes).",
                    self.steps.last().copied().unwrap_or(0),
                    spread = super::spread(seeds)
                ),
                vec![
                    banded(
                        "kernel change",
                        lx.clone(),
                        self.change_mean.clone(),
                        &self.change_std,
                        seeds,
                    ),
                    series(
                        "c/√N",
                        lx.clone(),
                        self.sizes.iter().map(|&n| c / (n as f64).sqrt()).collect(),
                        false,
                    ),
                    series(
                        "c'/N",
                        lx,
                        self.sizes
                            .iter()
                            .map(|&n| c * (nmax as f64).sqrt() / n as f64)
                            .collect(),
                        false,
                    ),
                ],
            ),
        ]);
        figs
    }

    pub(super) fn csv_rows(&self) -> Vec<Vec<f64>> {
        let mut rows = Vec::new();
        for r in &self.runs {
            for (j, &s) in r.steps.iter().enumerate() {
                rows.push(vec![
                    r.n as f64,
                    r.seed as f64,
                    s as f64,
                    r.train_mse[j],
                    r.test_mse[j],
                    r.lin_train_mse[j],
                    r.lin_test_mse[j],
                    r.deviation[j],
                ]);
            }
        }
        rows
    }
}
