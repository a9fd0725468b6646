#!/usr/bin/env bash
# test/validator/run.sh: orderflow's validation against an independent
# oracle, asl-validator (the "validator" suite of test/run_all.sh; README,
# "Differences from asl-validator").
#
#   test/validator/run.sh SHARED_DIR WORK_DIR
#
# Needs node and npm (run_all.sh installs them), psql, and the usual PG*
# variables reaching a database where CREATE EXTENSION orderflow is done
# (no workers needed: nothing runs).  SHARED_DIR is shared/ (its
# conformance/ holds the public invalid definitions, the valid cases and
# tasks.sql).  Steps:
#   1. npm ci from the committed package-lock.json (asl-validator pinned);
#   2. node oracle.js: build the corpus (fixed refusals, valid sources and
#      their mutations) and validate all of it with asl-validator;
#   3. psql -f orderflow.sql: validate_definition and create_state_machine
#      on every definition, one session;
#   4. node compare.js: one test per definition and per declared
#      difference; ends with "N passed, M failed".
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SHARED="${1:?usage: run.sh SHARED_DIR WORK_DIR}"
WORK="${2:?usage: run.sh SHARED_DIR WORK_DIR}"
mkdir -p "$WORK"

for tool in node npm psql; do
  command -v "$tool" >/dev/null 2>&1 || { echo "validator: $tool not found"; echo "0 passed, 1 failed"; exit 1; }
done
[ -f "$SHARED/conformance/tasks.sql" ] || { echo "validator: $SHARED/conformance/tasks.sql not found"; echo "0 passed, 1 failed"; exit 1; }
echo "validator: node $(node --version), npm $(npm --version)"

# 1. the oracle, exactly as locked (no audit, no update check, no prompts)
if ! (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error --cache "$WORK/npm-cache" >"$WORK/npm.log" 2>&1); then
  tail -n 30 "$WORK/npm.log"
  echo "validator: npm ci failed"; echo "0 passed, 1 failed"; exit 1
fi

# 2. corpus + oracle verdicts
if ! node "$HERE/oracle.js" --repo "$REPO" --shared "$SHARED" --out "$WORK/corpus.jsonl"; then
  echo "validator: oracle.js failed"; echo "0 passed, 1 failed"; exit 1
fi

# 3. orderflow's verdicts
if ! psql -X -q -v ON_ERROR_STOP=1 -v corpus="$WORK/corpus.jsonl" -v results="$WORK/results.jsonl" \
     -v tasks="$SHARED/conformance/tasks.sql" -f "$HERE/orderflow.sql"; then
  echo "validator: orderflow.sql failed"; echo "0 passed, 1 failed"; exit 1
fi

# 4. the comparison
node "$HERE/compare.js" --corpus "$WORK/corpus.jsonl" --results "$WORK/results.jsonl" --readme "$REPO/README.md"
