#!/usr/bin/env bash
# Fuzzes every target for SECONDS (default 600) in parallel, prints the figures, then
# minimizes each target's queue with afl-cmin into fuzz/corpus/<target>/ and copies crashes
# and hangs there too (docs/FUZZING.md).
# Needs cargo-afl (`cargo install cargo-afl`); run from anywhere.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
targets=(idx npy task checkpoint config)
cargo afl build --release
# cargo-afl's own AFL++ tools first: afl-cmin needs the afl-showmap of the same version.
afl_bin=$(find "${XDG_DATA_HOME:-$HOME/.local/share}/afl.rs" -path '*/afl/bin/afl-showmap' 2>/dev/null | sort | tail -1)
afl_dir=$([ -n "$afl_bin" ] && dirname "$afl_bin" || true)
export PATH="$afl_dir:$PATH" AFL_PATH="$afl_dir"
export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
rm -rf out && mkdir -p out
for t in "${targets[@]}"; do
  cargo afl fuzz -i "seeds/$t" -o "out/$t" -V "$secs" -t 2000 "target/release/$t" > "out/$t.log" 2>&1 &
done
wait
for t in "${targets[@]}"; do
  s=out/$t/default/fuzzer_stats
  printf '%-10s %s\n' "$t" "$(grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg) ' "$s" | awk '{print $1"="$3}' | tr '\n' ' ')"
  rm -rf "out/$t/cmin" "corpus/$t" && mkdir -p "corpus/$t"
  # afl-cmin.bash of the same AFL++ (the Python afl-cmin of some releases finds no tuples).
  "${afl_dir:?AFL++ tools of cargo-afl not found}/afl-cmin.bash" -i "out/$t/default/queue" \
    -o "out/$t/cmin" -t 5000 -- "target/release/$t" > "out/$t.cmin.log" 2>&1
  for f in "out/$t/cmin"/*; do
    cp "$f" "corpus/$t/$(sha1sum "$f" | cut -c1-16)"
  done
  for kind in crash hang; do
    dir=out/$t/default/${kind}s
    [ "$kind" = crash ] && dir=out/$t/default/crashes
    find "$dir" -maxdepth 1 -type f -name 'id:*' 2>/dev/null | while read -r f; do
      cp "$f" "corpus/$t/$kind-$(sha1sum "$f" | cut -c1-16)"
    done
  done
done
