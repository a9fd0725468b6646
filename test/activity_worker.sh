#!/usr/bin/env bash
# test/activity_worker.sh: an example activity worker outside the database.
#
#   bash test/activity_worker.sh ACTIVITY WORKER_NAME [IDLE_SECONDS]
#
# Connects with the usual libpq environment (PGHOST, PGPORT, PGDATABASE,
# PGUSER), keeps one psql session open as a co-process, and loops:
#   1. orderflow.get_activity_task(ACTIVITY, WORKER_NAME, wait) in autocommit
#      mode, so the claim commits at once (long-polls up to IDLE_SECONDS);
#   2. "does the work" outside the database (here: wraps the input);
#   3. orderflow.send_task_success(token, output).
# It exits when no task arrived for IDLE_SECONDS (default 5) and prints
# "WORKER_NAME completed N".  Only bash and psql are needed.
set -uo pipefail

activity="${1:?usage: activity_worker.sh ACTIVITY WORKER_NAME [IDLE_SECONDS]}"
worker="${2:?usage: activity_worker.sh ACTIVITY WORKER_NAME [IDLE_SECONDS]}"
idle="${3:-5}"

coproc PSQL { exec psql -X -q -A -t -F $'\t' -v ON_ERROR_STOP=0 2>&1; }
psql_pid=$PSQL_PID

# run one statement; its output lines land in REPLY_LINES
query() {
  printf '%s\n\\echo __orderflow_end__\n' "$1" >&"${PSQL[1]}"
  REPLY_LINES=()
  local line
  while IFS= read -r line <&"${PSQL[0]}"; do
    [ "$line" = "__orderflow_end__" ] && return 0
    REPLY_LINES+=("$line")
  done
  echo "$worker: psql went away" >&2
  exit 1
}

# a SQL string literal
lit() { local s="${1//\'/\'\'}"; printf "'%s'" "$s"; }

fail_on_error() {
  local l
  for l in "${REPLY_LINES[@]}"; do
    case "$l" in *ERROR:*) echo "$worker: $l" >&2; exit 1 ;; esac
  done
}

done_count=0
while :; do
  query "SELECT task_token, input FROM orderflow.get_activity_task($(lit "$activity"), $(lit "$worker"), $(lit "$idle s"));"
  fail_on_error
  [ "${#REPLY_LINES[@]}" -eq 0 ] && break
  IFS=$'\t' read -r token input <<< "${REPLY_LINES[0]}"
  # the work itself happens here, outside the database
  output="{\"worker\": \"$worker\", \"done\": $input}"
  query "SELECT orderflow.send_task_success($(lit "$token"), $(lit "$output")::jsonb);"
  fail_on_error
  done_count=$((done_count + 1))
done
printf '\\q\n' >&"${PSQL[1]}"
wait "$psql_pid" 2>/dev/null
echo "$worker completed $done_count"
