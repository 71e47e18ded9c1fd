#!/usr/bin/env bash
# Runs each fuzz target for SECONDS on its seed corpus (fuzz/corpus/<target>/, read only) and
# what earlier runs found (target/fuzz/corpus/<target>/); prints a line per target and the
# closing "N passed, N failed": a target passes when it ran its time without a crash, a
# timeout or running out of memory. Crashing inputs land in target/fuzz/artifacts/<target>/.
#
#   fuzz/run.sh SECONDS BIN_DIR TARGET...
set -u
seconds=$1 bin=$2; shift 2
passed=0; failed=0
for target in "$@"; do
  found=target/fuzz/corpus/$target artifacts=target/fuzz/artifacts/$target
  mkdir -p "$found" "$artifacts"
  log=target/fuzz/$target.log
  "$bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$found" "fuzz/corpus/$target" >"$log" 2>&1
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  coverage=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1)); echo "fuzz $target: ok, ${runs:-0} runs in ${seconds}s, $coverage"
  else
    failed=$((failed + 1)); echo "fuzz $target: FAILED (exit $status) after ${runs:-0} runs, $coverage"
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -8 | sed 's/^/  /'
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
