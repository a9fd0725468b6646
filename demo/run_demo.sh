#!/usr/bin/env bash
# demo/run_demo.sh: the orderflow demo (README "Running it").
#
#   bash demo/run_demo.sh [--orders N] [-- ARGS for demo/surge.sh]
#
# --orders N is passed on to the workload (default: the workload's own).
#
# Installs the Debian packages if missing (as test/run_all.sh does), builds
# and installs the extension from a copy of the work tree, starts a
# throwaway cluster as a non-root user (postgres when run as root),
# CREATE EXTENSION orderflow, loads demo/order_fulfillment.sql (domain
# schema, task functions, the state machine), then runs the workload:
#   demo/surge.sh      if present: bash demo/surge.sh --orders N [ARGS]
#                      with PGHOST/PGPORT/PGUSER/PGDATABASE set and ORDERS=N;
#                      what it writes to demo/out/ is copied back to the repo
#   demo/workload.sql  otherwise, if present: psql -v orders=N -f ...
# prints its output, always stops the cluster, and exits with the workload's
# status.
#
#   --no-setup   skip packages/build/install/copy: run the cluster part on
#                this tree as the current (non-root) user, with the
#                extension already installed (test/run_all.sh uses it)
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
# shellcheck source=../test/lib.sh
. "$REPO/test/lib.sh"

ORDERS="${ORDERS:-}"     # empty: the workload's own default
MODE=outer
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --orders) [ $# -ge 2 ] || of_die "--orders needs a number"; ORDERS="$2"; shift 2 ;;
    --orders=*) ORDERS="${1#--orders=}"; shift ;;
    --no-setup) MODE=no-setup; shift ;;
    --inner) MODE=inner; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) of_die "unknown argument: $1 (see --help)" ;;
  esac
done
case "$ORDERS" in *[!0-9]*) of_die "--orders wants a whole number, not '$ORDERS'" ;; esac

# --------------------------------------------------------------- inner ---
demo_inner() {
  cd "$REPO" || exit 2
  [ "$(id -u)" -ne 0 ] || of_die "the cluster part must not run as root (initdb refuses); run without --no-setup"
  local base="${OF_WORK:-${TMPDIR:-/tmp}}" dir rc
  dir="$(mktemp -d "$base/demo-cluster.XXXXXX")" || exit 2
  DEMO_DIR="$dir"
  if [ "$MODE" = no-setup ]; then
    trap 'of_cluster_stop "$DEMO_DIR"; of_stop_all_clusters "$DEMO_DIR"; rm -rf "$DEMO_DIR"' EXIT
  else
    trap 'of_cluster_stop "$DEMO_DIR"; of_stop_all_clusters "$DEMO_DIR"' EXIT
  fi
  trap 'exit 130' INT TERM HUP
  export PATH="$OF_BINDIR:$PATH"

  of_log "starting a throwaway cluster in $dir"
  if ! of_cluster_start "$dir" postgres; then
    echo "ERROR: could not start the demo cluster"
    exit 1
  fi
  export PGCLIENTENCODING=UTF8
  of_log "cluster up: PGHOST=$PGHOST PGPORT=$PGPORT PGDATABASE=$PGDATABASE PGUSER=$PGUSER"

  if ! psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION orderflow'; then
    of_server_log_tail "$dir/server.log" 60
    exit 1
  fi
  if [ -f demo/order_fulfillment.sql ]; then
    of_log "loading demo/order_fulfillment.sql"
    if ! psql -X -q -v ON_ERROR_STOP=1 -f demo/order_fulfillment.sql; then
      of_server_log_tail "$dir/server.log" 60
      exit 1
    fi
  else
    echo "NOTE: demo/order_fulfillment.sql does not exist yet (domain schema, task functions, state machine)"
  fi

  # ==================== WORKLOAD HOOK (the demo author's) ====================
  # demo/surge.sh gets the PG* variables of the cluster, ORDERS=N and
  # --orders N plus whatever followed "--" on our command line.
  # Its exit status is the demo's.
  # ===========================================================================
  local -a oargs=() pargs=()
  if [ -n "$ORDERS" ]; then
    export ORDERS
    oargs=(--orders "$ORDERS")
    pargs=(-v orders="$ORDERS")
  fi
  if [ -f demo/surge.sh ]; then
    of_log "running demo/surge.sh ${oargs[*]:-} ${EXTRA[*]:-}"
    bash demo/surge.sh "${oargs[@]+"${oargs[@]}"}" "${EXTRA[@]+"${EXTRA[@]}"}"
    rc=$?
  elif [ -f demo/workload.sql ]; then
    of_log "running demo/workload.sql ${pargs[*]:-}"
    psql -X -v ON_ERROR_STOP=1 "${pargs[@]+"${pargs[@]}"}" -f demo/workload.sql
    rc=$?
  else
    echo "NOTE: no demo workload yet (demo/surge.sh or demo/workload.sql):"
    echo "      the cluster started, the extension and the demo schema loaded; nothing more to run."
    rc=0
  fi
  # ===========================================================================

  if [ "$rc" -ne 0 ]; then
    echo "demo workload failed (exit $rc)"
    of_server_log_tail "$dir/server.log" 80
  else
    of_log "demo finished"
  fi
  exit "$rc"
}

if [ "$MODE" != outer ]; then
  demo_inner
fi

# --------------------------------------------------------------- outer ---
of_install_deps || exit 1
of_pick_run_user || exit 1
trap 'of_outer_cleanup' EXIT
trap 'exit 130' INT TERM HUP
of_make_copy "$REPO" orderflow-demo || of_die "could not copy the work tree"
of_build_install || exit 1
of_run_inner OF_WORK="$OF_WORK" OF_RUN_USER="$OF_RUN_USER" ORDERS="$ORDERS" \
  bash "$OF_WORK/repo/demo/run_demo.sh" --inner -- "${EXTRA[@]+"${EXTRA[@]}"}"
rc=$?
# Files the workload wrote to demo/out/ (reports, graphs) outlive the copy.
if [ -d "$OF_WORK/repo/demo/out" ]; then
  mkdir -p "$REPO/demo/out" && cp -R "$OF_WORK/repo/demo/out/." "$REPO/demo/out/" \
    && of_log "demo output files: $REPO/demo/out/"
fi
of_outer_cleanup
trap - EXIT
exit "$rc"
