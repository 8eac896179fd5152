//! The `sasnet` command-line program: argument parsing only; the science is in the library.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
