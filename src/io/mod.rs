//! File formats: safetensors tensors (checkpoints, the `grad` interface), IDX data files (MNIST)
//! and atomic writes.

pub mod atomic;
pub mod idx;
pub mod tensors;
