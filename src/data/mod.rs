//! Data: the training and test sets a run draws from ([`source`]: MNIST variants, MSI trials,
//! user tasks, resolved from a configuration) and the MNIST files on disk ([`files`]:
//! checksums and download).

pub mod files;
pub mod source;
