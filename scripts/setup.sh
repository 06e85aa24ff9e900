#!/usr/bin/env bash
# Prepares this machine for dbaas, idempotently:
#   1. system packages: docker.io (engine), docker-compose (v1), mmdebstrap (image build), postgresql (psql),
#      systemd (systemd-analyze, which checks the unit of `dbaas service install` in the tests),
#      age (encryption of backups at rest, when DBAAS_BACKUP_KEY_FILE is set), openssl (the local CA)
#   2. a running Docker engine (started in the background when none answers; there is no systemd)
#   3. node modules and the TypeScript build
#   4. the PostgreSQL image for the default version, built from Debian packages when it is absent
# Every step is skipped when its result is already there, so running it twice is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- 1. packages --------------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
dpkg -s postgresql >/dev/null 2>&1 || missing+=(postgresql)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v age >/dev/null 2>&1 || missing+=(age)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
else
  say "system packages present"
fi

# --- 2. engine ----------------------------------------------------------------------------
if docker version >/dev/null 2>&1; then
  say "Docker engine answers"
else
  say "starting dockerd"
  as_root sh -c 'nohup dockerd >/var/log/dbaas-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && break
    sleep 1
  done
  docker version >/dev/null 2>&1 || { echo "dockerd did not come up; see /var/log/dbaas-dockerd.log" >&2; exit 1; }
  say "Docker engine $(docker version --format '{{.Server.Version}}') is up"
fi

# --- 3. node modules and build ------------------------------------------------------------
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing node modules"
  npm ci --no-audit --no-fund >&2
fi
say "building (tsc)"
npm run --silent build >&2

# --- 4. image -----------------------------------------------------------------------------
# `image build` skips an image that exists; it builds the image configured for the version
# (postgres:15 unless DBAAS_IMAGE_15 says otherwise), so `dbaas create` finds it.
bin/dbaas image build --version "${DBAAS_DEFAULT_VERSION:-15}"
say "ready"
