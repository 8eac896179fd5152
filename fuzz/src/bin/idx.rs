//! Fuzz target: `sasnet::fuzz::idx` (docs/FUZZING.md).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sasnet::fuzz::idx(data);
    });
}
