#!/bin/sh
# Run the test binaries given as arguments.  Each prints its failures and
# a last line "N passed, M failed"; show everything, label each binary's
# summary, and end with one line that sums them.  A binary that stops
# without its summary (a crash, a sanitizer report) counts as one failure.
# Exits non-zero when anything failed.

total_passed=0
total_failed=0
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT

for test in "$@"; do
	"$test" >"$log" 2>&1
	rc=$?
	summary=$(tail -n 1 "$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$')
	if [ -n "$summary" ]; then
		sed '$d' "$log"
		passed=${summary%% passed*}
		failed=${summary#*passed, }
		failed=${failed%% failed}
		if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
			echo "$test: exited with status $rc"
			failed=1
		fi
	else
		cat "$log"
		echo "$test: stopped without a summary (exit status $rc)"
		passed=0
		failed=1
	fi
	echo "$(basename "$test"): $passed passed, $failed failed"
	total_passed=$((total_passed + passed))
	total_failed=$((total_failed + failed))
done

echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
