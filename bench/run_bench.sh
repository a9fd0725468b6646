#!/usr/bin/env bash
# bench/run_bench.sh: the orderflow benchmark (issue #7; `make bench`).
#
#   bash bench/run_bench.sh [--tiny] [--orders N] [--finished M] [options]
#
# On a throwaway cluster with default durability (fsync = on,
# synchronous_commit = on) it loads the order-fulfillment domain
# (demo/order_fulfillment.sql) and measures, in one run:
#
#   warm-up       5% of N orders (at least 200) through the workflow, then
#                 ANALYZE: plans made on empty tables are replaced
#   pgbench-1     the SQL of one step (lock the order row, reserve stock:
#                 UPDATE inventory + INSERT reservation, UPDATE an execution
#                 row, INSERT a history row), one step per transaction
#   pgbench-50    the same, 50 steps per transaction
#   starts        start_execution calls/s from several connections (in a
#                 second database, which no worker serves, so only the
#                 start path is measured)
#   load/empty    N orders through the seed workflow 'order_fulfillment',
#                 started from several connections (pgbench, one
#                 start_execution per transaction, as fast as they can);
#                 every order is in stock, so no InventoryError retries:
#                 transitions/s, executions/s, start-to-finish latency
#                 p50/p95/p99 (stopped_at - started_at) under load
#   idle          S single executions, one at a time (start_execution,
#                 then wait_for_execution), client-observed latency p50/p99;
#                 and the same with a machine of four Pass states (the
#                 engine's own share)
#   load/5M       M finished executions (and their history) generated with
#                 INSERT ... SELECT generate_series, then the N-order load
#                 again: throughput against the empty-table run
#   rss           the workers' VmHWM / VmRSS, sampled over the whole run
#
# and prints the ratios orderflow / pgbench.  Figures go to
# bench/results/<timestamp>.json; a full-size run (not --tiny) also
# rewrites BENCHMARKS.md.
#
# Options (or the environment variable in brackets):
#   --tiny              a sub-minute run that proves it works (test/run_all.sh)
#   --orders N          orders per load run              [BENCH_ORDERS=20000]
#   --finished M        finished executions for load/5M  [BENCH_FINISHED=5000000]
#   --history-per K     history rows per finished one    [BENCH_HISTORY_PER=2]
#   --clients C         client connections               [BENCH_CLIENTS=4]
#   --samples S         idle-latency samples             [BENCH_SAMPLES=200]
#   --seconds T         length of each pgbench run       [BENCH_SECONDS=15]
#   --workers W         orderflow.workers                [BENCH_WORKERS=2]
#   --batch B           orderflow.batch_size (default: the GUC's default)
#   --skip-5m           leave out the load/5M phase
#   --no-warmup         measure a new installation's first minute instead
#   --no-setup          run on this tree as the current (non-root) user with
#                       the extension already installed (test/run_all.sh)
#   --keep              keep the cluster's directory
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
# shellcheck source=../test/lib.sh
. "$REPO/test/lib.sh"

MODE=outer
TINY=0
ARGS=("$@")
ORDERS="${BENCH_ORDERS:-}"
FINISHED="${BENCH_FINISHED:-}"
HISTORY_PER="${BENCH_HISTORY_PER:-2}"
CLIENTS="${BENCH_CLIENTS:-4}"
SAMPLES="${BENCH_SAMPLES:-}"
SECONDS_PER="${BENCH_SECONDS:-}"
WORKERS="${BENCH_WORKERS:-2}"
BATCH="${BENCH_BATCH:-}"
SKIP_5M="${BENCH_SKIP_5M:-0}"
WARMUP="${BENCH_WARMUP:-1}"
KEEP="${BENCH_KEEP:-0}"
while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) TINY=1; shift ;;
    --orders) ORDERS="$2"; shift 2 ;;
    --finished) FINISHED="$2"; shift 2 ;;
    --history-per) HISTORY_PER="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --samples) SAMPLES="$2"; shift 2 ;;
    --seconds) SECONDS_PER="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --skip-5m) SKIP_5M=1; shift ;;
    --no-warmup) WARMUP=0; shift ;;
    --keep) KEEP=1; shift ;;
    --no-setup) MODE=no-setup; shift ;;
    --inner) MODE=inner; shift ;;
    -h|--help) sed -n '2,47p' "$0"; exit 0 ;;
    *) of_die "unknown argument: $1 (see --help)" ;;
  esac
done
if [ "$TINY" = 1 ]; then
  ORDERS="${ORDERS:-300}"; FINISHED="${FINISHED:-20000}"; SAMPLES="${SAMPLES:-20}"
  SECONDS_PER="${SECONDS_PER:-2}"
else
  ORDERS="${ORDERS:-20000}"; FINISHED="${FINISHED:-5000000}"; SAMPLES="${SAMPLES:-200}"
  SECONDS_PER="${SECONDS_PER:-15}"
fi
for v in ORDERS FINISHED HISTORY_PER CLIENTS SAMPLES SECONDS_PER WORKERS; do
  case "${!v}" in ''|*[!0-9]*) of_die "$v wants a whole number, not '${!v}'" ;; esac
done
[ "$CLIENTS" -ge 1 ] && [ "$ORDERS" -ge "$CLIENTS" ] || of_die "need --clients >= 1 and --orders >= --clients"

# ---------------------------------------------------------------- inner ---

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -At)
q() { "${PSQL[@]}" -c "$1"; }

# percentiles of a file of numbers (one a line): "p50 p95 p99 max"
pctl() {
  sort -n "$1" | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "0 0 0 0"; exit }
    split("50 95 99", ps, " ");
    for (i = 1; i <= 3; i++) { k = int((ps[i] / 100) * NR + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR; printf "%.2f ", a[k] }
    printf "%.2f\n", a[NR] }'
}

# Sample the workers' memory every 0.5 s until $RSS_DIR/stop exists.
rss_sampler() {
  local pids p hwm rss anon
  while [ ! -e "$RSS_DIR/stop" ]; do
    pids="$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'orderflow worker'" 2>/dev/null)"
    for p in $pids; do
      [ -r "/proc/$p/status" ] || continue
      hwm="$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null)"
      rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)"
      anon="$(awk '/^RssAnon:/ {print $2}' "/proc/$p/status" 2>/dev/null)"
      [ -n "$hwm" ] && printf '%s %s %s %s %s %s\n' "$(date +%s.%N)" "$(cat "$RSS_DIR/phase" 2>/dev/null)" "$p" "$hwm" "$rss" "${anon:-0}" >> "$RSS_DIR/samples"
    done
    sleep 0.5
  done
}

# The domain data: warehouses, products, lots of stock, orders 1..$1.
setup_domain() {
  local norders="$1" nsku="$2"
  "${PSQL[@]}" <<SQL
INSERT INTO fulfillment.warehouses VALUES ('W1', 'Warehouse one'), ('W2', 'Warehouse two');
INSERT INTO fulfillment.products
SELECT 'SKU-' || lpad(g::text, 6, '0'), 'Product ' || g FROM generate_series(1, $nsku) g;
INSERT INTO fulfillment.inventory (sku, warehouse, on_hand)
SELECT p.sku, w.warehouse, 1000000 FROM fulfillment.products p, fulfillment.warehouses w;
-- order g: one or two lines; every client's orders use SKUs of its own
-- range (see sku_of), the way pgbench's steps do
CREATE SCHEMA bench;
CREATE FUNCTION bench.sku_of(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
  AS \$\$ SELECT 'SKU-' || lpad((1 + (n % $nsku))::text, 6, '0') \$\$;
SELECT count(fulfillment.create_order('customer-' || g,
         CASE WHEN g % 2 = 0
              THEN jsonb_build_array(jsonb_build_object('sku', bench.sku_of(g * 7), 'qty', 1 + g % 3))
              ELSE jsonb_build_array(jsonb_build_object('sku', bench.sku_of(g * 7), 'qty', 1 + g % 3),
                                     jsonb_build_object('sku', bench.sku_of(g * 7 + 3), 'qty', 1))
         END, g))
  FROM generate_series(1, $norders) g;
CREATE SEQUENCE bench.next_order;
-- what pgbench's steps write: tables shaped like orderflow's own
CREATE TABLE bench.executions (LIKE orderflow.executions INCLUDING ALL);
CREATE TABLE bench.execution_history (LIKE orderflow.execution_history INCLUDING ALL);
CREATE TABLE bench.reservations (LIKE fulfillment.reservations INCLUDING ALL);
INSERT INTO bench.executions (id, state_machine, version, definition_id, name, owner, input,
       started_at, current_state, state_input, state_entered_at, next_event_id)
SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, 'order_fulfillment', 1,
       gen_random_uuid(), 'pgbench-' || g, current_user::regrole,
       jsonb_build_object('order_id', g), now(), 'ProcessOrder', jsonb_build_object('order_id', g), now(), 2
  FROM generate_series(1, 10000) g;
VACUUM ANALYZE;
SQL
}

# pgbench scripts: one step = the task's SQL + exec UPDATE + history INSERT
write_step() {  # write_step SUFFIX
  local s="$1"
  cat <<EOF
\\set o$s (:client_id % :clients) * (:norders / :clients) + random(1, :norders / :clients)
\\set k$s (:client_id % :clients) * (:nsku / :clients) + random(1, :nsku / :clients)
\\set e$s (:client_id % :clients) * (10000 / :clients) + random(1, 10000 / :clients)
SELECT status FROM fulfillment.orders WHERE order_id = :o$s FOR UPDATE;
UPDATE fulfillment.inventory SET reserved = reserved + 1
 WHERE sku = 'SKU-' || lpad(:k$s::text, 6, '0') AND warehouse = 'W1' AND on_hand - reserved >= 1;
INSERT INTO bench.reservations AS r (order_id, line_no, sku, warehouse, qty)
VALUES (:o$s, 1, 'SKU-' || lpad(:k$s::text, 6, '0'), 'W1', 1)
ON CONFLICT (order_id, line_no, warehouse) WHERE state = 'HELD' DO UPDATE SET qty = r.qty + excluded.qty;
UPDATE bench.executions SET current_state = 'CheckInventory',
       state_input = '{"order_id": 1, "customer": "customer-1", "items": [{"sku": "SKU-000001", "qty": 1, "line_no": 1}], "status": "PROCESSING"}',
       state_entered_at = now(), retry_count = 0, next_event_id = next_event_id + 1, steps = steps + 1
 WHERE id = ('00000000-0000-0000-0000-' || lpad(:e$s::text, 12, '0'))::uuid
RETURNING next_event_id AS ev$s \\gset
INSERT INTO bench.execution_history (execution_id, event_id, previous_event_id, type, state_name, ts, details, owner)
VALUES (('00000000-0000-0000-0000-' || lpad(:e$s::text, 12, '0'))::uuid, :ev$s, :ev$s - 1, 'TaskStateExited',
        'CheckInventory', now(), '{"output": {"order_id": 1, "status": "RESERVED"}}', current_user::regrole);
EOF
}

# run_pgbench NAME STEPS: steps/s into PGB_RATE
run_pgbench() {
  local name="$1" steps="$2" f="$BDIR/$1.sql" i out tps
  : > "$f"
  [ "$steps" -gt 1 ] && echo "BEGIN;" >> "$f"
  for i in $(seq 1 "$steps"); do write_step "_$i" >> "$f"; done
  [ "$steps" -gt 1 ] && echo "COMMIT;" >> "$f"
  out="$(pgbench -n -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER" -f "$f" \
        -D norders="$ORDERS" -D nsku="$NSKU" -D clients="$CLIENTS" 2>&1)"
  echo "$out" | grep -E '^(number of transactions actually processed|number of failed|latency average|tps)' | sed "s/^/  [$name] /"
  tps="$(echo "$out" | sed -nE 's/^tps = ([0-9.]+) .*/\1/p' | head -n 1)"
  [ -n "$tps" ] || { echo "$out"; return 1; }
  PGB_RATE="$(awk -v t="$tps" -v s="$steps" 'BEGIN { printf "%.1f", t * s }')"
  PGB_TPS="$tps"
}

# run_load NAME FIRST_ORDER: N orders through the seed workflow.  Sets LOAD_*.
run_load() {
  local name="$1" first="$2" per out t0 t1 n left stats
  per=$(( ${3:-$ORDERS} / CLIENTS ))
  n=$(( per * CLIENTS ))
  q "SELECT setval('bench.next_order', $first, false)" >/dev/null
  printf "SELECT orderflow.start_execution('order_fulfillment', jsonb_build_object('order_id', nextval('bench.next_order')), 'order-' || currval('bench.next_order'));\n" > "$BDIR/start.sql"
  q "CHECKPOINT" >/dev/null
  echo "$name" > "$RSS_DIR/phase"
  echo "  [$name] starting $n orders from $CLIENTS connections"
  t0=$(date +%s.%N)
  out="$(pgbench -n -c "$CLIENTS" -j "$CLIENTS" -t "$per" -f "$BDIR/start.sql" 2>&1)" \
    || { echo "$out"; return 1; }
  LOAD_START_RATE="$(echo "$out" | sed -nE 's/^tps = ([0-9.]+) .*/\1/p' | head -n 1 | awk '{ printf "%.1f", $1 }')"
  echo "  [$name] started at $LOAD_START_RATE/s; waiting for them to finish"
  while :; do
    left="$(q "SELECT count(*) FROM orderflow.executions WHERE status = 'RUNNING'")"
    [ "$left" = 0 ] && break
    if [ "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { print (a - b > 1800) }')" = 1 ]; then
      echo "  [$name] timed out with $left executions still running"; return 1
    fi
    sleep 0.2
  done
  t1=$(date +%s.%N)
  stats="$(q "WITH e AS (SELECT * FROM orderflow.executions WHERE name LIKE 'order-%'
                     AND (regexp_replace(name, '^order-', ''))::bigint BETWEEN $first AND $first + $n - 1)
             SELECT count(*), count(*) FILTER (WHERE status = 'SUCCEEDED'), sum(steps),
                    round(extract(epoch FROM max(stopped_at) - min(started_at))::numeric, 3),
                    round((1000 * percentile_cont(0.50) WITHIN GROUP (ORDER BY extract(epoch FROM stopped_at - started_at)))::numeric, 2),
                    round((1000 * percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM stopped_at - started_at)))::numeric, 2),
                    round((1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stopped_at - started_at)))::numeric, 2)
               FROM e" | tr '|' ' ')"
  set -- $stats
  LOAD_N="$1"; LOAD_OK="$2"; LOAD_TRANSITIONS="$3"; LOAD_SECS="$4"
  LOAD_P50="$5"; LOAD_P95="$6"; LOAD_P99="$7"
  LOAD_EPS="$(awk -v n="$LOAD_N" -v s="$LOAD_SECS" 'BEGIN { printf "%.1f", n / s }')"
  LOAD_TPS="$(awk -v n="$LOAD_TRANSITIONS" -v s="$LOAD_SECS" 'BEGIN { printf "%.1f", n / s }')"
  echo "  [$name] $LOAD_N executions ($LOAD_OK succeeded), $LOAD_TRANSITIONS transitions in $LOAD_SECS s:" \
       "$LOAD_TPS transitions/s, $LOAD_EPS executions/s; latency p50 $LOAD_P50 ms, p95 $LOAD_P95 ms, p99 $LOAD_P99 ms"
  echo "  [$name] orderflow.executions so far: $(q "SELECT 'seq_scan ' || seq_scan || ', tuples read by them ' || seq_tup_read || ', updates ' || n_tup_upd || ' (HOT ' || n_tup_hot_upd || ')' FROM pg_stat_user_tables WHERE relid = 'orderflow.executions'::regclass")"
  [ "$LOAD_OK" = "$LOAD_N" ] || q "SELECT status, error, left(cause, 120), count(*) FROM orderflow.executions
                                    WHERE status <> 'SUCCEEDED' GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 5"
}

# idle latency: one execution at a time, client-observed; sets IDLE_*
run_idle() {
  local first="$1" f="$BDIR/idle.sql"
  q "SELECT setval('bench.next_order', $first, false)" >/dev/null
  cat > "$f" <<'EOF'
SELECT orderflow.start_execution('order_fulfillment', jsonb_build_object('order_id', nextval('bench.next_order')), 'order-' || currval('bench.next_order')) AS id \gset
SELECT orderflow.wait_for_execution(':id'::uuid, '30 s');
EOF
  rm -f "$BDIR"/idle_log*
  pgbench -n -c 1 -t "$SAMPLES" -f "$f" -l --log-prefix="$BDIR/idle_log" >/dev/null 2>&1 \
    || { pgbench -n -c 1 -t 1 -f "$f"; return 1; }
  awk '{ print $3 / 1000.0 }' "$BDIR"/idle_log* > "$BDIR/idle_ms"
  set -- $(pctl "$BDIR/idle_ms")
  IDLE_P50="$1"; IDLE_P95="$2"; IDLE_P99="$3"; IDLE_MAX="$4"
  # the engine alone: the same, with four Pass states instead of the tasks
  q "SELECT orderflow.create_state_machine('bench_pass4', '{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Pass\", \"Next\": \"B\"}, \"B\": {\"Type\": \"Pass\", \"Next\": \"C\"}, \"C\": {\"Type\": \"Pass\", \"Next\": \"D\"}, \"D\": {\"Type\": \"Pass\", \"End\": true}}}')" >/dev/null
  cat > "$BDIR/idle_pass.sql" <<'EOF2'
SELECT orderflow.start_execution('bench_pass4', '{"order_id": 1}') AS id \gset
SELECT orderflow.wait_for_execution(':id'::uuid, '30 s');
EOF2
  rm -f "$BDIR"/idlep_log*
  pgbench -n -c 1 -t "$SAMPLES" -f "$BDIR/idle_pass.sql" -l --log-prefix="$BDIR/idlep_log" >/dev/null 2>&1 || return 1
  awk '{ print $3 / 1000.0 }' "$BDIR"/idlep_log* > "$BDIR/idlep_ms"
  set -- $(pctl "$BDIR/idlep_ms")
  IDLEP_P50="$1"; IDLEP_P99="$3"
  IDLE_SERVER="$(q "SELECT round((1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stopped_at - started_at)))::numeric, 2)
                      FROM orderflow.executions WHERE name LIKE 'order-%'
                       AND (regexp_replace(name, '^order-', ''))::bigint BETWEEN $first AND $first + $SAMPLES - 1")"
  echo "  [idle] $SAMPLES single executions: p50 $IDLE_P50 ms, p95 $IDLE_P95 ms, p99 $IDLE_P99 ms, max $IDLE_MAX ms" \
       "(server-side stopped_at - started_at p50 $IDLE_SERVER ms)"
  echo "  [idle] the same with 4 Pass states (the engine alone): p50 $IDLEP_P50 ms, p99 $IDLEP_P99 ms"
  q "SELECT status, count(*) FROM orderflow.executions WHERE (regexp_replace(name, '^order-', ''))::bigint >= $first
       AND name LIKE 'order-%' AND status <> 'SUCCEEDED' GROUP BY 1"
}

# start_execution calls/s in a database no worker serves
run_starts() {
  PGDATABASE=startbench "${PSQL[@]}" >/dev/null <<'SQL'
SELECT orderflow.create_state_machine('starts', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
SQL
  printf "SELECT orderflow.start_execution('starts', '{\"order_id\": 42, \"customer\": \"c\"}');\n" > "$BDIR/starts.sql"
  local out
  out="$(PGDATABASE=startbench pgbench -n -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER" -f "$BDIR/starts.sql" 2>&1)" \
    || { echo "$out"; return 1; }
  STARTS_RATE="$(echo "$out" | sed -nE 's/^tps = ([0-9.]+) .*/\1/p' | head -n 1 | awk '{ printf "%.1f", $1 }')"
  echo "  [starts] $STARTS_RATE start_execution calls/s ($CLIENTS connections, one per transaction)"
  printf "SELECT count(orderflow.start_execution('starts', '{\"order_id\": 42, \"customer\": \"c\"}')) FROM generate_series(1, 100);\n" > "$BDIR/starts100.sql"
  out="$(PGDATABASE=startbench pgbench -n -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER" -f "$BDIR/starts100.sql" 2>&1)" \
    || { echo "$out"; return 1; }
  STARTS100_RATE="$(echo "$out" | sed -nE 's/^tps = ([0-9.]+) .*/\1/p' | head -n 1 | awk '{ printf "%.1f", $1 * 100 }')"
  echo "  [starts] $STARTS100_RATE start_execution calls/s ($CLIENTS connections, 100 per transaction)"
  q "DROP DATABASE startbench" >/dev/null
}

# M finished executions with K history rows each, straight into the tables
generate_finished() {
  local m="$1" k="$2" t0 t1
  t0=$(date +%s)
  "${PSQL[@]}" <<SQL
SET synchronous_commit = off;
SET maintenance_work_mem = '1GB';
INSERT INTO orderflow.executions (id, state_machine, version, definition_id, name, owner, status,
       input, output, started_at, stopped_at, current_state, state_input, state_entered_at,
       retry_count, next_event_id, steps)
SELECT gen_random_uuid(), 'order_fulfillment', v.version, v.definition_id, 'done-' || g,
       current_user::regrole, 'SUCCEEDED',
       jsonb_build_object('order_id', 1000000000 + g),
       jsonb_build_object('order_id', 1000000000 + g, 'customer', 'customer-' || g,
                          'items', jsonb_build_array(jsonb_build_object('sku', 'SKU-000001', 'qty', 1, 'line_no', 1)),
                          'item_count', 1, 'units', 1, 'status', 'SHIPPED',
                          'reservation', jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', 'SKU-000001', 'qty', 1, 'line_no', 1, 'warehouse', 'W1')), 'units', 1),
                          'shipment', jsonb_build_object('shipment_id', g, 'tracking', 'OF' || g, 'units', 1, 'warehouses', jsonb_build_array('W1'))),
       ts, ts + interval '40 ms', 'ShipOrder', jsonb_build_object('order_id', 1000000000 + g, 'status', 'CONFIRMED'),
       ts + interval '30 ms', 0, $k + 1, 4
  FROM generate_series(1, $m) g,
       LATERAL (SELECT now() - interval '30 days' + g * interval '500 ms' AS ts) t,
       (SELECT definition_id, version FROM orderflow.state_machine_versions
         WHERE state_machine = 'order_fulfillment' ORDER BY version DESC LIMIT 1) v;
INSERT INTO orderflow.execution_history (execution_id, event_id, previous_event_id, type, state_name, ts, details, owner)
SELECT e.id, i, NULLIF(i - 1, 0),
       (ARRAY['ExecutionStarted', 'TaskStateEntered', 'TaskStateExited', 'ExecutionSucceeded'])[CASE WHEN i = 1 THEN 1 WHEN i = $k THEN 4 WHEN i % 2 = 0 THEN 2 ELSE 3 END],
       CASE WHEN i = 1 OR i = $k THEN NULL ELSE 'ShipOrder' END,
       e.started_at + i * interval '4 ms',
       jsonb_build_object('input', jsonb_build_object('order_id', e.input->'order_id', 'status', 'PROCESSING')),
       e.owner
  FROM orderflow.executions e, generate_series(1, $k) i
 WHERE e.status = 'SUCCEEDED' AND e.name LIKE 'done-%';
VACUUM ANALYZE orderflow.executions;
VACUUM ANALYZE orderflow.execution_history;
CHECKPOINT;
SQL
  t1=$(date +%s)
  GEN_SECS=$(( t1 - t0 ))
  echo "  [5M] generated $m finished executions and $(( m * k )) history rows in ${GEN_SECS} s;" \
       "sizes: $(q "SELECT pg_size_pretty(pg_total_relation_size('orderflow.executions')) || ' executions, ' || pg_size_pretty(pg_total_relation_size('orderflow.execution_history')) || ' history'")"
}

bench_inner() {
  cd "$REPO" || exit 2
  [ "$(id -u)" -ne 0 ] || of_die "the cluster part must not run as root; run without --no-setup"
  # BENCH_BINDIR: a private (relocated) copy of the server binaries, with
  # the extension installed into it; default the system's
  export PATH="${BENCH_BINDIR:-$OF_BINDIR}:$PATH" PGCLIENTENCODING=UTF8
  local base="${OF_WORK:-${TMPDIR:-/tmp}}" dir ts libline=""
  dir="$(mktemp -d "$base/bench-cluster.XXXXXX")" || exit 2
  BDIR="$dir"
  if [ "$KEEP" = 1 ]; then
    trap 'touch "$BDIR/rss/stop" 2>/dev/null; [ -n "${RSS_PID:-}" ] && kill "$RSS_PID" 2>/dev/null; of_cluster_stop "$BDIR"; of_stop_all_clusters "$BDIR"; echo "(kept $BDIR)"' EXIT
  else
    trap 'touch "$BDIR/rss/stop" 2>/dev/null; [ -n "${RSS_PID:-}" ] && kill "$RSS_PID" 2>/dev/null; of_cluster_stop "$BDIR"; of_stop_all_clusters "$BDIR"; rm -rf "$BDIR"' EXIT
  fi
  trap 'exit 130' INT TERM HUP
  # a private copy of the library (BENCH_LIBDIR), so that another `make
  # install` into the system directories cannot change it under us
  [ -n "${BENCH_LIBDIR:-}" ] && libline="dynamic_library_path = '$BENCH_LIBDIR:\$libdir'"
  NSKU=$(( TINY == 1 ? 2000 : 40000 ))
  of_log "bench: orders=$ORDERS finished=$FINISHED history_per=$HISTORY_PER clients=$CLIENTS" \
         "samples=$SAMPLES seconds=$SECONDS_PER workers=$WORKERS batch=${BATCH:-default} tiny=$TINY"
  of_cluster_start "$dir" postgres \
      "fsync = on" "synchronous_commit = on" "full_page_writes = on" \
      "shared_buffers = 2GB" "max_wal_size = 16GB" "checkpoint_timeout = 30min" \
      "orderflow.workers = $WORKERS" "orderflow.poll_interval = 1s" \
      ${BATCH:+"orderflow.batch_size = $BATCH"} \
      "max_connections = 100" ${libline:+"$libline"} \
    || { echo "ERROR: could not start the cluster"; exit 1; }
  of_log "cluster up in $dir (PGPORT=$PGPORT)"
  # both databases at once, right after the install: the extension's
  # script and library must be the ones this run built
  q "CREATE EXTENSION orderflow" || { of_server_log_tail "$dir/server.log" 40; exit 1; }
  q "CREATE DATABASE startbench" >/dev/null && PGDATABASE=startbench q "CREATE EXTENSION orderflow" \
    || { of_server_log_tail "$dir/server.log" 40; exit 1; }
  [ -n "${OF_WORK:-}" ] && : > "$OF_WORK/bench-extension-created"
  [ -f demo/order_fulfillment.sql ] || of_die "demo/order_fulfillment.sql is missing"
  "${PSQL[@]}" -f demo/order_fulfillment.sql >/dev/null || { of_server_log_tail "$dir/server.log" 40; exit 1; }
  WARM=$(( ORDERS / 20 < 200 ? 200 : ORDERS / 20 ))
  local total=$(( 2 * ORDERS + SAMPLES + WARM + 10 ))
  of_log "domain loaded; creating $NSKU SKUs x 2 warehouses and $total orders"
  setup_domain "$total" "$NSKU" >/dev/null || exit 1

  mkdir -p "$dir/rss"; RSS_DIR="$dir/rss"; echo setup > "$RSS_DIR/phase"
  rss_sampler & RSS_PID=$!

  # warm-up: plans of the task functions and of orderflow are made while
  # the domain's tables are empty; run some orders and ANALYZE, so that the
  # measurements see the steady state, not the first minute of a new install
  if [ "$WARMUP" = 1 ]; then
    of_log "warm-up: $WARM orders, then ANALYZE"
    run_load warmup $(( 2 * ORDERS + SAMPLES + 1 )) $WARM >/dev/null || exit 1
    q "ANALYZE" >/dev/null
  fi
  of_log "pgbench, one step per transaction ($CLIENTS clients, $SECONDS_PER s)"
  run_pgbench pgbench1 1 || exit 1;  P1="$PGB_RATE"
  of_log "pgbench, 50 steps per transaction"
  run_pgbench pgbench50 50 || exit 1; P50="$PGB_RATE"
  of_log "start_execution rate"
  run_starts || exit 1
  of_log "load on empty tables"
  run_load empty 1 || exit 1
  E_N=$LOAD_N E_OK=$LOAD_OK E_TR=$LOAD_TRANSITIONS E_SECS=$LOAD_SECS E_TPS=$LOAD_TPS E_EPS=$LOAD_EPS
  E_P50=$LOAD_P50 E_P95=$LOAD_P95 E_P99=$LOAD_P99 E_START=$LOAD_START_RATE
  of_log "idle latency ($SAMPLES samples)"
  echo idle > "$RSS_DIR/phase"
  run_idle $(( 2 * ORDERS + 1 )) || exit 1
  local f_n=0
  if [ "$SKIP_5M" != 1 ] && [ "$FINISHED" -gt 0 ]; then
    of_log "generating $FINISHED finished executions"
    echo generate > "$RSS_DIR/phase"
    generate_finished "$FINISHED" "$HISTORY_PER" || exit 1
    f_n=$FINISHED
    of_log "load with $FINISHED finished executions in the tables"
    run_load big $(( ORDERS + 1 )) || exit 1
    B_N=$LOAD_N B_OK=$LOAD_OK B_TR=$LOAD_TRANSITIONS B_SECS=$LOAD_SECS B_TPS=$LOAD_TPS B_EPS=$LOAD_EPS
    B_P50=$LOAD_P50 B_P95=$LOAD_P95 B_P99=$LOAD_P99 B_START=$LOAD_START_RATE
  fi
  touch "$RSS_DIR/stop"; wait "$RSS_PID" 2>/dev/null; RSS_PID=
  # peak memory: VmHWM (kB) per worker pid (it counts the shared buffers a
  # worker touched, so it grows towards shared_buffers); RssAnon is the
  # worker's private memory, the figure that must stay flat: its peak, and
  # its value at the first and the last sample of the load runs
  RSS_PEAK_KB="$(awk 'BEGIN { m = 0 } { if ($4 > m) m = $4 } END { print m }' "$RSS_DIR/samples" 2>/dev/null)"
  ANON_PEAK_KB="$(awk 'BEGIN { m = 0 } { if ($6 > m) m = $6 } END { print m }' "$RSS_DIR/samples" 2>/dev/null)"
  RSS_FIRST_KB="$(awk '$2 == "empty" { print $6; exit }' "$RSS_DIR/samples" 2>/dev/null)"
  RSS_LAST_KB="$(awk '$2 == "empty" || $2 == "big" { v = $6 } END { print v }' "$RSS_DIR/samples" 2>/dev/null)"
  RSS_PIDS="$(awk '{ print $3 }' "$RSS_DIR/samples" 2>/dev/null | sort -u | wc -l)"

  # ---------------------------------------------------------- report ---
  r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "null"; else printf "%.3f", a / b }'; }
  R1="$(r "$E_TPS" "$P1")"; R50="$(r "$E_TPS" "$P50")"
  RB="null"; [ "$f_n" -gt 0 ] && RB="$(r "$B_TPS" "$E_TPS")"
  PGV="$(q 'SHOW server_version')"
  MEM_GB="$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
  BATCH_NOW="$(q 'SHOW orderflow.batch_size')"
  ts="$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$REPO/bench/results"
  RESULT="$REPO/bench/results/$ts.json"
  cat > "$RESULT" <<EOF
{
  "timestamp": "$ts",
  "tiny": $([ "$TINY" = 1 ] && echo true || echo false),
  "machine": {"nproc": $(nproc), "memory_gb": $MEM_GB, "postgres": "$PGV"},
  "settings": {"orders": $ORDERS, "clients": $CLIENTS, "workers": $WORKERS, "batch_size": $BATCH_NOW,
               "pgbench_seconds": $SECONDS_PER, "idle_samples": $SAMPLES, "finished": $f_n,
               "history_per_finished": $HISTORY_PER, "skus": $NSKU,
               "fsync": "on", "synchronous_commit": "on", "shared_buffers": "2GB"},
  "pgbench": {"one_step_per_txn_steps_per_s": $P1, "fifty_steps_per_txn_steps_per_s": $P50},
  "start_execution_per_s": $STARTS_RATE, "start_execution_per_s_100_per_txn": $STARTS100_RATE,
  "load_empty": {"executions": $E_N, "succeeded": $E_OK, "transitions": $E_TR, "seconds": $E_SECS,
                 "transitions_per_s": $E_TPS, "executions_per_s": $E_EPS, "starts_per_s_under_load": $E_START,
                 "latency_ms": {"p50": $E_P50, "p95": $E_P95, "p99": $E_P99}},
  "load_finished": $(if [ "$f_n" -gt 0 ]; then echo "{\"executions\": $B_N, \"succeeded\": $B_OK, \"transitions\": $B_TR, \"seconds\": $B_SECS, \"transitions_per_s\": $B_TPS, \"executions_per_s\": $B_EPS, \"starts_per_s_under_load\": $B_START, \"latency_ms\": {\"p50\": $B_P50, \"p95\": $B_P95, \"p99\": $B_P99}}"; else echo null; fi),
  "idle_latency_ms": {"samples": $SAMPLES, "p50": $IDLE_P50, "p95": $IDLE_P95, "p99": $IDLE_P99, "max": $IDLE_MAX, "server_p50": ${IDLE_SERVER:-null}, "pass4_p50": $IDLEP_P50, "pass4_p99": $IDLEP_P99},
  "worker_memory_kb": {"peak_vmhwm": ${RSS_PEAK_KB:-0}, "peak_rssanon": ${ANON_PEAK_KB:-0}, "rssanon_first_load_sample": ${RSS_FIRST_KB:-0}, "rssanon_last_load_sample": ${RSS_LAST_KB:-0}, "worker_pids": ${RSS_PIDS:-0}},
  "ratios": {"orderflow_over_pgbench_1": $R1, "orderflow_over_pgbench_50": $R50, "finished_over_empty": $RB}
}
EOF
  echo
  echo "==================== orderflow benchmark ($ts) ===================="
  printf '%-46s %s\n' "machine" "$(nproc) CPUs, ${MEM_GB} GB, PostgreSQL $PGV" \
    "settings" "orders=$ORDERS clients=$CLIENTS workers=$WORKERS batch_size=$BATCH_NOW fsync=on synchronous_commit=on" \
    "pgbench, 1 step/txn (steps/s)" "$P1" \
    "pgbench, 50 steps/txn (steps/s)" "$P50" \
    "orderflow transitions/s (empty)" "$E_TPS" \
    "orderflow executions/s (empty)" "$E_EPS" \
    "latency under load p50/p95/p99 (ms)" "$E_P50 / $E_P95 / $E_P99" \
    "idle latency p50/p99 (ms)" "$IDLE_P50 / $IDLE_P99 (4 Pass states: $IDLEP_P50 / $IDLEP_P99)" \
    "start_execution calls/s (1 / 100 per txn)" "$STARTS_RATE / $STARTS100_RATE" \
    "ratio orderflow / pgbench-1" "$R1" \
    "ratio orderflow / pgbench-50" "$R50"
  if [ "$f_n" -gt 0 ]; then
    printf '%-46s %s\n' "orderflow transitions/s ($f_n finished)" "$B_TPS" \
      "executions/s ($f_n finished)" "$B_EPS" \
      "latency p50/p95/p99 ($f_n finished, ms)" "$B_P50 / $B_P95 / $B_P99" \
      "ratio finished / empty" "$RB"
  fi
  printf '%-46s %s\n' "worker peak VmHWM / RssAnon (kB)" "${RSS_PEAK_KB:-?} / ${ANON_PEAK_KB:-?} (RssAnon first/last load sample: ${RSS_FIRST_KB:-?} / ${RSS_LAST_KB:-?})" \
    "results" "$RESULT"
  echo "bench: figures printed"
  [ "$TINY" = 1 ] || write_benchmarks_md
}

write_benchmarks_md() {
  local md="$REPO/BENCHMARKS.md" marker='<!-- end of generated figures: what follows is kept by bench/run_bench.sh -->' kept=""
  # the hand-written part after the marker survives a new run
  [ -f "$md" ] && kept="$(awk -v m="$marker" 'f { print } $0 == m { f = 1 }' "$md")"
  {
    echo "# Benchmarks"
    echo
    echo "Latest figures of \`make bench\` (bench/run_bench.sh; issue #7).  Regenerated by every"
    echo "full-size run; the raw figures are in bench/results/ (not committed)."
    echo
    echo "- run: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) CPUs, ${MEM_GB} GB RAM, PostgreSQL $PGV"
    echo "- settings: fsync = on, synchronous_commit = on, full_page_writes = on, shared_buffers = 2GB,"
    echo "  max_wal_size = 16GB, orderflow.workers = $WORKERS, orderflow.batch_size = $BATCH_NOW;"
    echo "  $CLIENTS client connections; $ORDERS orders per load run, all in stock (no InventoryError"
    echo "  retries); pgbench runs of $SECONDS_PER s; $SAMPLES idle samples; $f_n finished executions with"
    echo "  $HISTORY_PER history rows each for the second load run"
    echo "- command: \`make bench\` (= \`bash bench/run_bench.sh${BENCH_ARGS_TEXT:+ $BENCH_ARGS_TEXT}\`)"
    echo
    echo "| figure | value | target |"
    echo "|---|---:|---|"
    echo "| pgbench, same SQL, 1 step per transaction (steps/s) | $P1 | |"
    echo "| pgbench, same SQL, 50 steps per transaction (steps/s) | $P50 | |"
    echo "| orderflow state transitions/s, empty tables | $E_TPS | |"
    echo "| orderflow executions/s, empty tables | $E_EPS | |"
    echo "| **ratio orderflow / pgbench 1-step** | **$R1** | ≥ 1.0 |"
    echo "| **ratio orderflow / pgbench 50-step** | **$R50** | aim 0.5 |"
    echo "| latency under load p50 / p95 / p99 (ms) | $E_P50 / $E_P95 / $E_P99 | |"
    echo "| idle latency p50 / p99 (ms, client-observed) | $IDLE_P50 / $IDLE_P99 | ≤ 5 / ≤ 20 |"
    echo "| idle latency of 4 Pass states (the engine without the tasks) p50 / p99 (ms) | $IDLEP_P50 / $IDLEP_P99 | |"
    if [ "$f_n" -gt 0 ]; then
      echo "| transitions/s with $f_n finished executions | $B_TPS | |"
      echo "| latency under load with $f_n finished, p50 / p95 / p99 (ms) | $B_P50 / $B_P95 / $B_P99 | |"
      echo "| **ratio finished / empty throughput** | **$RB** | ≥ 0.90 |"
    fi
    echo "| start_execution calls/s, $CLIENTS connections, 1 call per transaction | $STARTS_RATE | ≥ 10,000 |"
    echo "| start_execution calls/s, $CLIENTS connections, 100 calls per transaction | $STARTS100_RATE | ≥ 10,000 |"
    echo "| start_execution calls/s while workers run the load | $E_START | |"
    echo "| worker peak RSS: VmHWM (includes shared buffers touched) / RssAnon (private), kB | ${RSS_PEAK_KB:-?} / ${ANON_PEAK_KB:-?} | |"
    echo "| worker RssAnon, first → last sample of the load runs (kB) | ${RSS_FIRST_KB:-?} → ${RSS_LAST_KB:-?} | flat |"
    echo
    echo "What is measured: see the header of bench/run_bench.sh.  The seed workflow has four"
    echo "Task states (ProcessOrder, CheckInventory, UpdateOrderStatus, ShipOrder); a transition"
    echo "is one state left (executions.steps).  Throughput is executions (transitions) divided"
    echo "by the time from the first start to the last finish; latency is stopped_at - started_at."
    echo "The clients start executions as fast as they can, so latency under load includes queueing."
    echo "The pgbench step is the SQL of one CheckInventory step: lock the order row, reserve stock"
    echo "(UPDATE inventory, INSERT reservation), UPDATE an execution-shaped row, INSERT a"
    echo "history-shaped row; each client uses its own range of SKUs and execution rows."
    echo "How the engine gets there: docs/design-performance.md."
    echo
    echo "$marker"
    [ -n "$kept" ] && printf '%s\n' "$kept"
  } > "$md"
  echo "wrote $md"
}

if [ "$MODE" != outer ]; then
  bench_inner
  exit $?
fi

# ---------------------------------------------------------------- outer ---
of_install_deps || exit 1
of_pick_run_user || exit 1
trap 'of_outer_cleanup' EXIT
trap 'exit 130' INT TERM HUP
of_make_copy "$REPO" orderflow-bench || of_die "could not copy the work tree"
of_build_install || exit 1
# keep our own copy of the library: see BENCH_LIBDIR above
mkdir -p "$OF_WORK/lib" && cp "$OF_WORK/repo/orderflow.so" "$OF_WORK/lib/" && chmod -R a+rX "$OF_WORK/lib"
[ "$(id -u)" -eq 0 ] && chown -R "$OF_RUN_USER:" "$OF_WORK"
# of_build_install holds the machine's install lock (test/lib.sh) until we
# exit.  This run needs the installed files only until its CREATE EXTENSIONs
# (the library is our private copy), so let the lock go then: other runs
# need not wait for the whole benchmark.
(
  for _ in $(seq 1 3000); do
    [ -e "$OF_WORK/bench-extension-created" ] && break
    sleep 0.2
  done
  command -v flock >/dev/null 2>&1 && { true <&9; } 2>/dev/null && flock -u 9
) &
LOCK_WATCHER=$!
of_run_inner OF_WORK="$OF_WORK" BENCH_LIBDIR="$OF_WORK/lib" BENCH_ARGS_TEXT="${ARGS[*]:-}" \
  bash "$OF_WORK/repo/bench/run_bench.sh" --inner "${ARGS[@]+"${ARGS[@]}"}"
rc=$?
kill "$LOCK_WATCHER" 2>/dev/null
if [ -d "$OF_WORK/repo/bench/results" ]; then
  mkdir -p "$REPO/bench/results" && cp -R "$OF_WORK/repo/bench/results/." "$REPO/bench/results/"
fi
if [ "$TINY" != 1 ] && [ "$rc" -eq 0 ] && [ -f "$OF_WORK/repo/BENCHMARKS.md" ]; then
  cp "$OF_WORK/repo/BENCHMARKS.md" "$REPO/BENCHMARKS.md"
fi
[ "$(id -u)" -eq 0 ] && chown -R --reference="$REPO" "$REPO/bench/results" 2>/dev/null
of_outer_cleanup
trap - EXIT
exit "$rc"
