#!/usr/bin/env bash
# Adds up the test reports of this `make test` run into one closing line.
set -u
passed=0; failed=0; skipped=0
for report in target/reports/*.txt; do
  [ -f "$report" ] || continue
  while read -r p f s; do
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$report")
  while read -r p f; do
    passed=$((passed + p)); failed=$((failed + f))
  done < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$report")
done
echo "summary: ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
