/**
 * The upgrade itself, run as root in a one-off container of the upgrade image (the target
 * image with the source version's binaries beside its own, see image.ts). The instance's folder
 * is mounted whole at INSTANCE_MOUNT: pg_upgrade --link makes hard links from data/ into the new
 * folder, and a hard link cannot cross two bind mounts even of one file system (EXDEV).
 *
 * It builds the new cluster in `data.upgrading/` and leaves `data/` a valid old cluster: pg_upgrade
 * --link adds hard links to its files and renames global/pg_control to pg_control.old (so that
 * the old server cannot start on files a new one may change), and the dump method runs the old
 * server on it, which writes no more than a shutdown checkpoint. The
 * caller swaps the folders afterwards. It ends its output with "dbaas-wal-start <segment>" (the
 * new cluster's first WAL segment) and "dbaas-upgraded"; a failure ends with "dbaas: <reason>".
 *
 * The dump method runs both servers privately (no TCP, a socket folder of the container's own),
 * dumps with the target's pg_dump (the newer tools read older servers, never the reverse) and
 * restores with durability off (fsync, full-page writes): a crash there loses only the new
 * folder, which a retry rebuilds; the finished folder is synced to disk before it is used.
 */

export const INSTANCE_MOUNT = '/dbaas-instance';
export const NEW_DATA_NAME = 'data.upgrading';

export const UPGRADE_SCRIPT = `set -euo pipefail
method=$1 old=$2 new=$3 encoding=$4 collate=$5 ctype=$6 checksums=$7
I=${INSTANCE_MOUNT}
OLD_DATA=$I/data NEW_DATA=$I/${NEW_DATA_NAME}
OLDBIN=/usr/lib/postgresql/$old/bin NEWBIN=/usr/lib/postgresql/$new/bin
as_pg() { runuser -u postgres -- "$@"; }
work=$(mktemp -d); chown postgres "$work"; chmod 700 "$work"; cd "$work"
fail() {
  # The logs first and the reason last: the caller keeps only the last lines of the output.
  for f in "$work"/*.log "$work"/*.txt "$NEW_DATA"/pg_upgrade_output.d/*/*.txt "$NEW_DATA"/pg_upgrade_output.d/*/log/*.log; do
    [ -s "$f" ] || continue
    echo "--- $(basename "$f")" >&2; tail -n 8 "$f" >&2
  done
  echo "dbaas: $1" >&2
  exit 3
}
trap 'fail "line $LINENO failed"' ERR

[ -f "$OLD_DATA/PG_VERSION" ] || fail "no cluster in data/"
[ "$(cat "$OLD_DATA/PG_VERSION")" = "$old" ] || fail "data/ holds PostgreSQL $(cat "$OLD_DATA/PG_VERSION"), not $old"
# What the new cluster continues from (read before pg_upgrade --link renames the control file).
ctl() { "$1/pg_controldata" "$2" | sed -n "s/^$3: *//p"; }
[ "$(ctl "$OLDBIN" "$OLD_DATA" 'Database cluster state')" = "shut down" ] || fail "data/ was not shut down cleanly"
old_redo=$(ctl "$OLDBIN" "$OLD_DATA" "Latest checkpoint's REDO WAL file")
old_tli=$(ctl "$OLDBIN" "$OLD_DATA" "Latest checkpoint's TimeLineID")
segsize=$(ctl "$OLDBIN" "$OLD_DATA" 'Bytes per WAL segment')
rm -rf "$NEW_DATA"
install -d -o postgres -g postgres -m 700 "$NEW_DATA"

args=(--username=postgres --encoding="$encoding" --lc-collate="$collate" --lc-ctype="$ctype" --auth-local=peer --auth-host=scram-sha-256)
[ "$checksums" = on ] && args+=(--data-checksums)
as_pg "$NEWBIN/initdb" -D "$NEW_DATA" "\${args[@]}" > "$work/initdb.log" 2>&1 || fail "initdb of the new cluster failed"

if [ "$method" = link ]; then
  # pg_upgrade checks both clusters before it changes anything (what --check does, then stops);
  # a failure before "Performing Upgrade" left the old cluster as it was.
  if ! as_pg "$NEWBIN/pg_upgrade" -b "$OLDBIN" -B "$NEWBIN" -d "$OLD_DATA" -D "$NEW_DATA" -U postgres --link \
      -o "-c jit=off -c archive_mode=off" -O "-c archive_mode=off" > "$work/upgrade.txt" 2>&1; then
    grep -q '^Performing Upgrade' "$work/upgrade.txt" && fail "pg_upgrade failed"
    fail "pg_upgrade --check refused the upgrade: $(grep -m 1 -i -B 0 'fatal' "$work/upgrade.txt" | tr -s ' ')"
  fi
else
  sock=$(mktemp -d); chown postgres "$sock"
  as_pg "$OLDBIN/pg_ctl" -D "$OLD_DATA" -w -t 300 -l "$work/old.log" \\
    -o "-c listen_addresses= -c port=50432 -c unix_socket_directories=$sock -c archive_mode=off -c jit=off" start > /dev/null || fail "the old server did not start"
  as_pg "$NEWBIN/pg_ctl" -D "$NEW_DATA" -w -t 300 -l "$work/new.log" \\
    -o "-c listen_addresses= -c port=50433 -c unix_socket_directories=$sock -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c autovacuum=off -c maintenance_work_mem=256MB" start > /dev/null || fail "the new server did not start"
  stop_servers() {
    as_pg "$NEWBIN/pg_ctl" -D "$NEW_DATA" -m fast -w stop > /dev/null 2>&1 || true
    as_pg "$OLDBIN/pg_ctl" -D "$OLD_DATA" -m fast -w stop > /dev/null 2>&1 || true
  }
  trap 'stop_servers; fail "line $LINENO failed"' ERR
  from=(-h "$sock" -p 50432 -U postgres) to=(-h "$sock" -p 50433 -U postgres)
  as_pg "$NEWBIN/pg_dumpall" "\${from[@]}" --globals-only > "$work/globals.sql"
  # The bootstrap superuser exists in the new cluster already (its CREATE would fail; its ALTER stays).
  grep -v -x 'CREATE ROLE postgres;' "$work/globals.sql" | as_pg "$NEWBIN/psql" -X -q -v ON_ERROR_STOP=1 "\${to[@]}" -d postgres -f - > /dev/null
  as_pg "$NEWBIN/psql" -X -q -v ON_ERROR_STOP=1 "\${to[@]}" -d template1 -c 'DROP DATABASE postgres'
  as_pg "$NEWBIN/psql" -X -At -0 "\${from[@]}" -d postgres \\
    -c "SELECT datname FROM pg_database WHERE datallowconn AND datname <> 'template0' ORDER BY datname = 'template1' DESC, datname" > "$work/databases"
  while IFS= read -r -d '' db; do
    # By environment, never as -d: a name with "=" in it would be read as a connection string.
    if [ "$db" = template1 ]; then
      PGDATABASE=template1 as_pg "$NEWBIN/pg_dump" "\${from[@]}" -Fc | as_pg "$NEWBIN/pg_restore" "\${to[@]}" --exit-on-error -d template1
    else
      PGDATABASE="$db" as_pg "$NEWBIN/pg_dump" "\${from[@]}" -Fc --create | as_pg "$NEWBIN/pg_restore" "\${to[@]}" --exit-on-error --create -d template1
    fi
  done < "$work/databases"
  stop_servers
  trap 'fail "line $LINENO failed"' ERR
fi
# The new cluster's WAL continues the old one's names: its timeline (pg_upgrade would start at 1,
# and initdb at segment 1), from the segment after both clusters' last. The WAL archive then
# never holds two different files of one name, and restores follow one timeline through both.
per=$(( 0x100000000 / segsize ))
segno() { echo $(( 16#\${1:8:8} * per + 16#\${1:16:8} )); }
new_redo=$(ctl "$NEWBIN" "$NEW_DATA" "Latest checkpoint's REDO WAL file")
a=$(segno "$old_redo") b=$(segno "$new_redo")
next=$(( (a > b ? a : b) + 1 ))
start=$(printf '%08X%08X%08X' "$old_tli" $(( next / per )) $(( next % per )))
as_pg "$NEWBIN/pg_resetwal" -l "$start" "$NEW_DATA" > /dev/null
echo "dbaas-wal-start $start"
# Settings made with ALTER SYSTEM go with the data (postgresql.conf is the image's sample).
if [ -f "$OLD_DATA/postgresql.auto.conf" ]; then
  cp "$OLD_DATA/postgresql.auto.conf" "$NEW_DATA/postgresql.auto.conf"
  chown postgres:postgres "$NEW_DATA/postgresql.auto.conf"; chmod 600 "$NEW_DATA/postgresql.auto.conf"
fi
rm -rf "$NEW_DATA/pg_upgrade_output.d"
# Everything written with fsync off (the dump method), or by pg_resetwal, reaches the disk now.
as_pg "$NEWBIN/initdb" --sync-only -D "$NEW_DATA" > /dev/null
echo dbaas-upgraded
`;
