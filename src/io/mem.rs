//! The memory a computation may allocate: `MemAvailable` of `/proc/meminfo`, checked before
//! large allocations so that an absurd size is a clear error, never an abort.

use crate::error::{Result, SasError};

/// Bytes of memory available for new allocations (`MemAvailable`), if the system tells.
pub fn available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Fails with [`SasError::OutOfMemory`] naming `what` when `bytes` exceed the available
/// memory (no check where the system does not tell).
pub fn check(what: &str, bytes: u128) -> Result<()> {
    let Some(avail) = available() else {
        return Ok(());
    };
    if bytes > avail as u128 {
        return Err(SasError::OutOfMemory {
            what: what.into(),
            needed: u64::try_from(bytes).unwrap_or(u64::MAX),
            available: avail,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn absurd_sizes_are_refused_with_the_bytes() {
        if super::available().is_none() {
            eprintln!("skipped: no /proc/meminfo");
            return;
        }
        let e = super::check("the test", 1u128 << 80).unwrap_err().to_string();
        assert!(e.contains("the test") && e.contains("bytes"), "{e}");
        super::check("the test", 1).unwrap();
    }
}
