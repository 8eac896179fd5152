//! Replays every committed fuzzing input (`fuzz/seeds/<target>/`, the hand-made starting
//! points, and `fuzz/corpus/<target>/`, what the fuzzer kept for new coverage, including any
//! input that once crashed) through the same entry points the fuzz targets call: each must
//! return without a panic (docs/FUZZING.md).

use std::path::Path;

#[test]
fn every_committed_fuzz_input_is_handled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut total = 0;
    for target in sasnet::fuzz::TARGETS {
        let mut n = 0;
        for folder in ["seeds", "corpus"] {
            let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if !p.is_file() {
                    continue;
                }
                let bytes = std::fs::read(&p).unwrap();
                let ok = std::panic::catch_unwind(|| sasnet::fuzz::run(target, &bytes));
                assert!(
                    matches!(ok, Ok(true)),
                    "{} panicked in target {target}",
                    p.display()
                );
                n += 1;
            }
        }
        assert!(n > 0, "no committed fuzz input for target {target}");
        total += n;
    }
    println!("replayed {total} fuzz inputs");
}
