#!/usr/bin/env bash
# Fuzzes every target for SECONDS (default 600) in parallel, then copies each target's
# minimized queue into fuzz/corpus/<target>/ and prints the figures (docs/FUZZING.md).
# Needs cargo-afl (`cargo install cargo-afl`); run from anywhere.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
targets=(idx npy task checkpoint config)
cargo afl build --release
export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
rm -rf out && mkdir -p out
for t in "${targets[@]}"; do
  cargo afl fuzz -i "seeds/$t" -o "out/$t" -V "$secs" -t 2000 "target/release/$t" > "out/$t.log" 2>&1 &
done
wait
for t in "${targets[@]}"; do
  s=out/$t/default/fuzzer_stats
  printf '%-10s %s\n' "$t" "$(grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg) ' "$s" | awk '{print $1"="$3}' | tr '\n' ' ')"
  mkdir -p "corpus/$t"
  find "out/$t/default/queue" -maxdepth 1 -type f -name 'id:*' | while read -r f; do
    cp "$f" "corpus/$t/$(sha1sum "$f" | cut -c1-16)"
  done
  find "out/$t/default/crashes" "out/$t/default/hangs" -maxdepth 1 -type f -name 'id:*' 2>/dev/null | while read -r f; do
    cp "$f" "corpus/$t/crash-$(sha1sum "$f" | cut -c1-16)"
  done
done
