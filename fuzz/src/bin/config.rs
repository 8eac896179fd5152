//! Fuzz target: `sasnet::fuzz::config` (docs/FUZZING.md).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sasnet::fuzz::config(data);
    });
}
