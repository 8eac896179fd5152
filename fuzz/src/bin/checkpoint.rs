//! Fuzz target: `sasnet::fuzz::checkpoint` (docs/FUZZING.md).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sasnet::fuzz::checkpoint(data);
    });
}
