//! Fuzz target: `sasnet::fuzz::npy` (docs/FUZZING.md).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sasnet::fuzz::npy(data);
    });
}
