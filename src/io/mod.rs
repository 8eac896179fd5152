//! File formats: safetensors tensors (checkpoints, the `grad` interface), IDX data files (MNIST),
//! `.npy` arrays (user tasks), atomic writes and the memory check before large allocations.

pub mod atomic;
pub mod idx;
pub mod mem;
pub mod npy;
pub mod tensors;
