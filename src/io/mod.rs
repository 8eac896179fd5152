//! File formats: safetensors tensors (checkpoints, the `grad` interface), IDX data files (MNIST),
//! `.npy` arrays (user tasks) and atomic writes.

pub mod atomic;
pub mod idx;
pub mod npy;
pub mod tensors;
