#!/bin/sh
# run_fuzz.sh SECONDS WORKDIR "EXTRA FLAGS" TARGET...  (called by make run)
#
# For every target:
#   1. replays regression/<target>/* (inputs that once crashed or hung: they
#      must all pass now) and corpus/<target>/*;
#   2. when SECONDS > 0, fuzzes for SECONDS with corpus/<target> as the seed
#      (new inputs go to WORKDIR/<target>/corpus, never into the repository)
#      and reports how many inputs it ran.
# A crash, leak, sanitizer report or timeout fails the target; its input is
# saved as WORKDIR/crashes/<target>-crash-*: fix the bug, then add the file
# to regression/<target>/ so it is replayed on every run.
# Prints one line per target and "N passed, M failed" last.
set -u
secs="$1"; work="$2"; extra="$3"; shift 3
passed=0 failed=0 total_execs=0
mkdir -p "$work/crashes"
common="-rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1"
for t in "$@"; do
  ok=1 note=""
  log="$work/$t.log"
  : > "$log"
  # 1. replay (libFuzzer runs each file given as an argument once)
  files=$(find "regression/$t" "corpus/$t" -type f 2>/dev/null | sort)
  nrep=0
  if [ -n "$files" ]; then
    nrep=$(echo "$files" | wc -l)
    # shellcheck disable=SC2086
    if ! echo "$files" | xargs ./"$t" $common -runs=1 >>"$log" 2>&1; then
      ok=0 note="replay failed"
    fi
  fi
  execs=0
  if [ "$ok" = 1 ] && [ "$secs" -gt 0 ]; then
    mkdir -p "$work/$t/corpus"
    # shellcheck disable=SC2086
    if ! ./"$t" $common $extra -max_total_time="$secs" \
        -artifact_prefix="$work/crashes/$t-" "$work/$t/corpus" "corpus/$t" >>"$log" 2>&1; then
      ok=0 note="fuzzing found a problem"
    fi
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | tail -n 1 | sed 's/.*: *//')
    execs=${execs:-0}
  fi
  total_execs=$((total_execs + execs))
  if [ "$ok" = 1 ]; then
    passed=$((passed + 1))
    echo "ok   $t: $nrep inputs replayed, $execs executions in ${secs}s"
  else
    failed=$((failed + 1))
    echo "FAIL $t: $note ($nrep inputs replayed, $execs executions); log: $log"
    grep -a -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY|Test unit written|ALARM' "$log" | head -n 20
  fi
done
echo "fuzz: $total_execs executions in total"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
