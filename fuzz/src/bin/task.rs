//! Fuzz target: `sasnet::fuzz::task` (docs/FUZZING.md).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sasnet::fuzz::task(data);
    });
}
