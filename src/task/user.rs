//! User tasks from files (placeholder; being written).
