#!/bin/bash
# The dbaas monitoring agent: one for all instances, run in a sidecar container beside each
# instance (same image, shared network namespace, tiny limits; see docs/monitoring.md).
#
# Every DBAAS_INTERVAL seconds it runs sample.sql with psql as the read-only dbaas_monitor role
# and appends the JSON line to /metrics/metrics.ndjson. A sample that fails (server down,
# timeout, refused login) appends {"up": false, "error": ...} instead, and the agent goes on.
# The file rotates at DBAAS_MAX_BYTES, keeping DBAAS_KEEP_FILES old files (.1 newest).
# /metrics/agent-state.json tells the manager how the agent is doing (written atomically).
#
# Connection settings come from the libpq environment: PGHOST, PGPORT, PGUSER, PGDATABASE,
# PGPASSWORD, PGAPPNAME, PGCONNECT_TIMEOUT, PGOPTIONS (statement_timeout).
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT_DIR="${DBAAS_METRICS_DIR:-/metrics}"
OUT="$OUT_DIR/metrics.ndjson"
STATE="$OUT_DIR/agent-state.json"
INTERVAL="${DBAAS_INTERVAL:-10}"
MAX_BYTES="${DBAAS_MAX_BYTES:-10485760}"
KEEP="${DBAAS_KEEP_FILES:-3}"
INSTANCE="${DBAAS_INSTANCE:?DBAAS_INSTANCE is required}"
ERR_FILE="$(mktemp)"

now_iso() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
now_ms() { date +%s%3N; }

# A JSON string literal: backslashes and quotes escaped, control characters made blanks.
json_str() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="$(printf '%s' "$s" | tr '\000-\037' ' ')"
  printf '"%s"' "$s"
}

rotate_if_full() {
  local size
  size=$(stat -c %s "$OUT" 2>/dev/null || echo 0)
  [ "$size" -ge "$MAX_BYTES" ] || return 0
  rm -f "$OUT.$KEEP"
  local i
  for ((i = KEEP - 1; i >= 1; i--)); do
    [ -f "$OUT.$i" ] && mv -f "$OUT.$i" "$OUT.$((i + 1))"
  done
  mv -f "$OUT" "$OUT.1"
  echo "$(now_iso) rotated $OUT at $size bytes"
}

STARTED_AT="$(now_iso)"
samples=0
failures=0
last_sample_at=null
last_ok_at=null
last_error=null

write_state() {
  printf '{"started_at":"%s","pid":%d,"interval_seconds":%s,"samples":%d,"failures":%d,"last_sample_at":%s,"last_ok_at":%s,"last_error":%s}\n' \
    "$STARTED_AT" "$$" "$INTERVAL" "$samples" "$failures" "$last_sample_at" "$last_ok_at" "$last_error" >"$STATE.tmp" &&
    mv -f "$STATE.tmp" "$STATE"
}

stopping=0
trap 'stopping=1; [ -n "${sleeper:-}" ] && kill "$sleeper" 2>/dev/null' TERM INT

echo "$(now_iso) dbaas agent for $INSTANCE: every ${INTERVAL}s as ${PGUSER:-?}@${PGHOST:-?}:${PGPORT:-?}/${PGDATABASE:-?}, rotating at $MAX_BYTES bytes, keeping $KEEP"
write_state
while [ "$stopping" -eq 0 ]; do
  rotate_if_full
  if line=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -v instance="$INSTANCE" -f "$HERE/sample.sql" 2>"$ERR_FILE") && [ -n "$line" ]; then
    printf '%s\n' "$line" >>"$OUT"
    last_ok_at="\"$(now_iso)\""
    last_sample_at="$last_ok_at"
    last_error=null
  else
    message="$(head -c 400 "$ERR_FILE")"
    [ -n "$message" ] || message="psql returned no sample"
    ts="$(now_iso)"
    printf '{"ts":"%s","ts_ms":%s,"instance":%s,"up":false,"error":%s}\n' \
      "$ts" "$(now_ms)" "$(json_str "$INSTANCE")" "$(json_str "$message")" >>"$OUT"
    failures=$((failures + 1))
    last_sample_at="\"$ts\""
    last_error="$(json_str "$message")"
    echo "$ts sample failed: $message"
  fi
  samples=$((samples + 1))
  write_state
  sleep "$INTERVAL" &
  sleeper=$!
  wait "$sleeper" 2>/dev/null
  sleeper=
done
echo "$(now_iso) dbaas agent for $INSTANCE stopping after $samples samples"
rm -f "$ERR_FILE"
