#!/usr/bin/env bash
# demo/surge.sh: an order surge against the order-fulfillment workflow.
#
#   bash demo/surge.sh [--orders N] [--clients K] [--batch B]
#                      [--workflow seed|production] [--timeout SECONDS]
#                      [--engine-batch-size N|keep]
#
# Defaults: 10000 orders (or $ORDERS), 4 client sessions, 250 starts per
# transaction, the seed workflow (order_fulfillment; "production" is
# order_fulfillment_production), a timeout of 120 s + N/20 s.
#
# Normally run by demo/run_demo.sh (the README's main command), which sets
# PGHOST/PGPORT/PGUSER/PGDATABASE for a throwaway cluster with the
# extension and demo/order_fulfillment.sql loaded.  Against any other
# database it needs the same: CREATE EXTENSION orderflow, and the orderflow
# workers serving that database (orderflow.database).
#
# What it does:
#   1. seeds 300 SKUs in two warehouses and N orders of 1-4 items (SKU
#      popularity skewed, so a few SKUs are hot); stock covers each SKU's
#      demand, except for 12 SKUs that get only about half of it;
#   2. starts one execution per order from K concurrent client sessions,
#      B starts per transaction, while a progress line shows executions by
#      status and state transitions per second;
#   3. waits until nothing is RUNNING (orders short of stock fail only
#      after their retries, 3 + 6 + 12 = 21 s on the seed workflow), or
#      until the timeout;
#   4. reports executions by status, transitions per second, start-to-
#      finish latency p50/p95/p99, the inventory balance (per SKU and
#      warehouse: starting stock = on hand + shipped, nothing left
#      reserved, orders and executions agree), one order's full execution
#      history, and draws that order's path through the workflow
#      (orderflow.render_graph, dot -Tsvg) into demo/out/.
#
# --engine-batch-size N runs the surge with orderflow.batch_size = N
# (ALTER SYSTEM + reload, put back at the end; needs a superuser), to see
# how the size of the workers' batches plays with the hot SKUs' row locks;
# the default, "keep", runs with the server's setting.
#
# Exit status: 0 when everything balances and every execution finished
# (SUCCEEDED, or FAILED with InventoryError for orders that are short on
# the seed workflow); 1 otherwise; 2 for bad usage or a database that is
# not set up.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
cd "$REPO" || exit 2

ORDERS="${ORDERS:-10000}"
CLIENTS=4
BATCH=250
WORKFLOW=seed
TIMEOUT=""
OUT_DIR="demo/out"
ENGINE_BATCH=keep

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
die() { echo "surge: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --orders) ORDERS="${2:-}"; shift 2 ;;
    --orders=*) ORDERS="${1#*=}"; shift ;;
    --clients) CLIENTS="${2:-}"; shift 2 ;;
    --clients=*) CLIENTS="${1#*=}"; shift ;;
    --batch) BATCH="${2:-}"; shift 2 ;;
    --batch=*) BATCH="${1#*=}"; shift ;;
    --workflow) WORKFLOW="${2:-}"; shift 2 ;;
    --workflow=*) WORKFLOW="${1#*=}"; shift ;;
    --timeout) TIMEOUT="${2:-}"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#*=}"; shift ;;
    --engine-batch-size) ENGINE_BATCH="${2:-}"; shift 2 ;;
    --engine-batch-size=*) ENGINE_BATCH="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for v in ORDERS CLIENTS BATCH; do
  case "${!v}" in ''|*[!0-9]*) die "--${v,,} wants a whole number, not '${!v}'" ;; esac
done
[ "$ORDERS" -ge 1 ] && [ "$CLIENTS" -ge 1 ] && [ "$BATCH" -ge 1 ] || die "--orders, --clients and --batch must be at least 1"
case "$WORKFLOW" in
  seed) SM=order_fulfillment ;;
  production) SM=order_fulfillment_production ;;
  *) die "--workflow is seed or production, not '$WORKFLOW'" ;;
esac
# generous: the retries alone take 21 s; allow 20 orders/s on a slow box
[ -n "$TIMEOUT" ] || TIMEOUT=$(( 120 + ORDERS / 20 ))
case "$TIMEOUT" in ''|*[!0-9]*) die "--timeout wants seconds" ;; esac
case "$ENGINE_BATCH" in keep) ;; ''|*[!0-9]*|0) die "--engine-batch-size wants a number >= 1 or keep" ;; esac

export PGCLIENTENCODING=UTF8
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -P pager=off)
q() { "${PSQL[@]}" -At -c "$1"; }          # one value / rows, unaligned
TTY=0; [ -t 1 ] && TTY=1

section() { printf '\n== %s ==\n' "$*"; }

# ------------------------------------------------------------------ setup ---
if ! q "SELECT 1 FROM pg_extension WHERE extname = 'orderflow'" | grep -q 1; then
  die "the orderflow extension is not installed in database '${PGDATABASE:-?}' (CREATE EXTENSION orderflow)"
fi
if [ "$(q "SELECT to_regnamespace('fulfillment') IS NOT NULL")" != t ]; then
  echo "loading demo/order_fulfillment.sql"
  "${PSQL[@]}" -f demo/order_fulfillment.sql >/dev/null || die "could not load demo/order_fulfillment.sql"
fi
RUNNING_BEFORE="$(q "SELECT count(*) FROM orderflow.executions WHERE status = 'RUNNING'
                     AND state_machine IN ('order_fulfillment', 'order_fulfillment_production')")"
[ "$RUNNING_BEFORE" = 0 ] || die "$RUNNING_BEFORE order executions are still RUNNING from an earlier run; wait for them (or stop them) first"

# orderflow.batch_size for the run (see the header), restored on exit
BATCH_WAS="$(q "SHOW orderflow.batch_size")"
BATCH_SET_BEFORE="$(q "SELECT count(*) FROM pg_file_settings WHERE name = 'orderflow.batch_size' AND sourcefile LIKE '%postgresql.auto.conf'" 2>/dev/null || echo 1)"
restore_batch() {
  [ "${BATCH_CHANGED:-0}" = 1 ] || return 0
  if [ "$BATCH_SET_BEFORE" = 0 ]; then
    q "ALTER SYSTEM RESET orderflow.batch_size" >/dev/null
  else
    q "ALTER SYSTEM SET orderflow.batch_size = $BATCH_WAS" >/dev/null
  fi
  q "SELECT pg_reload_conf()" >/dev/null
  BATCH_CHANGED=0
}
if [ "$ENGINE_BATCH" != keep ] && [ "$ENGINE_BATCH" != "$BATCH_WAS" ]; then
  if q "ALTER SYSTEM SET orderflow.batch_size = $ENGINE_BATCH" >/dev/null && q "SELECT pg_reload_conf()" >/dev/null; then
    BATCH_CHANGED=1
    for _ in 1 2 3 4 5 6 7 8 9 10; do sleep 0.2; done   # the workers pick it up at their next loop
    echo "NOTE: orderflow.batch_size = $ENGINE_BATCH for this run (was $BATCH_WAS; put back at the end)"
  else
    echo "NOTE: could not set orderflow.batch_size (needs a superuser); running with $BATCH_WAS"
  fi
fi
trap 'restore_batch' EXIT

RUN="r$(date +%s)"            # execution names: <run>-order-<id>, unique per run
echo "surge $RUN: $ORDERS orders, workflow $SM, $CLIENTS client sessions x $BATCH starts per transaction"
echo "database: ${PGDATABASE:-?} on ${PGHOST:-localhost}:${PGPORT:-5432}; orderflow.workers = $(q "SHOW orderflow.workers" 2>/dev/null || echo '?'), orderflow.batch_size = $(q "SHOW orderflow.batch_size")"

section "seeding"
T_SEED=$(date +%s%N)
"${PSQL[@]}" -v orders="$ORDERS" <<'SQL' || die "seeding failed"
BEGIN;
-- a clean domain (the workflow definitions stay)
TRUNCATE fulfillment.shipment_lines, fulfillment.shipments, fulfillment.reservations,
         fulfillment.order_status_log, fulfillment.order_items, fulfillment.orders,
         fulfillment.inventory, fulfillment.products, fulfillment.warehouses
         RESTART IDENTITY CASCADE;
SELECT setseed(0.42) \gset

INSERT INTO fulfillment.warehouses (warehouse, name) VALUES
    ('EAST', 'Newark, NJ'), ('WEST', 'Reno, NV');
INSERT INTO fulfillment.products (sku, name)
SELECT format('SKU-%s', lpad(i::text, 4, '0')), format('Product %s', i)
  FROM generate_series(1, 300) AS i;

-- orders: 1-4 distinct SKUs each (popular SKUs more likely), 1-3 units
SET CONSTRAINTS fulfillment.orders_status_is_logged DEFERRED;
INSERT INTO fulfillment.orders (order_id, customer)
SELECT o, format('customer-%s', 1 + (random() * 2999)::int)
  FROM generate_series(1, :orders) AS o;
SELECT setval(pg_get_serial_sequence('fulfillment.orders', 'order_id'), :orders) \gset
INSERT INTO fulfillment.order_status_log (order_id, seq, from_status, to_status, note)
SELECT o, 1, NULL, 'NEW', 'order received (surge)' FROM generate_series(1, :orders) AS o;
INSERT INTO fulfillment.order_items (order_id, line_no, sku, qty)
SELECT order_id, row_number() OVER (PARTITION BY order_id ORDER BY sku)::int, sku, 1 + (random() * 2)::int
  FROM (SELECT DISTINCT o.o AS order_id, p.sku
          FROM (SELECT o, CASE WHEN r < 0.4 THEN 1 WHEN r < 0.7 THEN 2 WHEN r < 0.9 THEN 3 ELSE 4 END AS lines
                  FROM (SELECT o, random() AS r FROM generate_series(1, :orders) AS o) AS x) AS o
          CROSS JOIN LATERAL (
                SELECT format('SKU-%s', lpad((1 + floor(300 * power(random(), 1.6)))::int::text, 4, '0')) AS sku
                  FROM generate_series(1, o.lines) AS l) AS p) AS d;
COMMIT;

-- stock: demand plus a margin, except 12 SKUs (every 25th) that get ~half
INSERT INTO fulfillment.inventory (sku, warehouse, on_hand)
SELECT p.sku, w.warehouse,
       CASE WHEN w.warehouse = 'EAST' THEN ceil(total * 0.6)::int ELSE total - ceil(total * 0.6)::int END
  FROM (SELECT p.sku,
               CASE WHEN substr(p.sku, 5)::int % 25 = 7
                    THEN floor(coalesce(d.demand, 0) * 0.5)::int
                    ELSE coalesce(d.demand, 0) + ceil(coalesce(d.demand, 0) * 0.1)::int + 5 END AS total
          FROM fulfillment.products AS p
          LEFT JOIN (SELECT sku, sum(qty) AS demand FROM fulfillment.order_items GROUP BY sku) AS d
                 ON d.sku = p.sku) AS p
 CROSS JOIN fulfillment.warehouses AS w;

-- the starting stock, for the balance check at the end
SET client_min_messages = warning;
DROP TABLE IF EXISTS fulfillment.surge_initial_stock;
RESET client_min_messages;
CREATE TABLE fulfillment.surge_initial_stock AS
SELECT sku, warehouse, on_hand FROM fulfillment.inventory;
ANALYZE fulfillment.orders, fulfillment.order_items, fulfillment.inventory, fulfillment.order_status_log;
SQL
"${PSQL[@]}" <<'SQL'
SELECT count(*) AS orders,
       (SELECT count(*) FROM fulfillment.order_items) AS items,
       (SELECT sum(qty) FROM fulfillment.order_items) AS units,
       (SELECT count(*) FROM fulfillment.products) AS skus,
       (SELECT count(*) FROM fulfillment.warehouses) AS warehouses,
       (SELECT sum(on_hand) FROM fulfillment.inventory) AS units_in_stock,
       (SELECT count(DISTINCT i.sku) FROM fulfillment.order_items i
         WHERE substr(i.sku, 5)::int % 25 = 7) AS short_skus_ordered,
       (SELECT count(DISTINCT i.order_id) FROM fulfillment.order_items i
         WHERE substr(i.sku, 5)::int % 25 = 7) AS orders_with_a_short_sku
  FROM fulfillment.orders;
SQL
echo "seeded in $(( ($(date +%s%N) - T_SEED) / 1000000 )) ms"

# ------------------------------------------------------------- the surge ---
section "surge: starting $ORDERS executions from $CLIENTS sessions"
STARTERS=()
LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/surge.XXXXXX")"
trap 'for p in "${STARTERS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; rm -rf "$LOGDIR"; restore_batch' EXIT
T0=$(q "SELECT extract(epoch FROM clock_timestamp())")
for ((k = 0; k < CLIENTS; k++)); do
  {
    span=$((BATCH * CLIENTS))
    for ((lo = 0; lo < ORDERS; lo += span)); do
      printf "SELECT count(orderflow.start_execution('%s', jsonb_build_object('order_id', o.order_id), '%s-order-' || o.order_id)) FROM fulfillment.orders AS o WHERE o.order_id > %d AND o.order_id <= %d AND o.order_id %% %d = %d;\n" \
        "$SM" "$RUN" "$lo" "$((lo + span))" "$CLIENTS" "$k"
    done
  } | "${PSQL[@]}" -At >"$LOGDIR/starter$k.out" 2>"$LOGDIR/starter$k.err" &
  STARTERS+=($!)
done

# progress: one line, every second
PEAK_TPS=0
LAST_T="$T0"; LAST_STEPS=0
START_FAILED=0
DEADLINE=$(( $(date +%s) + TIMEOUT ))
while :; do
  sleep 1
  starting=0
  for p in "${STARTERS[@]}"; do kill -0 "$p" 2>/dev/null && starting=1; done
  IFS='|' read -r now total running succeeded failed other steps <<<"$(q "
    SELECT extract(epoch FROM clock_timestamp()), count(*),
           count(*) FILTER (WHERE status = 'RUNNING'), count(*) FILTER (WHERE status = 'SUCCEEDED'),
           count(*) FILTER (WHERE status = 'FAILED'),
           count(*) FILTER (WHERE status NOT IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
           coalesce(sum(steps), 0)
      FROM orderflow.executions WHERE state_machine = '$SM' AND name LIKE '$RUN-%'")"
  [ -n "${now:-}" ] || { echo; echo "surge: lost the database connection" >&2; exit 1; }
  tps=$(awk -v a="$steps" -v b="$LAST_STEPS" -v t="$now" -v u="$LAST_T" 'BEGIN { d = t - u; printf "%d", (d > 0 ? (a - b) / d : 0) }')
  [ "${tps:-0}" -gt "$PEAK_TPS" ] && PEAK_TPS=$tps
  LAST_T=$now; LAST_STEPS=$steps
  elapsed=$(awk -v t="$now" -v u="$T0" 'BEGIN { printf "%d", t - u + 0.5 }')
  line=$(printf '[%4ss] started %6d/%d | running %6d | succeeded %6d | failed %5d%s | %5d transitions/s' \
         "$elapsed" "$total" "$ORDERS" "$running" "$succeeded" "$failed" \
         "$([ "$other" -gt 0 ] && printf ' | other %d' "$other")" "$tps")
  # on a terminal: one line, redrawn every second; in a log: a line every 2 s
  if [ "$TTY" = 1 ]; then printf '\r%s\033[K' "$line"; elif [ $((elapsed % 2)) -eq 0 ] || [ "$starting" = 0 -a "$running" = 0 ]; then echo "$line"; fi
  if [ "$starting" = 0 ] && [ "$running" = 0 ]; then break; fi
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then
    [ "$TTY" = 1 ] && echo
    echo "surge: TIMEOUT after $TIMEOUT s with $running executions still RUNNING"
    break
  fi
done
[ "$TTY" = 1 ] && echo
for ((k = 0; k < CLIENTS; k++)); do
  wait "${STARTERS[$k]}" || { START_FAILED=1; echo "surge: client session $k failed:"; cat "$LOGDIR/starter$k.err"; }
done
STARTERS=()

# ---------------------------------------------------------------- report ---
RC=0
section "executions by status"
"${PSQL[@]}" -v sm="$SM" -v run="$RUN-%" <<'SQL'
SELECT status, coalesce(error, '') AS error, count(*) AS executions,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS "%"
  FROM orderflow.executions
 WHERE state_machine = :'sm' AND name LIKE :'run'
 GROUP BY status, error
 ORDER BY count(*) DESC;
SQL

section "throughput and latency"
"${PSQL[@]}" -v sm="$SM" -v run="$RUN-%" -v peak="$PEAK_TPS" <<'SQL'
WITH e AS (
    SELECT * FROM orderflow.executions WHERE state_machine = :'sm' AND name LIKE :'run'
), span AS (
    SELECT extract(epoch FROM max(stopped_at) - min(started_at)) AS seconds,
           extract(epoch FROM max(started_at) - min(started_at)) AS start_seconds,
           extract(epoch FROM max(stopped_at) FILTER (WHERE status = 'SUCCEEDED') - min(started_at)) AS ok_seconds,
           count(*) FILTER (WHERE status = 'SUCCEEDED') AS ok,
           sum(steps) AS transitions, count(*) AS n
      FROM e
)
SELECT n AS executions,
       round(start_seconds::numeric, 1) AS "all started after s",
       round(ok_seconds::numeric, 1) AS "last success after s",
       round(seconds::numeric, 1) AS "all finished after s",
       transitions AS "state transitions",
       :peak AS "transitions/s, peak second",
       round((transitions / nullif(seconds, 0))::numeric, 0) AS "transitions/s, whole run",
       round((ok / nullif(ok_seconds, 0))::numeric, 0) AS "successes/s until the last"
  FROM span;

SELECT coalesce(status, 'all') AS status, count(*) AS executions,
       round(percentile_cont(0.50) WITHIN GROUP (ORDER BY extract(epoch FROM stopped_at - started_at))::numeric, 3) AS "latency p50 s",
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM stopped_at - started_at))::numeric, 3) AS "p95 s",
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stopped_at - started_at))::numeric, 3) AS "p99 s",
       round(max(extract(epoch FROM stopped_at - started_at))::numeric, 3) AS "max s"
  FROM orderflow.executions
 WHERE state_machine = :'sm' AND name LIKE :'run' AND stopped_at IS NOT NULL
 GROUP BY ROLLUP (status)
 ORDER BY status NULLS LAST;
SQL

section "inventory balance"
BALANCE="$("${PSQL[@]}" -At -F '|' -v sm="$SM" -v run="$RUN-%" <<'SQL'
WITH shipped AS (
    SELECT sku, warehouse, sum(qty) AS qty FROM fulfillment.shipment_lines GROUP BY sku, warehouse
), stock AS (
    SELECT s.sku, s.warehouse, s.on_hand AS initial, i.on_hand, i.reserved, coalesce(sh.qty, 0) AS shipped
      FROM fulfillment.surge_initial_stock AS s
      JOIN fulfillment.inventory AS i USING (sku, warehouse)
      LEFT JOIN shipped AS sh USING (sku, warehouse)
), ex AS (
    SELECT (e.input ->> 'order_id')::bigint AS order_id, e.status, e.error
      FROM orderflow.executions AS e
     WHERE e.state_machine = :'sm' AND e.name LIKE :'run'
)
SELECT 'stock rows (sku, warehouse)', count(*), 0 FROM stock
UNION ALL
SELECT 'starting stock = on hand + shipped', count(*) FILTER (WHERE initial = on_hand + shipped),
       count(*) FILTER (WHERE initial <> on_hand + shipped) FROM stock
UNION ALL
SELECT 'nothing left reserved', count(*) FILTER (WHERE reserved = 0), count(*) FILTER (WHERE reserved <> 0) FROM stock
UNION ALL
SELECT 'no reservation still HELD (orders)',
       (SELECT count(*) FROM fulfillment.orders) - count(DISTINCT order_id), count(DISTINCT order_id)
  FROM fulfillment.reservations WHERE state = 'HELD'
UNION ALL
SELECT 'units shipped = units ordered, per shipped order',
       count(*) FILTER (WHERE s.units = o.units), count(*) FILTER (WHERE s.units IS DISTINCT FROM o.units)
  FROM (SELECT order_id, sum(qty) AS units FROM fulfillment.order_items GROUP BY order_id) AS o
  JOIN fulfillment.orders AS ord USING (order_id)
  LEFT JOIN (SELECT sh.order_id, sum(l.qty) AS units FROM fulfillment.shipments AS sh
               JOIN fulfillment.shipment_lines AS l USING (shipment_id) GROUP BY sh.order_id) AS s USING (order_id)
 WHERE ord.status = 'SHIPPED' OR s.order_id IS NOT NULL
UNION ALL
SELECT 'every order has one execution', count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n <> 1)
  FROM (SELECT o.order_id, count(ex.order_id) AS n FROM fulfillment.orders AS o
          LEFT JOIN ex USING (order_id) GROUP BY o.order_id) AS x
UNION ALL
SELECT 'SUCCEEDED execution <=> order SHIPPED/BACKORDERED, else not shipped',
       count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok)
  FROM (SELECT (ex.status = 'SUCCEEDED') = (o.status IN ('SHIPPED', 'BACKORDERED'))
               AND (o.status = 'SHIPPED') = EXISTS (SELECT 1 FROM fulfillment.shipments AS s WHERE s.order_id = o.order_id)
               AS ok
          FROM ex JOIN fulfillment.orders AS o USING (order_id)) AS x
UNION ALL
SELECT 'executions that ended as expected (not RUNNING; errors only InventoryError)',
       count(*) FILTER (WHERE status = 'SUCCEEDED' OR (status = 'FAILED' AND error = 'InventoryError')),
       count(*) FILTER (WHERE NOT (status = 'SUCCEEDED' OR (status = 'FAILED' AND error = 'InventoryError')))
  FROM ex;
SQL
)"
if [ -z "$BALANCE" ]; then echo "surge: the balance check did not run"; RC=1; fi
printf '%-78s %8s %8s\n' "check" "ok" "wrong"
while IFS='|' read -r name ok bad; do
  [ -n "$name" ] || continue
  mark="ok"; [ "$bad" != 0 ] && { mark="WRONG"; RC=1; }
  printf '%-78s %8s %8s  %s\n' "$name" "$ok" "$bad" "$mark"
done <<<"$BALANCE"
if [ "$RC" != 0 ]; then
  echo "-- first mismatching stock rows:"
  "${PSQL[@]}" -c "SELECT s.sku, s.warehouse, s.on_hand AS initial, i.on_hand, i.reserved,
                           (SELECT coalesce(sum(qty), 0) FROM fulfillment.shipment_lines l
                             WHERE l.sku = s.sku AND l.warehouse = s.warehouse) AS shipped
                      FROM fulfillment.surge_initial_stock s JOIN fulfillment.inventory i USING (sku, warehouse)
                     WHERE i.reserved <> 0 OR s.on_hand <> i.on_hand + (SELECT coalesce(sum(qty), 0)
                           FROM fulfillment.shipment_lines l WHERE l.sku = s.sku AND l.warehouse = s.warehouse)
                     ORDER BY 1, 2 LIMIT 10"
fi
"${PSQL[@]}" <<'SQL'
SELECT status AS "orders by status", count(*) FROM fulfillment.orders GROUP BY status ORDER BY count(*) DESC;
SQL

# ------------------------------------------------------- one order's story ---
# the most telling order: one that failed, was caught or was retried (also
# inside a Map iteration, a child execution), else a multi-item order that shipped
PICK="$(q "SELECT e.id || '|' || (e.input ->> 'order_id') || '|' || e.status
             FROM orderflow.executions AS e
            WHERE e.state_machine = '$SM' AND e.name LIKE '$RUN-%' AND e.status <> 'RUNNING'
            ORDER BY (e.error IS NOT NULL
                      OR EXISTS (SELECT 1 FROM orderflow.execution_history h
                                  WHERE h.execution_id = e.id AND h.type IN ('RetryScheduled', 'CatchMatched'))
                      OR EXISTS (SELECT 1 FROM orderflow.executions c
                                   JOIN orderflow.execution_history h ON h.execution_id = c.id
                                  WHERE c.parent_id = e.id AND h.type = 'RetryScheduled')) DESC,
                     (SELECT count(*) FROM fulfillment.order_items i
                       WHERE i.order_id = (e.input ->> 'order_id')::bigint) DESC,
                     (e.input ->> 'order_id')::bigint
            LIMIT 1")"
IFS='|' read -r PICK_ID PICK_ORDER PICK_STATUS <<<"$PICK"
if [ -n "${PICK_ID:-}" ]; then
  section "order $PICK_ORDER: its execution history ($PICK_STATUS)"
  "${PSQL[@]}" -v id="$PICK_ID" <<'SQL'
SELECT o.order_id, o.customer, o.status AS order_status,
       (SELECT string_agg(format('%s x%s', i.sku, i.qty), ', ' ORDER BY i.line_no)
          FROM fulfillment.order_items AS i WHERE i.order_id = o.order_id) AS items
  FROM fulfillment.orders AS o
 WHERE o.order_id = (SELECT (input ->> 'order_id')::bigint FROM orderflow.executions WHERE id = :'id');
SELECT h.event_id AS id,
       to_char(extract(epoch FROM h.ts - e.started_at) * 1000, 'FM999990.0') AS "+ms",
       h.type, coalesce(h.state_name, '') AS state,
       left(coalesce(CASE
            WHEN h.type IN ('TaskFailed', 'RetryScheduled', 'CatchMatched', 'ExecutionFailed', 'TaskTimedOut')
                 THEN concat_ws(' ', h.details ->> 'error', '"' || (h.details ->> 'cause') || '"',
                                'attempt ' || (h.details ->> 'retryAttempt'),
                                'in ' || (h.details ->> 'retryDelaySeconds') || ' s')
            WHEN h.type = 'TaskScheduled' THEN h.details ->> 'resource'
            WHEN h.type = 'ExecutionStarted' THEN (h.details -> 'input')::text
            ELSE (coalesce(h.details -> 'output', h.details -> 'input'))::text END, ''), 90) AS details
  FROM orderflow.execution_history AS h
  JOIN orderflow.executions AS e ON e.id = h.execution_id
 WHERE h.execution_id = :'id'
 ORDER BY h.event_id;
-- Map iterations (child executions) that were retried or failed
SELECT c.branch_index AS item, h.event_id AS id, h.type, coalesce(h.state_name, '') AS state,
       left(concat_ws(' ', h.details ->> 'error', '"' || (h.details ->> 'cause') || '"',
                      'attempt ' || (h.details ->> 'retryAttempt'),
                      'in ' || (h.details ->> 'retryDelaySeconds') || ' s'), 90) AS details
  FROM orderflow.executions AS c
  JOIN orderflow.execution_history AS h ON h.execution_id = c.id
 WHERE c.parent_id = :'id' AND h.type IN ('TaskFailed', 'RetryScheduled', 'ExecutionFailed', 'TaskTimedOut')
 ORDER BY c.branch_index, h.event_id;
SQL

  section "picture"
  mkdir -p "$OUT_DIR"
  base="$OUT_DIR/${SM}-order-$PICK_ORDER"
  q "SELECT orderflow.render_graph('$SM', '$PICK_ID', 'dot')" >"$base.dot"
  q "SELECT orderflow.render_graph('$SM', '$PICK_ID', 'mermaid')" >"$base.mmd"
  q "SELECT orderflow.render_graph('$SM', format => 'dot')" >"$OUT_DIR/$SM.dot"
  # and one order that went straight through, for comparison
  OK_PICK="$(q "SELECT e.id || '|' || (e.input ->> 'order_id') FROM orderflow.executions AS e
                 WHERE e.state_machine = '$SM' AND e.name LIKE '$RUN-%' AND e.status = 'SUCCEEDED'
                   AND NOT EXISTS (SELECT 1 FROM orderflow.execution_history h
                                    WHERE h.execution_id = e.id AND h.type IN ('RetryScheduled', 'CatchMatched'))
                 ORDER BY (e.input ->> 'order_id')::bigint LIMIT 1")"
  IFS='|' read -r OK_ID OK_ORDER <<<"$OK_PICK"
  if [ -n "${OK_ID:-}" ]; then
    q "SELECT orderflow.render_graph('$SM', '$OK_ID', 'dot')" >"$OUT_DIR/${SM}-order-$OK_ORDER.dot"
  fi
  if command -v dot >/dev/null 2>&1; then
    for f in "$base.dot" "$OUT_DIR/$SM.dot" ${OK_ID:+"$OUT_DIR/${SM}-order-$OK_ORDER.dot"}; do
      dot -Tsvg "$f" -o "${f%.dot}.svg" || { echo "surge: dot -Tsvg $f failed"; RC=1; }
    done
    cp "$base.svg" "$OUT_DIR/$SM.path.svg"
    echo "order $PICK_ORDER's path through $SM:  $base.svg"
    [ -n "${OK_ID:-}" ] && echo "an order that went straight through: $OUT_DIR/${SM}-order-$OK_ORDER.svg"
    echo "the definition alone:               $OUT_DIR/$SM.svg"
    echo "(Mermaid for Markdown: $base.mmd; the README embeds docs/order_fulfillment.svg, made the same way)"
  else
    echo "graphviz (dot) is not installed: wrote $base.dot and $base.mmd; render with  dot -Tsvg $base.dot -o $base.svg"
  fi
fi

# --------------------------------------------------------------- verdict ---
section "verdict"
STILL_RUNNING="$(q "SELECT count(*) FROM orderflow.executions WHERE state_machine = '$SM' AND name LIKE '$RUN-%' AND status = 'RUNNING'")"
STARTED="$(q "SELECT count(*) FROM orderflow.executions WHERE state_machine = '$SM' AND name LIKE '$RUN-%'")"
[ "$START_FAILED" = 0 ] || { echo "FAIL: a client session could not start its executions"; RC=1; }
[ "$STARTED" = "$ORDERS" ] || { echo "FAIL: $STARTED executions started, expected $ORDERS"; RC=1; }
[ "$STILL_RUNNING" = 0 ] || { echo "FAIL: $STILL_RUNNING executions still RUNNING after the $TIMEOUT s timeout"; RC=1; }
if [ "$RC" = 0 ]; then
  echo "OK: $ORDERS orders, every execution finished, inventory balances"
else
  echo "NOT OK (see above)"
fi
exit "$RC"
