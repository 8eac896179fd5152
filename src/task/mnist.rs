//! Sequential MNIST (placeholder; being written).
