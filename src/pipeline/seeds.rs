//! The seed fan-out, written once: `count` seeds `first, first + 1, …` of one configuration,
//! trained in parallel where cores allow, one run directory each.

use crate::error::{Result, SasError};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The run directory of seed `seed` under `base`: `base` itself for a single seed
/// (`single`), else `base/seed-<seed>`.
pub(crate) fn seed_dir(base: &Path, seed: u64, single: bool) -> PathBuf {
    if single {
        base.to_path_buf()
    } else {
        base.join(format!("seed-{seed}"))
    }
}

/// Fails unless at least one seed is asked for (before any data is loaded or trained).
pub(crate) fn require(count: usize) -> Result<()> {
    if count == 0 {
        return Err(SasError::Config {
            key: "seeds".into(),
            reason: "at least 1 seed is needed".into(),
        });
    }
    Ok(())
}

/// Runs `job(seed)` for the `count` seeds `first, first + 1, …` in parallel and returns the
/// results in seed order (the first error, if any). Each job draws only from its own seed's
/// streams, so the results do not depend on the thread count.
pub(crate) fn fan_out<T: Send>(
    first: u64,
    count: usize,
    job: impl Fn(u64) -> Result<T> + Sync + Send,
) -> Result<Vec<T>> {
    require(count)?;
    (0..count as u64)
        .into_par_iter()
        .map(|k| job(first + k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_in_order_and_dirs() {
        let v = fan_out(5, 3, |s| Ok(s * 2)).unwrap();
        assert_eq!(v, vec![10, 12, 14]);
        assert!(fan_out(1, 0, Ok).is_err());
        assert_eq!(seed_dir(Path::new("r"), 3, true), PathBuf::from("r"));
        assert_eq!(seed_dir(Path::new("r"), 3, false), PathBuf::from("r/seed-3"));
    }
}
