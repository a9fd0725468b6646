#!/usr/bin/env bash
# test/run_all.sh: THE test command (README "Running it"; .ci/run calls it).
#
#   bash test/run_all.sh            # from any directory, as root or not
#
# 1. installs the Debian packages it needs if any is missing (as root; not
#    root: says what to install and fails);
# 2. copies the work tree to a temp dir, builds it there (make: -Wall
#    -Werror) and installs it (make install, as root or through sudo);
# 3. as a non-root user (postgres when run as root: initdb refuses root) on
#    that copy, runs the suites:
#      c-tests      make -C test/c check                 (server-free)
#      fuzz         make -C test/fuzz run: libFuzzer targets, FUZZ_SECONDS
#                   each (default 18), one count per target (server-free)
#      regress      pg_regress, temp instance, sql/ + expected/,
#                   test/orderflow.conf (database contrib_regression)
#      regress-nopreload  pg_regress on a temp instance WITHOUT
#                   shared_preload_libraries: test/nopreload/{sql,expected},
#                   test/nopreload.conf (part of SUITES "regress")
#      isolation    pg_isolation_regress, temp instance, test/isolation/,
#                   test/isolation.conf (database isolation_regression)
#      tap          prove test/t/*.pl (PostgreSQL::Test::Cluster); the outer
#                   stage first builds orderflow 0.1.0 (the released source,
#                   test/upgrade/orderflow-0.1.0.tar.gz) into a private
#                   copy of the server under OF_WORK for 020_upgrade.pl
#      hostile      prove test/hostile/*.pl: the hostile-roles suite (issue
#                   10, docs/security.md), unprivileged roles attacking a
#                   live cluster; recorded as hostile-roles
#      conformance  ../shared/conformance/run.sh against a cluster of its own
#      validator    test/validator/run.sh: every definition of a corpus (the
#                   public invalid cases, asl-validator's own invalid
#                   fixtures, valid definitions and their mutations) through
#                   asl-validator (npm, pinned) and through orderflow
#                   (validate_definition + create_state_machine, a cluster of
#                   its own); a difference not declared in README.md fails
#      demo         bash demo/run_demo.sh --orders 200 (one test)
#      bench        bash bench/run_bench.sh --tiny (one test: it ran and
#                   printed its figures; the figures are not judged)
# 4. prints one line per suite and, as the very last line,
#    "N passed, M failed" over all suites.  Exit 0 only if M is 0; a suite
#    that could not run at all counts as 1 failed.
#
# Environment (all optional):
#   SUITES="c fuzz regress isolation tap hostile conformance validator demo bench"   which suites to run
#   FUZZ_SECONDS=18               fuzzing time per fuzz target
#   CONFORMANCE_ARGS="--public"   extra arguments for the conformance runner
#   CONF_DEADLINE=600             the conformance runner's overall wait budget
#   DEMO_ORDERS=200               size of the demo run
#   OF_KEEP_WORK=1                keep the temp dir (logs, data dirs)
#   TAP_FILTER=REGEX              only the TAP/hostile files whose path matches
#                                 (while developing; the full run has none)
#   ORDERFLOW_SHARED=DIR          where shared/ is (default: ../shared)
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
# shellcheck source=test/lib.sh
. "$HERE/lib.sh"

SUITES="${SUITES:-c fuzz regress isolation tap hostile conformance validator demo bench}"

# ------------------------------------------------------------ the inner ---
# Runs as OF_RUN_USER in OF_WORK/repo; appends "suite<TAB>passed<TAB>failed
# <TAB>note" lines to OF_WORK/results.tsv.

record() {  # record SUITE PASSED FAILED [NOTE]
  local secs=$(( $(date +%s) - ${SUITE_T0:-$(date +%s)} ))
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:--}" "$secs" >> "$OF_WORK/results.tsv"
  printf '>>> %-12s %s passed, %s failed%s  [%ss]\n' "$1:" "$2" "$3" "${4:+  ($4)}" "$secs"
}

banner() { echo; echo "=================== $* ==================="; }

want() { case " $SUITES " in *" $1 "*) return 0 ;; esac; return 1; }

show_log() {  # show_log FILE: all of it if short, else its head and tail
  local f="$1" n
  n=$(wc -l < "$f")
  if [ "$n" -le 300 ]; then cat "$f"; else head -n 100 "$f"; echo "... ($((n - 200)) lines cut, full log: $f) ..."; tail -n 100 "$f"; fi
}

# "N passed, M failed" (last such line) -> "N M"
parse_np_nf() {
  grep -aE '(^|[[:space:]:])[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1 \
    | sed -E 's/.*(^|[^0-9])([0-9]+) passed, ([0-9]+) failed.*/\2 \3/'
}

# pg_regress / pg_isolation_regress summary -> "passed failed", or nothing
parse_regress() {
  local f="$1" l n m k
  l="$(grep -aE '^ *(All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests (failed|passed))' "$f" | tail -n 1)"
  if [[ $l =~ All\ ([0-9]+)\ tests\ passed ]]; then
    echo "${BASH_REMATCH[1]} 0"
  elif [[ $l =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed,\ ([0-9]+)\ of\ these\ failures\ ignored ]]; then
    m=${BASH_REMATCH[1]}; n=${BASH_REMATCH[2]}; k=${BASH_REMATCH[3]}
    echo "$((n - m + k)) $((m - k))"
  elif [[ $l =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
    m=${BASH_REMATCH[1]}; n=${BASH_REMATCH[2]}
    echo "$((n - m)) $m"
  elif [[ $l =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ passed ]]; then
    echo "${BASH_REMATCH[2]} 0"       # "... passed, K failed test(s) ignored"
  fi
}

suite_c() {
  banner "standalone C tests (make -C test/c check)"
  if [ ! -f test/c/Makefile ]; then record c-tests 0 0 "skipped: no test/c/Makefile"; return; fi
  local log="$OF_WORK/c-tests.log" rc counts
  timeout --foreground -k 10 600 make -C test/c check >"$log" 2>&1; rc=$?
  show_log "$log"
  counts="$(parse_np_nf "$log")"
  if [ -z "$counts" ]; then
    record c-tests 0 1 "did not run to the end (exit $rc)"
  else
    set -- $counts
    if [ "$rc" -ne 0 ] && [ "$2" -eq 0 ]; then record c-tests "$1" 1 "exit $rc"
    else record c-tests "$1" "$2"; fi
  fi
}

suite_fuzz() {
  banner "fuzz (make -C test/fuzz run FUZZ_SECONDS=${FUZZ_SECONDS:-18})"
  if [ ! -f test/fuzz/Makefile ]; then record fuzz 0 0 "skipped: no test/fuzz/Makefile"; return; fi
  local log="$OF_WORK/fuzz.log" rc counts execs
  timeout --foreground -k 10 600 make -C test/fuzz run FUZZ_SECONDS="${FUZZ_SECONDS:-18}" >"$log" 2>&1; rc=$?
  show_log "$log"
  counts="$(parse_np_nf "$log")"
  execs="$(grep -aE '^fuzz: [0-9]+ executions' "$log" | tail -n 1 | sed -E 's/^fuzz: ([0-9]+).*/\1/')"
  if [ -z "$counts" ]; then
    record fuzz 0 1 "did not run to the end (exit $rc)"
  else
    set -- $counts
    if [ "$rc" -ne 0 ] && [ "$2" -eq 0 ]; then record fuzz "$1" 1 "exit $rc"
    else record fuzz "$1" "$2" "${execs:-0} executions"; fi
  fi
}

# split_expected EXPECTED_DIR TESTS...: sets RUNNABLE (tests with an
# expected output, NAME.out or NAME_N.out) and MISSING (the others; a
# missing expected file would make pg_regress stop at that test).
split_expected() {
  local dir="$1" t; shift
  RUNNABLE=() MISSING=()
  for t in "$@"; do
    if compgen -G "$dir/$t.out" >/dev/null || compgen -G "$dir/${t}_[0-9].out" >/dev/null; then
      RUNNABLE+=("$t")
    else
      MISSING+=("$t")
    fi
  done
  if [ "${#MISSING[@]}" -gt 0 ]; then
    echo "FAILED (no expected output in $dir/, not run): ${MISSING[*]}"
  fi
}

# run_pg_regress NAME DRIVER TMPDIR OUTDIR LOG args... -> records NAME
# (MISSING, from split_expected, count as failed too)
run_pg_regress() {
  local name="$1" driver="$2" tmp="$3" out="$4" log="$5"; shift 5
  local rc counts port nmiss="${#MISSING[@]}" mnote=""
  [ "$nmiss" -gt 0 ] && mnote="$nmiss without expected output: ${MISSING[*]}"
  if [ "${#RUNNABLE[@]}" -eq 0 ]; then
    record "$name" 0 "$nmiss" "$mnote"
    return
  fi
  rm -rf "$tmp"
  port="$(of_free_port)" || { record "$name" 0 1 "no free port"; return; }
  timeout --foreground -k 10 900 "$driver" --temp-instance="$tmp" --bindir="$OF_BINDIR" \
      --port="$port" --outputdir="$out" --no-locale --encoding=UTF8 \
      --load-extension=orderflow "$@" >"$log" 2>&1
  rc=$?
  of_stop_all_clusters "$tmp"           # only if it was killed (timeout)
  cat "$log"
  counts="$(parse_regress "$log")"
  if [ -z "$counts" ]; then
    record "$name" 0 $((1 + nmiss)) "could not run (exit $rc)${mnote:+; $mnote}"
  else
    set -- $counts
    if [ "$rc" -ne 0 ] && [ "$2" -eq 0 ]; then record "$name" "$1" $((1 + nmiss)) "exit $rc${mnote:+; $mnote}"
    else record "$name" "$1" $(($2 + nmiss)) "$mnote"; fi
  fi
  if [ "$rc" -ne 0 ]; then
    if [ -s "$out/regression.diffs" ]; then
      echo "---- $out/regression.diffs (first 200 lines) ----"
      head -n 200 "$out/regression.diffs"
      echo "----"
    fi
    of_server_log_tail "$tmp/log/postmaster.log" 60
    [ -f "$tmp/log/initdb.log" ] && [ ! -f "$tmp/log/postmaster.log" ] && of_server_log_tail "$tmp/log/initdb.log" 30
  fi
}

suite_regress() {
  banner "pg_regress (sql/, expected/)"
  local tests
  tests="$(ls sql/*.sql 2>/dev/null | grep -v -- '--' | xargs -r -n1 basename | sed 's/\.sql$//' | sort)"
  if [ -z "$tests" ]; then record regress 0 0 "skipped: no sql/*.sql tests"; return; fi
  if [ "$OF_BUILD_OK" != 1 ]; then record regress 0 0 "not run: the build failed"; return; fi
  rm -rf results regression.diffs regression.out
  # shellcheck disable=SC2086
  split_expected expected $tests
  run_pg_regress regress "$OF_PG_REGRESS" "$PWD/tmp_check" "$PWD" "$OF_WORK/regress.log" \
      --inputdir=. --temp-config=test/orderflow.conf --dbname=contrib_regression "${RUNNABLE[@]}"
}

# the same SQL functions on a server without the preload (README, "Without
# the preload"): no workers, no shared memory; run_pending advances work
suite_regress_nopreload() {
  banner "pg_regress without the preload (test/nopreload/)"
  local tests
  tests="$(ls test/nopreload/sql/*.sql 2>/dev/null | xargs -r -n1 basename | sed 's/\.sql$//' | sort)"
  if [ -z "$tests" ]; then record regress-nopreload 0 0 "skipped: no test/nopreload/sql/*.sql"; return; fi
  if [ "$OF_BUILD_OK" != 1 ]; then record regress-nopreload 0 0 "not run: the build failed"; return; fi
  rm -rf output_nopreload && mkdir -p output_nopreload
  # shellcheck disable=SC2086
  split_expected test/nopreload/expected $tests
  run_pg_regress regress-nopreload "$OF_PG_REGRESS" "$PWD/tmp_check_nopreload" "$PWD/output_nopreload" \
      "$OF_WORK/regress-nopreload.log" \
      --inputdir=test/nopreload --temp-config=test/nopreload.conf --dbname=nopreload_regression "${RUNNABLE[@]}"
}

suite_isolation() {
  banner "pg_isolation_regress (test/isolation/)"
  local tests
  tests="$(ls test/isolation/specs/*.spec 2>/dev/null | xargs -r -n1 basename | sed 's/\.spec$//' | sort)"
  if [ -z "$tests" ]; then record isolation 0 0 "skipped: no test/isolation/specs/*.spec"; return; fi
  if [ "$OF_BUILD_OK" != 1 ]; then record isolation 0 0 "not run: the build failed"; return; fi
  rm -rf output_iso
  mkdir -p output_iso
  # shellcheck disable=SC2086
  split_expected test/isolation/expected $tests
  run_pg_regress isolation "$OF_PG_ISOLATION_REGRESS" "$PWD/tmp_check_iso" "$PWD/output_iso" "$OF_WORK/isolation.log" \
      --inputdir=test/isolation --temp-config=test/isolation.conf --dbname=isolation_regression "${RUNNABLE[@]}"
}

# run_prove NAME DIR LOG: prove DIR/*.pl (PostgreSQL::Test::Cluster,
# with DIR on the module path too) and record NAME with one count per TAP
# test; a file that died without a failed test counts as one failure
run_prove() {
  local name="$1" dir="$2" log="$3" files rc tests failed=0 f k
  files="$(ls "$dir"/*.pl 2>/dev/null | grep -E -- "${TAP_FILTER:-.}")"
  if [ -z "$files" ]; then record "$name" 0 0 "skipped: no $dir/*.pl${TAP_FILTER:+ matching $TAP_FILTER}"; return; fi
  if [ "$OF_BUILD_OK" != 1 ]; then record "$name" 0 0 "not run: the build failed"; return; fi
  rm -rf test/tmp_check && mkdir -p test/tmp_check
  # shellcheck disable=SC2086
  TESTDIR="$PWD/test" PG_REGRESS="$OF_PG_REGRESS" PGPORT="$(of_free_port)" \
  PERL5LIB="$OF_PGXS_DIR/src/test/perl:$PWD/test:$PWD/$dir${PERL5LIB:+:$PERL5LIB}" \
    timeout --foreground -k 10 1500 prove -I "$OF_PGXS_DIR/src/test/perl" -I test -I "$dir" $files >"$log" 2>&1
  rc=$?
  of_stop_all_clusters "$PWD/test/tmp_check"
  show_log "$log"
  tests="$(grep -aE '^Files=[0-9]+, Tests=[0-9]+' "$log" | tail -n 1 | sed -E 's/^Files=[0-9]+, Tests=([0-9]+).*/\1/')"
  if [ -z "$tests" ]; then record "$name" 0 1 "prove did not finish (exit $rc)"; return; fi
  # summary table: "t/x.pl (Wstat: 256 (exited 1) Tests: 5 Failed: 1)"
  while IFS= read -r k; do
    [ "$k" -eq 0 ] && k=1                # died / bad plan without a failed test
    failed=$((failed + k))
  done < <(grep -aE '\(Wstat: .*Tests: [0-9]+ Failed: [0-9]+\)' "$log" | sed -E 's/.*Failed: ([0-9]+)\).*/\1/')
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  f=$((tests - failed)); [ "$f" -lt 0 ] && f=0
  record "$name" "$f" "$failed"
  if [ "$failed" -gt 0 ]; then
    for f in test/tmp_check/log/*; do
      [ -f "$f" ] && of_server_log_tail "$f" 40
    done
  fi
}

suite_tap() {
  banner "TAP tests (prove test/t/*.pl)"
  run_prove tap test/t "$OF_WORK/tap.log"
}

suite_hostile() {
  banner "hostile roles (prove test/hostile/*.pl, docs/security.md)"
  run_prove hostile-roles test/hostile "$OF_WORK/hostile.log"
}

suite_conformance() {
  banner "conformance (../shared/conformance/run.sh)"
  local conf="$OF_WORK/shared/conformance" log="$OF_WORK/conformance.log" rc counts
  if [ ! -f "$conf/run.sh" ]; then
    echo "ERROR: the conformance suite was not found: expected shared/ beside the repo (../shared/conformance/run.sh)"
    record conformance 0 1 "../shared/conformance/run.sh not found"
    return
  fi
  if [ "$OF_BUILD_OK" != 1 ]; then record conformance 0 1 "not run: the build failed"; return; fi
  (
    trap 'of_cluster_stop "$OF_WORK/conf"' EXIT
    trap 'exit 130' INT TERM HUP
    of_cluster_start "$OF_WORK/conf" postgres || { echo "could not start the cluster"; exit 3; }
    psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION orderflow' || exit 3
    echo "cluster: PGHOST=$PGHOST PGPORT=$PGPORT PGDATABASE=$PGDATABASE"
    # shellcheck disable=SC2086
    CONF_DEADLINE="${CONF_DEADLINE:-600}" PGCLIENTENCODING=UTF8 \
      timeout --foreground -k 10 1200 bash "$conf/run.sh" ${CONFORMANCE_ARGS:-}
  ) >"$log" 2>&1
  rc=$?
  of_stop_all_clusters "$OF_WORK/conf"
  cat "$log"
  counts="$(parse_np_nf "$log")"
  if [ -z "$counts" ]; then
    record conformance 0 1 "could not run (exit $rc)"
  else
    set -- $counts
    if [ "$rc" -ne 0 ] && [ "$2" -eq 0 ]; then record conformance "$1" 1 "exit $rc"
    else record conformance "$1" "$2"; fi
  fi
  [ "$rc" -ne 0 ] && of_server_log_tail "$OF_WORK/conf/server.log" 80
  return 0
}

suite_validator() {
  banner "validator (test/validator/run.sh: asl-validator as an oracle)"
  local conf="$OF_WORK/shared" log="$OF_WORK/validator.log" rc counts
  if [ ! -f "$conf/conformance/tasks.sql" ]; then
    echo "ERROR: shared/conformance was not found (../shared beside the repo, or ORDERFLOW_SHARED)"
    record validator 0 1 "shared/conformance not found"
    return
  fi
  if [ "$OF_BUILD_OK" != 1 ]; then record validator 0 1 "not run: the build failed"; return; fi
  (
    trap 'of_cluster_stop "$OF_WORK/validator"' EXIT
    trap 'exit 130' INT TERM HUP
    of_cluster_start "$OF_WORK/validator" postgres || { echo "could not start the cluster"; exit 3; }
    psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION orderflow' || exit 3
    PGCLIENTENCODING=UTF8 timeout --foreground -k 10 600 \
      bash test/validator/run.sh "$conf" "$OF_WORK/validator-work"
  ) >"$log" 2>&1
  rc=$?
  of_stop_all_clusters "$OF_WORK/validator"
  show_log "$log"
  counts="$(parse_np_nf "$log")"
  if [ -z "$counts" ]; then
    record validator 0 1 "could not run (exit $rc)"
  else
    set -- $counts
    if [ "$rc" -ne 0 ] && [ "$2" -eq 0 ]; then record validator "$1" 1 "exit $rc"
    else record validator "$1" "$2"; fi
  fi
  return 0
}

suite_demo() {
  banner "demo (demo/run_demo.sh --orders ${DEMO_ORDERS:-200})"
  if [ ! -f demo/run_demo.sh ]; then record demo 0 1 "demo/run_demo.sh missing"; return; fi
  if [ "$OF_BUILD_OK" != 1 ]; then record demo 0 1 "not run: the build failed"; return; fi
  local log="$OF_WORK/demo.log" rc note=""
  [ -f demo/surge.sh ] || [ -f demo/workload.sql ] || note="lifecycle only: no demo workload yet"
  timeout --foreground -k 10 600 bash demo/run_demo.sh --no-setup --orders "${DEMO_ORDERS:-200}" >"$log" 2>&1
  rc=$?
  show_log "$log"
  if [ "$rc" -eq 0 ]; then record demo 1 0 "$note"; else record demo 0 1 "exit $rc"; fi
}

suite_bench() {
  banner "bench (bench/run_bench.sh --tiny)"
  if [ ! -f bench/run_bench.sh ]; then record bench 0 1 "bench/run_bench.sh missing"; return; fi
  if [ "$OF_BUILD_OK" != 1 ]; then record bench 0 1 "not run: the build failed"; return; fi
  local log="$OF_WORK/bench.log" rc
  timeout --foreground -k 10 600 bash bench/run_bench.sh --no-setup --tiny >"$log" 2>&1
  rc=$?
  show_log "$log"
  if [ "$rc" -eq 0 ] && grep -q '^bench: figures printed' "$log"; then record bench 1 0
  else record bench 0 1 "exit $rc"; fi
}

inner() {
  cd "$OF_WORK/repo" || exit 2
  : > "$OF_WORK/results.tsv"
  local s
  for s in c fuzz regress isolation tap hostile conformance validator demo bench; do
    SUITE_T0=$(date +%s)
    want "$s" && "suite_$s"
    if [ "$s" = regress ] && want regress; then SUITE_T0=$(date +%s); suite_regress_nopreload; fi
  done
  return 0
}

if [ "${1:-}" = "--inner" ]; then
  inner
  exit 0
fi

# ------------------------------------------------------------ the outer ---

final() {  # final PASSED FAILED: the very last line, and the exit status
  echo "$1 passed, $2 failed"
  [ "$2" -eq 0 ]
  exit $?
}

T0=$(date +%s)
of_log "orderflow tests: repo $REPO, suites: $SUITES"
if ! of_install_deps; then
  echo ">>> setup:       0 passed, 1 failed  (missing packages)"
  final 0 1
fi
of_pick_run_user || final 0 1

trap 'of_outer_cleanup' EXIT
trap 'echo "run_all.sh: interrupted" >&2; exit 130' INT TERM HUP

if [ -n "${ORDERFLOW_SHARED:-}" ]; then
  [ -d "$ORDERFLOW_SHARED/conformance" ] || of_warn "ORDERFLOW_SHARED=$ORDERFLOW_SHARED has no conformance/"
fi
of_make_copy "$REPO" orderflow-test || { echo "could not copy the work tree"; final 0 1; }
if [ -n "${ORDERFLOW_SHARED:-}" ] && [ -d "$ORDERFLOW_SHARED/conformance" ]; then
  rm -rf "$OF_WORK/shared" && mkdir -p "$OF_WORK/shared" \
    && cp -R "$ORDERFLOW_SHARED/conformance" "$OF_WORK/shared/" && chmod -R u+w "$OF_WORK/shared"
  [ "$(id -u)" -eq 0 ] && chown -R "$OF_RUN_USER:" "$OF_WORK/shared"
fi
if [ -n "${ORDERFLOW_SHARED:-}" ] && [ -d "$ORDERFLOW_SHARED/seed" ]; then
  rm -rf "$OF_WORK/shared/seed" && mkdir -p "$OF_WORK/shared" \
    && cp -R "$ORDERFLOW_SHARED/seed" "$OF_WORK/shared/" && chmod -R u+w "$OF_WORK/shared"
  [ "$(id -u)" -eq 0 ] && chown -R "$OF_RUN_USER:" "$OF_WORK/shared"
fi
of_log "work dir $OF_WORK (user $OF_RUN_USER)"

BUILD_OK=1
BUILD_NOTE=""
if ! of_build_install; then BUILD_OK=0; BUILD_NOTE="make or make install failed"; fi

# 020_upgrade.pl runs a real 0.1.0 installation: built here, where the repo
# and its .git are (to check the tarball against the history), into a
# private server copy
OF_OLD_INSTALL="" OF_OLD_NOTE=""
case " $SUITES " in
  *" tap "*)
    if [ "$BUILD_OK" = 1 ]; then
      if of_build_old_version "$REPO"; then
        OF_OLD_INSTALL="$OF_OLD_INSTALL_DIR"
      else
        OF_OLD_NOTE="$OF_OLD_FAILURE"
      fi
    fi ;;
esac

of_run_inner OF_WORK="$OF_WORK" OF_RUN_USER="$OF_RUN_USER" OF_BUILD_OK="$BUILD_OK" \
    SUITES="$SUITES" FUZZ_SECONDS="${FUZZ_SECONDS:-18}" CONFORMANCE_ARGS="${CONFORMANCE_ARGS:-}" \
    CONF_DEADLINE="${CONF_DEADLINE:-600}" DEMO_ORDERS="${DEMO_ORDERS:-200}" \
    OF_OLD_INSTALL="$OF_OLD_INSTALL" OF_OLD_NOTE="$OF_OLD_NOTE" TAP_FILTER="${TAP_FILTER:-}" \
    bash "$OF_WORK/repo/test/run_all.sh" --inner
INNER_RC=$?

RESULTS="$(cat "$OF_WORK/results.tsv" 2>/dev/null)"
of_outer_cleanup
trap - EXIT

P=0 F=0
echo
echo "=================== summary ($(( $(date +%s) - T0 )) s) ==================="
if [ "$BUILD_OK" = 1 ]; then
  printf '%-13s %s\n' "build:" "ok"
else
  printf '%-13s %s passed, %s failed  (%s)\n' "build:" 0 1 "$BUILD_NOTE"
  F=$((F + 1))
fi
if [ -z "$RESULTS" ] && [ -n "$SUITES" ]; then
  printf '%-13s %s passed, %s failed  (%s)\n' "runner:" 0 1 "the suites did not run (exit $INNER_RC)"
  F=$((F + 1))
fi
while IFS=$'\t' read -r suite p f note secs; do
  [ -n "$suite" ] || continue
  [ "$note" = - ] && note=""
  printf '%-13s %s passed, %s failed%s  [%ss]\n' "$suite:" "$p" "$f" "${note:+  ($note)}" "$secs"
  P=$((P + p)); F=$((F + f))
done <<< "$RESULTS"
final "$P" "$F"
