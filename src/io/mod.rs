//! File formats: safetensors tensors (checkpoints, the `grad` interface) and atomic writes.

pub mod atomic;
pub mod tensors;
