#!/bin/sh
# Installs the Debian packages sidecar needs to build and test, only those
# that are missing. Idempotent; called by `make deps` (and so by `make run`
# and `make test`). Needs root, or sudo, only when something is missing.
set -eu

PACKAGES="build-essential pkg-config libev-dev libyaml-dev libcurl4-openssl-dev
libmicrohttpd-dev libcriterion-dev libjansson-dev procps clang-format python3-prometheus-client"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps: missing packages:$missing; run as root or install them" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
