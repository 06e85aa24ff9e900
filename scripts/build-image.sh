#!/usr/bin/env bash
# Build a PostgreSQL image from Debian packages that honours the contract of the
# official `postgres:<version>` image (same ENV, ENTRYPOINT, CMD, data directory,
# init scripts; see scripts/image/docker-entrypoint.sh), for machines that cannot
# reach a container registry.
#
# usage: scripts/build-image.sh --version 15 --tag postgres:15 [--mirror URI]
#
# The Debian mirror is read at run time from /etc/apt/sources.list.d/debian.sources
# (or the one-line /etc/apt/sources.list) unless --mirror is given.
# Needs: mmdebstrap, a reachable Docker engine, root (or working user namespaces).
# Re-running rebuilds the image and moves the tag; whether to build at all is the
# caller's decision.
set -Eeuo pipefail

# The Debian suite that ships each PostgreSQL major version (one each): all three come from the
# mirror this host's own suite uses. 12, 14 and 16 are in no suite of that mirror.
suite_for() {
	case "$1" in
		13) echo bullseye ;;  # Debian 11
		15) echo bookworm ;;  # Debian 12
		17) echo trixie ;;    # Debian 13
		*) return 1 ;;
	esac
}
PROG="$(basename "$0")"
HERE="$(cd "$(dirname "$0")" && pwd)"
ENTRYPOINT_SRC="$HERE/image/docker-entrypoint.sh"

step() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() {
	cat >&2 <<-EOF
	usage: $PROG --version <major> [--tag <name:tag>] [--mirror <URI>]

	Builds a PostgreSQL <major> image (13, 15 or 17) from the Debian suite that ships
	it (bullseye, bookworm, trixie), with the official postgres image's entrypoint
	contract. --tag defaults to postgres:<major>.
	EOF
}

version= tag= mirror=
while [ $# -gt 0 ]; do
	case "$1" in
		--version) [ $# -ge 2 ] || die "--version needs a value"; version="$2"; shift 2 ;;
		--version=*) version="${1#*=}"; shift ;;
		--tag) [ $# -ge 2 ] || die "--tag needs a value"; tag="$2"; shift 2 ;;
		--tag=*) tag="${1#*=}"; shift ;;
		--mirror) [ $# -ge 2 ] || die "--mirror needs a value"; mirror="$2"; shift 2 ;;
		--mirror=*) mirror="${1#*=}"; shift ;;
		-h|--help) usage; exit 0 ;;
		*) usage; die "unknown argument: $1" ;;
	esac
done

[ -n "$version" ] || { usage; die "--version is required"; }
SUITE="$(suite_for "$version")" || die "PostgreSQL $version cannot be built here: of the Debian suites, bullseye ships 13, bookworm 15 and trixie 17. Use the official postgres:$version image (needs a registry) or configure an image for version $version."
# The mirror is looked up by this host's own suite (the sources list names no other).
HOST_SUITE="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
: "${HOST_SUITE:=$SUITE}"
: "${tag:=postgres:$version}"

# --- mirror ------------------------------------------------------------------

# First URI of the deb822 stanza (Types: deb) whose Suites contain exactly $HOST_SUITE.
mirror_from_deb822() {
	awk -v suite="$HOST_SUITE" '
		function has_word(list, w,    n, i, a) {
			n = split(list, a, /[ \t]+/)
			for (i = 1; i <= n; i++) if (a[i] == w) return 1
			return 0
		}
		BEGIN { RS = ""; FS = "\n" }
		{
			delete f; key = ""
			for (i = 1; i <= NF; i++) {
				line = $i
				if (line ~ /^#/) continue
				if (line ~ /^[ \t]/) { if (key != "") f[key] = f[key] " " line; continue }
				p = index(line, ":"); if (p == 0) continue
				key = tolower(substr(line, 1, p - 1))
				f[key] = substr(line, p + 1)
			}
			if (tolower(f["enabled"]) ~ /no/) next
			if (!has_word(f["types"], "deb")) next
			if (!has_word(f["suites"], suite)) next
			n = split(f["uris"], u, /[ \t]+/)
			for (i = 1; i <= n; i++) if (u[i] != "") { print u[i]; exit }
		}' "$1"
}

# URI of the first "deb [options] URI $HOST_SUITE ..." line.
mirror_from_list() {
	awk -v suite="$HOST_SUITE" '
		/^[ \t]*#/ || $1 != "deb" { next }
		{
			i = 2
			if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == suite) { print $i; exit }
		}' "$1"
}

if [ -z "$mirror" ]; then
	for src in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		[ -r "$src" ] || continue
		case "$src" in
			*.sources) mirror="$(mirror_from_deb822 "$src")" ;;
			*) mirror="$(mirror_from_list "$src")" ;;
		esac
		if [ -n "$mirror" ]; then
			step "using Debian mirror $mirror (from $src)"
			break
		fi
	done
	[ -n "$mirror" ] || die "no Debian mirror for suite '$HOST_SUITE' found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; pass --mirror URI"
else
	step "using Debian mirror $mirror (from --mirror)"
fi

# --- prerequisites -------------------------------------------------------------

command -v mmdebstrap > /dev/null || die "mmdebstrap is not installed (apt-get install -y mmdebstrap)"
command -v docker > /dev/null || die "the docker client is not installed"
docker version > /dev/null 2>&1 || die "cannot reach the Docker engine (is dockerd running?)"
[ -r "$ENTRYPOINT_SRC" ] || die "entrypoint not found: $ENTRYPOINT_SRC"
bash -n "$ENTRYPOINT_SRC" || die "syntax error in $ENTRYPOINT_SRC"

work="$(mktemp -d "${TMPDIR:-/tmp}/dbaas-build-image.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- hooks ---------------------------------------------------------------------

# Runs after the Essential packages, before the others: give postgres the fixed
# uid/gid 999 of the official image (postgresql-common's postinst keeps an
# existing system user), and stop postgresql-common from creating a "main" cluster.
cat > "$work/essential-hook.sh" <<'EOF'
#!/bin/sh
set -eu
root="$1"
grep -q '^postgres:' "$root/etc/group" || echo 'postgres:x:999:' >> "$root/etc/group"
grep -q '^postgres:' "$root/etc/passwd" ||
	echo 'postgres:x:999:999:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash' >> "$root/etc/passwd"
if [ -e "$root/etc/shadow" ] && ! grep -q '^postgres:' "$root/etc/shadow"; then
	echo 'postgres:*:19000:0:99999:7:::' >> "$root/etc/shadow"
fi
if [ -e "$root/etc/gshadow" ] && ! grep -q '^postgres:' "$root/etc/gshadow"; then
	echo 'postgres:!::' >> "$root/etc/gshadow"
fi
mkdir -p "$root/etc/postgresql-common/createcluster.d"
echo 'create_main_cluster = false' > "$root/etc/postgresql-common/createcluster.d/00-docker-no-main-cluster.conf"
EOF

# Runs at the end, after the entrypoint has been uploaded.
cat > "$work/customize-hook.sh" <<EOF
#!/bin/sh
set -eu
root="\$1"
major="$version"
out="$work"
EOF
cat >> "$work/customize-hook.sh" <<'EOF'
in_root() { chroot "$root" "$@"; }

chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"

# The image must start empty: no Debian cluster (normally none was created).
rm -rf "$root/etc/postgresql/$major/main" "$root/var/lib/postgresql/$major"
rm -rf "$root/var/log/postgresql/"*

# Like the official image: listen on all addresses by default.
sample="$root/usr/share/postgresql/$major/postgresql.conf.sample"
sed -ri "s!^#?(listen_addresses)[[:space:]]*=[[:space:]]*[^[:space:]]+.*!\1 = '*'!" "$sample"
grep -q "^listen_addresses = '\*'" "$sample"

# Directories of the official image (mode 1777 on PGDATA is reduced to 0700 at run time).
mkdir -p "$root/docker-entrypoint-initdb.d"
in_root install -d -o postgres -g postgres -m 1777 /var/lib/postgresql
in_root install -d -o postgres -g postgres -m 1777 /var/lib/postgresql/data
in_root install -d -o postgres -g postgres -m 3777 /var/run/postgresql
in_root chown postgres:postgres /var/run/postgresql
in_root chmod 3777 /var/run/postgresql
# /var/run is /run; mmdebstrap's own /run cleanup is skipped (it would delete the
# socket directory), so remove the other leftovers here.
find "$root/run" -mindepth 1 -maxdepth 1 ! -name lock ! -name postgresql -exec rm -rf '{}' +

# Sanity checks, and the package version for ENV PG_VERSION.
in_root id postgres
in_root test -x "/usr/lib/postgresql/$major/bin/postgres"
in_root "/usr/lib/postgresql/$major/bin/postgres" --version
in_root dpkg-query -W -f='${Version}' "postgresql-$major" > "$out/pg_version"

# Size: no apt lists/caches, docs (copyright files are kept), logs.
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"* "$root/var/cache/debconf/"*-old
rm -rf "$root/usr/share/man/"* "$root/usr/share/info/"* "$root/usr/share/lintian" "$root/usr/share/linda"
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2> /dev/null || :
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2> /dev/null || :
rm -f "$root/var/log/"*.log "$root/var/log/apt/"* "$root/var/cache/ldconfig/aux-cache"
find "$root/usr" -name '*.pyc' -type f -delete 2> /dev/null || :
EOF
chmod 0755 "$work/essential-hook.sh" "$work/customize-hook.sh"
# mmdebstrap's "upload" hook splits its arguments on spaces: upload from $work.
cp "$ENTRYPOINT_SRC" "$work/docker-entrypoint.sh"

# --- root file system ------------------------------------------------------------

packages="postgresql-$version,procps,xz-utils,zstd,libnss-wrapper"
step "building a $SUITE root file system with $packages (mmdebstrap)"
start=$SECONDS
mmdebstrap \
	--variant=minbase \
	--include="$packages" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--skip=cleanup/run \
	--essential-hook="$work/essential-hook.sh" \
	--customize-hook="upload $work/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" \
	--customize-hook="$work/customize-hook.sh" \
	"$SUITE" "$work/rootfs.tar" "$mirror" \
	|| die "mmdebstrap failed (see its output above)"
[ -s "$work/rootfs.tar" ] || die "mmdebstrap produced no root file system"
pg_version="$(cat "$work/pg_version" 2> /dev/null || :)"
[ -n "$pg_version" ] || die "could not determine the installed postgresql-$version version"
step "root file system ready in $((SECONDS - start)) s ($(du -h "$work/rootfs.tar" | cut -f1), postgresql-$version $pg_version)"

# --- image -------------------------------------------------------------------------

old_id="$(docker image inspect -f '{{.Id}}' "$tag" 2> /dev/null || :)"
step "importing as $tag (docker import)"
# docker import accepts no STOPSIGNAL (the official image's SIGINT): callers set
# the stop signal themselves. No VOLUME either: the data directory is bind-mounted.
new_id="$(docker import \
	-m "PostgreSQL $version from Debian $SUITE ($pg_version), built by $PROG" \
	-c "ENV PATH=/usr/lib/postgresql/$version/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	-c "ENV PG_MAJOR=$version" \
	-c "ENV PG_VERSION=$pg_version" \
	-c "ENV PGDATA=/var/lib/postgresql/data" \
	-c "ENV LANG=C.UTF-8" \
	-c "LABEL org.opencontainers.image.description=\"PostgreSQL $version from Debian $SUITE\"" \
	-c "ENTRYPOINT [\"docker-entrypoint.sh\"]" \
	-c "CMD [\"postgres\"]" \
	-c "EXPOSE 5432" \
	"$work/rootfs.tar" "$tag")" || die "docker import failed"

# The previous image of this tag is now untagged: drop it unless still used
# (docker rmi without -f refuses images used by containers or other tags).
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
	docker rmi "$old_id" > /dev/null 2>&1 || :
fi

step "checking the image"
docker run --rm --entrypoint postgres "$tag" --version > /dev/null 2>&1 \
	|| die "the imported image cannot run postgres --version"

size="$(docker image inspect -f '{{.Size}}' "$tag")"
step "built $tag ($new_id, $((size / 1024 / 1024)) MB, postgresql-$version $pg_version) in $((SECONDS)) s"
