//! What the command line draws and catches while training: the indicatif progress bar (an
//! [`api::Observer`]) and the stop flag that Ctrl-C and SIGTERM set.

use anyhow::{Context, Result};
use sasnet::api;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// Exit code of a training stopped by Ctrl-C or SIGTERM (128 + SIGINT): the run directory
/// holds its last completed epoch and resumes with `--resume`.
pub(super) const EXIT_INTERRUPTED: i32 = 130;

/// A progress bar over the epochs of one run: position, training loss, test accuracy, ETA.
#[derive(Default)]
pub(super) struct Bar {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl api::Observer for Bar {
    fn start(&self, e: &api::StartEvent<'_>) {
        let bar = indicatif::ProgressBar::new(e.epochs as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] epoch {pos}/{len} {msg} (ETA {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_position(e.start_epoch as u64);
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn epoch(&self, e: &api::EpochEvent<'_>) {
        if let Ok(b) = self.bar.lock()
            && let Some(bar) = b.as_ref()
        {
            bar.set_position(e.epoch as u64);
            let acc = e
                .test_acc
                .map(|a| format!(" · test acc {:.2}%", 100.0 * a))
                .unwrap_or_default();
            bar.set_message(format!("loss {:.4}{acc}", e.train_loss));
        }
    }

    fn finish(&self, _run_dir: &std::path::Path) {
        if let Ok(mut b) = self.bar.lock()
            && let Some(bar) = b.take()
        {
            bar.finish();
        }
    }
}

/// A flag that SIGINT (Ctrl-C), SIGTERM and SIGUSR1 (e.g. Slurm's `--signal` before the time
/// limit) set; training polls it at every minibatch boundary. A second SIGINT or SIGTERM
/// ends the process at once.
pub(super) fn stop_flag() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // The second signal exits (status 130/143), the first only sets the flag.
        signal_hook::flag::register_conditional_shutdown(sig, EXIT_INTERRUPTED, Arc::clone(&flag))
            .context("installing the signal handler")?;
        signal_hook::flag::register(sig, Arc::clone(&flag)).context("installing the signal handler")?;
    }
    signal_hook::flag::register(SIGUSR1, Arc::clone(&flag)).context("installing the signal handler")?;
    Ok(flag)
}
