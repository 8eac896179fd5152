//! Multisensory integration task (placeholder; being written).
