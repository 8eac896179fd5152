//! User tasks built from arrays in memory with per-step labels (NeuroGym's convention):
//! written to safetensors, trained through the library with the per-step masked
//! cross-entropy, and evaluated in every mode.

use sasnet::config::{Config, TaskKind};
use sasnet::data::source::TaskData;
use sasnet::infer::{Mode, evaluate};
use sasnet::task::user::{ArrayTargets, UserTask, UserTaskArrays};
use std::collections::HashMap;

/// A two-choice task: T = 8 steps, B = 64 trials, I = 2. Steps 0–5 show a fixation cue
/// (channel 1) and evidence ±1 (channel 0); the label is 0 (fixate) there and the choice
/// (1 or 2) at the decision steps 6–7. Every step is scored, decision steps twice as much.
fn two_choice() -> UserTaskArrays {
    let (t, b) = (8, 64);
    let mut x = vec![0f32; t * b * 2];
    let mut labels = vec![0usize; t * b];
    let mut mask = vec![1f32; t * b];
    let mut coh = Vec::new();
    for tr in 0..b {
        let right = tr % 2 == 1;
        let c = 0.5 + 0.5 * ((tr / 2) % 3) as f32;
        coh.push(if right { c as f64 } else { -c as f64 });
        for s in 0..t {
            let e = s * b + tr;
            if s < 6 {
                x[e * 2] = if right { c } else { -c };
                x[e * 2 + 1] = 1.0;
            } else {
                labels[e] = if right { 2 } else { 1 };
                mask[e] = 2.0;
            }
        }
    }
    UserTaskArrays {
        steps: t,
        trials: b,
        inputs: 2,
        x,
        targets: ArrayTargets::StepLabels { labels, mask },
        conditions: vec![("coh".into(), coh)],
        metadata: HashMap::from([("dt".to_string(), "100".to_string())]),
    }
}

#[test]
fn per_step_labels_train_and_evaluate() {
    let dir = std::env::temp_dir().join(format!("sasnet-it-user-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let task = UserTask::from_arrays(two_choice()).unwrap();
    let file = dir.join("task.safetensors");
    task.write_safetensors(&file).unwrap();

    let mut cfg = Config::preset("msi").unwrap();
    cfg.task.kind = TaskKind::User;
    cfg.task.path = file.to_string_lossy().into_owned();
    cfg.model.n = 16;
    cfg.model.alpha = 0.5;
    cfg.train.batch = 16;
    cfg.train.minibatches = 4;
    cfg.train.epochs = 12;
    cfg.train.stop_loss = 0.0;
    cfg.eval.every = 0;
    cfg.eval.batch = 32;
    let data = TaskData::load(&cfg, None).unwrap();
    assert_eq!(data.io_dims(), (2, 3));
    let run = dir.join("run");
    let summary = sasnet::train::train(&cfg, &data, &run, &Default::default()).unwrap();
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let loss = |line: &str| line.split(',').nth(1).unwrap().parse::<f64>().unwrap();
    let rows: Vec<&str> = metrics.lines().skip(1).collect();
    assert_eq!(rows.len(), 12);
    let (first, last) = (loss(rows[0]), loss(rows[11]));
    // The mean cross-entropy over 3 classes starts near ln 3 and falls.
    assert!(first > 0.3 && first < 3.0, "first epoch loss {first}");
    assert!(last < first, "loss {first} → {last}");
    let acc = summary.test_acc.expect("a test accuracy");
    assert!((0.0..=1.0).contains(&acc), "{acc}");

    // Every mode scores all 64 trials at their last scored step.
    let ck = sasnet::run::checkpoint::load(&run.join("checkpoint.safetensors"), &cfg).unwrap();
    let test = data.test_set(&cfg, cfg.eval.batch, 0, 1);
    for mode in [
        Mode::MeanField,
        Mode::Eps0,
        Mode::Mean,
        Mode::Sampled { every: 1 },
    ] {
        let r = evaluate(&ck.net, &cfg, TaskKind::User, &test, mode, 2, 5).unwrap();
        assert_eq!(r.trials, 64, "{mode:?}");
        assert!((0.0..=1.0).contains(&r.accuracy), "{mode:?} {}", r.accuracy);
        if !matches!(mode, Mode::Sampled { .. }) {
            let l = r.loss.expect("a loss");
            assert!(l.is_finite() && l > 0.0, "{mode:?} loss {l}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
