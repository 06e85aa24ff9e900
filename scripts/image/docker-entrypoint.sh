#!/usr/bin/env bash
# docker-entrypoint.sh for the locally built PostgreSQL image (scripts/build-image.sh).
#
# Behaves like the entrypoint of the official `postgres:<version>` image, so that
# the product can run this image exactly as it would run `postgres:15`:
#
#   * a first argument starting with '-' means "postgres <args>";
#   * run as root with the `postgres` command: create PGDATA (0700) and
#     /var/run/postgresql, chown them to postgres, then re-exec as postgres
#     (setpriv from util-linux; no gosu);
#   * environment: POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required
#     unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default POSTGRES_USER),
#     POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR, POSTGRES_HOST_AUTH_METHOD
#     (default: the server's password_encryption, i.e. scram-sha-256); the
#     *_FILE variants of USER, PASSWORD, DB and INITDB_ARGS are honoured;
#   * empty data directory (no PG_VERSION): initdb, allow host connections in
#     pg_hba.conf, listen on '*', start a socket-only temporary server, create
#     POSTGRES_DB, run /docker-entrypoint-initdb.d/* in name order (*.sh,
#     *.sql, *.sql.gz, *.sql.xz, *.sql.zst), stop the temporary server;
#   * finally exec the command with its arguments.
#
# Any failure during initialisation (including a failing init script) makes the
# entrypoint exit non-zero, as the official image does.
set -Eeo pipefail

INITDB_DIR=/docker-entrypoint-initdb.d
SOCKET_DIR=/var/run/postgresql
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

log() { printf '%s: %s\n' "$0" "$*"; }
die() { printf '%s: error: %s\n' "$0" "$*" >&2; exit 1; }

# env_or_file NAME [DEFAULT]: NAME is taken from $NAME, or from the file named by
# $NAME_FILE (Docker secrets), or DEFAULT. Setting both is an error.
env_or_file() {
	local name="$1" default="${2:-}"
	local file_name="${name}_FILE"
	local value="${!name:-}" file="${!file_name:-}"
	if [ -n "$value" ] && [ -n "$file" ]; then
		die "both $name and $file_name are set (but are exclusive)"
	fi
	if [ -n "$file" ]; then
		value="$(< "$file")"
	elif [ -z "$value" ]; then
		value="$default"
	fi
	export "$name=$value"
	unset "$file_name"
}

load_env() {
	env_or_file POSTGRES_PASSWORD
	env_or_file POSTGRES_USER postgres
	env_or_file POSTGRES_DB "$POSTGRES_USER"
	env_or_file POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=}"
	DATABASE_ALREADY_EXISTS=
	if [ -s "$PGDATA/PG_VERSION" ]; then
		DATABASE_ALREADY_EXISTS=true
	fi
}

# Create the directories the server needs; as root also hand them to postgres
# (this is what makes a root-owned bind-mounted data directory work).
prepare_directories() {
	local uid; uid="$(id -u)"

	mkdir -p "$PGDATA"
	# May fail with an arbitrary --user on a foreign directory; postgres will complain then.
	chmod 0700 "$PGDATA" || :

	mkdir -p "$SOCKET_DIR" || :
	chmod 03775 "$SOCKET_DIR" || :

	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR"
		if [ "$uid" = 0 ]; then
			find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres: '{}' +
		fi
		chmod 0700 "$POSTGRES_INITDB_WALDIR"
	fi

	if [ "$uid" = 0 ]; then
		find "$PGDATA" \! -user postgres -exec chown postgres: '{}' +
		find "$SOCKET_DIR" \! -user postgres -exec chown postgres: '{}' +
	fi
}

check_env_for_init() {
	if [ "${#POSTGRES_PASSWORD}" -ge 100 ]; then
		printf >&2 '\nWARNING: POSTGRES_PASSWORD is 100+ characters; psql cannot use it via PGPASSWORD.\n\n'
	fi
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		cat >&2 <<-'EOF'
		Error: Database is uninitialized and superuser password is not specified.
		       You must specify POSTGRES_PASSWORD to a non-empty value for the
		       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

		       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
		       connections without a password. This is *not* recommended.
		EOF
		exit 1
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		cat >&2 <<-'EOF'
		********************************************************************************
		WARNING: POSTGRES_HOST_AUTH_METHOD has been set to "trust". Anyone who can reach
		         the PostgreSQL port can connect without a password, even if
		         POSTGRES_PASSWORD is set.
		********************************************************************************
		EOF
	fi
}

# initdb insists that the current uid has a passwd entry; with an arbitrary
# `--user` use nss_wrapper (libnss-wrapper) to provide one, if installed.
nss_wrapper_on() {
	local uid gid lib
	uid="$(id -u)"
	getent passwd "$uid" > /dev/null 2>&1 && return 0
	for lib in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so /lib/*/libnss_wrapper.so; do
		[ -s "$lib" ] || continue
		gid="$(id -g)"
		NSS_WRAPPER_PASSWD="$(mktemp)"
		NSS_WRAPPER_GROUP="$(mktemp)"
		printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$uid" "$gid" "$PGDATA" > "$NSS_WRAPPER_PASSWD"
		printf 'postgres:x:%s:\n' "$gid" > "$NSS_WRAPPER_GROUP"
		export LD_PRELOAD="$lib" NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
		return 0
	done
}

nss_wrapper_off() {
	if [[ "${LD_PRELOAD:-}" == */libnss_wrapper.so ]]; then
		rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
		unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
	fi
}

run_initdb() {
	nss_wrapper_on
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		set -- --waldir "$POSTGRES_INITDB_WALDIR" "$@"
	fi
	# The password reaches initdb through a pipe (/dev/fd/N), never a command line.
	# printf is a builtin, so it does not show up in the process list either.
	# initdb rejects an empty pwfile, hence the trailing newline.
	# POSTGRES_INITDB_ARGS is evaluated as shell words (quotes allowed), like upstream.
	eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"' "$@"'
	nss_wrapper_off
}

# Arguments: the server command line (used to find the effective password_encryption).
configure_access() {
	if [ "${1:-}" = postgres ]; then shift; fi
	local method
	if [ -z "$POSTGRES_HOST_AUTH_METHOD" ]; then
		method="$(postgres -C password_encryption "$@" 2> /dev/null || :)"
		POSTGRES_HOST_AUTH_METHOD="${method:-scram-sha-256}"
	fi
	{
		printf '\n'
		if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
			printf '# warning: trust is enabled for all connections\n'
		fi
		printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
	} >> "$PGDATA/pg_hba.conf"

	# The image's postgresql.conf.sample already says listen_addresses = '*';
	# make sure of it in case initdb used another sample.
	if ! grep -Eq "^[[:space:]]*listen_addresses[[:space:]]*=[[:space:]]*'\*'" "$PGDATA/postgresql.conf"; then
		printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
	fi
}

# docker_process_sql [psql args...]: run SQL as POSTGRES_USER over the unix socket,
# in POSTGRES_DB. Same name as upstream so that sourced init scripts can use it.
docker_process_sql() {
	local cmd=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	if [ -n "$POSTGRES_DB" ]; then
		cmd+=(--dbname "$POSTGRES_DB")
	fi
	PGHOST= PGHOSTADDR= "${cmd[@]}" "$@"
}

# Arguments: the server command line; extra settings are passed to the temp server.
temp_server_start() {
	if [ "${1:-}" = postgres ]; then shift; fi
	set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
	PGUSER="${PGUSER:-$POSTGRES_USER}" \
		pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
	PGUSER="${PGUSER:-postgres}" \
		pg_ctl -D "$PGDATA" -m fast -w stop
}

create_database() {
	local found
	found="$(POSTGRES_DB= docker_process_sql --dbname postgres --set db="$POSTGRES_DB" --tuples-only \
		<<< "SELECT 1 FROM pg_database WHERE datname = :'db';")"
	if [ -z "$found" ]; then
		POSTGRES_DB= docker_process_sql --dbname postgres --set db="$POSTGRES_DB" \
			<<< 'CREATE DATABASE :"db";'
		printf '\n'
	fi
}

# run_init_files FILE...: executable *.sh are run, other *.sh sourced (so they
# see this script's functions and variables), SQL files go through psql.
run_init_files() {
	# kept for scripts written for the official image, which may use "${psql[@]}"
	psql=(docker_process_sql)
	printf '\n'
	local f
	for f; do
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then
					log "running $f"
					"$f"
				else
					log "sourcing $f"
					. "$f"
				fi
				;;
			*.sql)     log "running $f"; docker_process_sql -f "$f"; printf '\n' ;;
			*.sql.gz)  log "running $f"; gunzip -c "$f" | docker_process_sql; printf '\n' ;;
			*.sql.xz)  log "running $f"; xzcat "$f" | docker_process_sql; printf '\n' ;;
			*.sql.zst) log "running $f"; zstd -dc "$f" | docker_process_sql; printf '\n' ;;
			*)         log "ignoring $f" ;;
		esac
		printf '\n'
	done
}

# true if the arguments ask postgres for help/version only (no setup wanted)
wants_help() {
	local a
	for a; do
		case "$a" in
			-'?'|--help|--describe-config|-V|--version) return 0 ;;
		esac
	done
	return 1
}

main() {
	if [ "${1:0:1}" = '-' ]; then
		set -- postgres "$@"
	fi

	if [ "$1" = postgres ] && ! wants_help "$@"; then
		load_env
		prepare_directories
		if [ "$(id -u)" = 0 ]; then
			# drop root: re-run this script as postgres (environment is kept)
			HOME="$(getent passwd postgres | cut -d: -f6)"
			export HOME="${HOME:-/var/lib/postgresql}"
			exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
		fi

		if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
			check_env_for_init
			# fail early (before initdb) if the init directory is unreadable
			ls "$INITDB_DIR"/ > /dev/null

			run_initdb
			configure_access "$@"

			# psql needs it if POSTGRES_INITDB_ARGS made local connections ask for a password
			export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
			temp_server_start "$@"

			create_database
			run_init_files "$INITDB_DIR"/*

			temp_server_stop
			unset PGPASSWORD

			printf '\nPostgreSQL init process complete; ready for start up.\n\n'
		else
			printf '\nPostgreSQL Database directory appears to contain a database; Skipping initialization\n\n'
		fi
		# The server and every backend would inherit it: the password is needed for initdb only.
		unset POSTGRES_PASSWORD
	fi

	exec "$@"
}

# Only run when executed, so that other scripts may source the functions above.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
