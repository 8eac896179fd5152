//! The integration tests: one binary (links once), one module per area.

mod common;
mod data_fetch;
mod data_verify;
mod docs;
mod explain_cli;
mod ff;
mod ff_cli;
mod ff_reference;
mod fuzz_corpus;
mod grad_cli;
mod gradcheck;
mod report;
mod run_dirs;
mod slurm;
mod sweep_cli;
mod theory;
mod train_cli;
mod user_task;
