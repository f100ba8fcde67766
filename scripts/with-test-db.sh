#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a PostgreSQL server the
# tests may create databases on. Order: an explicit TEST_DATABASE_URL; a
# server already answering on 127.0.0.1:5432; a local Debian cluster we can
# start; otherwise nothing is set and the tests fall back to
# testcontainers-go (Docker) or fail with a message naming both options.
set -euo pipefail
default_url="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  if command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q; then
    export TEST_DATABASE_URL="$default_url"
  elif command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    echo "with-test-db: starting the local PostgreSQL $version cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    for _ in $(seq 1 30); do
      pg_isready -h 127.0.0.1 -p 5432 -q && break
      sleep 1
    done
    if pg_isready -h 127.0.0.1 -p 5432 -q; then
      export TEST_DATABASE_URL="$default_url"
    fi
  fi
fi
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  echo "with-test-db: no local PostgreSQL found; tests will try testcontainers-go (needs Docker)." >&2
  echo "with-test-db: set TEST_DATABASE_URL=postgres://user@host:5432/db to use your own server." >&2
fi
exec "$@"
