#!/bin/bash
# The dbaas monitoring agent: one for all instances, run in a sidecar container beside each
# instance (same image, shared network namespace, tiny limits; see docs/monitoring.md).
#
# Every DBAAS_INTERVAL seconds it runs sample.sql in psql as the read-only dbaas_monitor role and
# appends the JSON line to /metrics/metrics.ndjson. One psql session (a bash coprocess) serves
# every sample, so a sample costs a query, not a process start and a SCRAM login. A sample that
# fails (server down, timeout, refused login) appends {"up": false, "error": ...} instead, the
# session is dropped and the next sample opens a new one; the agent goes on.
# The file rotates at DBAAS_MAX_BYTES, keeping DBAAS_KEEP_FILES old files (.1 newest).
# /metrics/agent-state.json tells the manager how the agent is doing (written atomically). It also
# holds the count of the server's crash recoveries, which must outlive the agent and the rotation
# of the metrics files: the agent reads it back when it starts (see sample.sql for the counting).
#
# Connection settings come from the libpq environment: PGHOST, PGPORT, PGUSER, PGDATABASE,
# PGPASSWORD, PGAPPNAME, PGCONNECT_TIMEOUT, PGOPTIONS (statement_timeout).
set -u
# The whole script is one compound command, parsed before it runs: bash reads scripts as it goes,
# and an agent must not trip over a newer agent.sh installed while it runs.
{
# Byte semantics for ${#var} (the file size is tracked in bytes), UTC for timestamps.
export LC_ALL=C TZ=UTC

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT_DIR="${DBAAS_METRICS_DIR:-/metrics}"
OUT="$OUT_DIR/metrics.ndjson"
STATE="$OUT_DIR/agent-state.json"
INTERVAL="${DBAAS_INTERVAL:-10}"
MAX_BYTES="${DBAAS_MAX_BYTES:-10485760}"
KEEP="${DBAAS_KEEP_FILES:-3}"
INSTANCE="${DBAAS_INSTANCE:?DBAAS_INSTANCE is required}"
# A sample that takes longer than this has failed (the server's statement_timeout is shorter).
SAMPLE_TIMEOUT="${DBAAS_SAMPLE_TIMEOUT:-15}"
MARK="__dbaas_sample_end_$$__"

# Time from bash itself ($EPOCHREALTIME, printf %()T): a sample forks as few processes as it can.
# set_now sets NOW_ISO (2026-11-23T03:19:40.723Z) and NOW_MS (epoch milliseconds).
set_now() {
  local t="$EPOCHREALTIME"
  local seconds="${t%.*}" micros="${t#*.}"
  local millis="${micros:0:3}"
  printf -v NOW_ISO '%(%Y-%m-%dT%H:%M:%S)T.%sZ' "$seconds" "$millis"
  NOW_MS="$seconds$millis"
}
now_iso() {
  set_now
  printf '%s' "$NOW_ISO"
}

# A JSON string literal: backslashes and quotes escaped, control characters made blanks.
json_str() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="$(printf '%s' "$s" | tr '\000-\037' ' ')"
  printf '"%s"' "$s"
}

# The size of the current file, read once at start and then counted as lines are appended.
OUT_BYTES=$(stat -c %s "$OUT" 2>/dev/null || echo 0)
append() {
  printf '%s\n' "$1" >>"$OUT"
  OUT_BYTES=$((OUT_BYTES + ${#1} + 1))
}

rotate_if_full() {
  local size="$OUT_BYTES"
  [ "$size" -ge "$MAX_BYTES" ] || return 0
  rm -f "$OUT.$KEEP"
  local i
  for ((i = KEEP - 1; i >= 1; i--)); do
    [ -f "$OUT.$i" ] && mv -f "$OUT.$i" "$OUT.$((i + 1))"
  done
  mv -f "$OUT" "$OUT.1"
  OUT_BYTES=0
  echo "$(now_iso) rotated $OUT at $size bytes"
}

STARTED_AT="$(now_iso)"
samples=0
failures=0
last_sample_at=null
last_ok_at=null
last_error=null

# The crash-recovery count (JSON tokens: a number, a string or null). sample.sql decides; the agent
# hands it what was counted before and keeps what it answers.
crash_total=0
crash_last=null
discard_seen=null
# Reads those fields from JSON text (a sample, or the state file of an earlier agent). The server
# object comes first in a sample, so its fields are the first match. Only digits and ISO times
# are taken, and at most 15 digits, so a damaged file can neither break the psql \set lines nor
# overflow the bigint the sample adds to.
read_recoveries() {
  local text="$1" sep='[[:space:]]*:[[:space:]]*' str='("[0-9T:.Z-]*"|null)'
  [[ $text =~ \"crash_recoveries_total\"$sep([0-9]{1,15})[^0-9] ]] && crash_total="${BASH_REMATCH[1]}"
  [[ $text =~ \"last_crash_recovery_at\"$sep$str ]] && crash_last="${BASH_REMATCH[1]}"
  [[ $text =~ \"stats_discarded_at\"$sep$str ]] && discard_seen="${BASH_REMATCH[1]}"
  return 0
}
# Sets REPLY to a JSON token as a psql \set argument: null is '', a string loses its quotes.
psql_arg() {
  local v="${1//\"/}"
  [ "$1" = null ] && v=
  printf -v REPLY "'%s'" "$v"
}
[ -f "$STATE" ] && read_recoveries "$(<"$STATE")"

write_state() {
  printf '{"started_at":"%s","pid":%d,"interval_seconds":%s,"samples":%d,"failures":%d,"last_sample_at":%s,"last_ok_at":%s,"last_error":%s,"crash_recoveries_total":%s,"last_crash_recovery_at":%s,"stats_discarded_at":%s}\n' \
    "$STARTED_AT" "$$" "$INTERVAL" "$samples" "$failures" "$last_sample_at" "$last_ok_at" "$last_error" \
    "$crash_total" "$crash_last" "$discard_seen" >"$STATE.tmp" &&
    mv -f "$STATE.tmp" "$STATE"
}

# The psql session: started on demand, dropped after any failure. bash closes and unsets a
# coprocess's own descriptors when it reaps it, so the agent works on duplicates it owns, and
# ignores SIGPIPE so that writing to a session that died is an error it handles, not its end.
trap '' PIPE
SESSION_PID=
start_session() {
  coproc PSQL { exec psql -X -A -t -q -v instance="$INSTANCE" 2>&1; }
  SESSION_PID=$PSQL_PID
  exec {SESSION_OUT}<&"${PSQL[0]}" {SESSION_IN}>&"${PSQL[1]}"
}
drop_session() {
  [ -n "$SESSION_PID" ] || return 0
  exec {SESSION_OUT}<&- {SESSION_IN}>&-
  kill "$SESSION_PID" 2>/dev/null
  wait "$SESSION_PID" 2>/dev/null
  SESSION_PID=
}

# Runs one sample; on success SAMPLE holds the JSON line, else ERROR holds why.
take_sample() {
  SAMPLE=
  ERROR=
  [ -n "$SESSION_PID" ] || start_session
  local last seen
  psql_arg "$crash_last"; last="$REPLY"
  psql_arg "$discard_seen"; seen="$REPLY"
  if ! printf '\\set crash_recoveries_total %s\n\\set last_crash_recovery_at %s\n\\set stats_discarded_seen %s\n\\i %s\n\\echo %s\n' \
    "'$crash_total'" "$last" "$seen" "$HERE/sample.sql" "$MARK" >&"$SESSION_IN" 2>/dev/null; then
    ERROR="the psql session ended"
  else
    local out="" line ended=0
    while IFS= read -r -t "$SAMPLE_TIMEOUT" line <&"$SESSION_OUT"; do
      if [ "$line" = "$MARK" ]; then ended=1; break; fi
      out+="$line"$'\n'
    done
    # A good answer is exactly one line holding one JSON object.
    if [ "$ended" -eq 1 ] && [ "${out:0:1}" = "{" ] && [[ "$out" != *$'\n'*$'\n'* ]]; then
      SAMPLE="${out%$'\n'}"
      return 0
    fi
    ERROR="${out:-no answer within ${SAMPLE_TIMEOUT}s}"
  fi
  ERROR="${ERROR:0:400}"
  drop_session
  return 1
}

# Waiting between samples is `wait` on a sleep in the background: a trapped TERM ends `wait` at
# once. (A `read -t` on a pipe nobody writes to, used before, is restarted by bash 5.2 after the
# trap runs, so every stop of an instance waited out the agent's interval: 7 s of a 9 s stop.)
pause() {
  sleep "$1" &
  PAUSE_PID=$!
  wait "$PAUSE_PID" 2>/dev/null
  kill "$PAUSE_PID" 2>/dev/null
  return 0
}
stopping=0
trap 'stopping=1' TERM INT

echo "$(now_iso) dbaas agent for $INSTANCE: every ${INTERVAL}s as ${PGUSER:-?}@${PGHOST:-?}:${PGPORT:-?}/${PGDATABASE:-?}, rotating at $MAX_BYTES bytes, keeping $KEEP"
write_state
# The agent starts together with its server, before that accepts logins (a create starts both at
# once, and sets the agent's password a moment later). Until its first good sample, for at most
# GRACE seconds, a failure is the server not ready yet: tried again each second, not written
# down (it would read as downtime of an instance that was still being made).
GRACE="${DBAAS_START_GRACE:-60}"
grace_until=$((SECONDS + GRACE))
ever_ok=0
while [ "$stopping" -eq 0 ]; do
  rotate_if_full
  if take_sample; then
    ever_ok=1
    append "$SAMPLE"
    counted="$crash_total"
    read_recoveries "$SAMPLE"
    [ "$crash_total" != "$counted" ] && echo "$(now_iso) the server went through crash recovery (statistics discarded at ${crash_last//\"/}): $crash_total so far"
    set_now
    last_ok_at="\"$NOW_ISO\""
    last_sample_at="$last_ok_at"
    last_error=null
  elif [ "$stopping" -eq 1 ]; then
    break # the stop interrupted this sample: not a failure of the server
  elif [ "$ever_ok" -eq 0 ] && [ "$SECONDS" -lt "$grace_until" ]; then
    pause 1
    continue
  else
    set_now
    last_error="$(json_str "$ERROR")"
    append "{\"ts\":\"$NOW_ISO\",\"ts_ms\":$NOW_MS,\"instance\":$(json_str "$INSTANCE"),\"up\":false,\"error\":$last_error}"
    failures=$((failures + 1))
    last_sample_at="\"$NOW_ISO\""
    echo "$NOW_ISO sample failed: $ERROR"
  fi
  samples=$((samples + 1))
  write_state
  [ "$stopping" -eq 0 ] && pause "$INTERVAL"
done
drop_session
echo "$(now_iso) dbaas agent for $INSTANCE stopping after $samples samples"
exit 0
}
