#!/bin/sh
# Installs the Debian packages sidecar needs, only those that are missing.
# Idempotent. `deps.sh` installs what building needs (`make run`); `deps.sh
# deb` adds the packaging tools (`make deb`); `deps.sh test` adds those of
# the test suites and the packaging checks (`make test`); `deps.sh bench`
# adds the peers of bench/compare. Needs root, or
# sudo, only when something is missing.
set -eu

PACKAGES="build-essential pkg-config libev-dev libyaml-dev libcurl4-openssl-dev
libmicrohttpd-dev libjansson-dev libc-ares-dev"
case "${1:-}" in
deb | test)
    PACKAGES="$PACKAGES debhelper fakeroot lintian man-db groff-base"
    ;;
esac
if [ "${1:-}" = test ] || [ "${1:-}" = bench ]; then
    PACKAGES="$PACKAGES libcriterion-dev procps clang-format
python3-prometheus-client valgrind wrk clang libclang-rt-14-dev faketime
redis-server python3-grpcio openssl chromium"
    # chromium: the status page's browser test (test/browser/run) drives
    # Debian's headless chromium with playwright-core from npm.
    # python3-grpcio: the real gRPC server grpc probes are tested against
    # (test/helpers/grpchealth.py); openssl makes its TLS certificate.
    # redis-server (with redis-cli, which it depends on): the README's
    # redis example is stopped for real (test_newuser_stop), on a port and
    # socket of its own; with --supervised systemd it is the real
    # ready: notify helper of test_notify.
    # The Kubernetes manifest check runs on node; any node >= 18 does.
    command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs npm"
    # make image-test: Debian's container engine, unless one is installed
    # (docker-ce conflicts with docker.io), and the base image's maker.
    command -v dockerd >/dev/null 2>&1 || PACKAGES="$PACKAGES docker.io"
    PACKAGES="$PACKAGES debootstrap"
fi
# The peers bench/compare measures sidecar against (`make bench` only).
# runit brings runsvdir, runsv and sv only: its postinst starts nothing
# (runit-init, which would be PID 1, is another package, never installed;
# --no-install-recommends keeps it out). While a runsvdir runs, Debian's
# init scripts ask runit about services it has in /etc/sv: none here.
[ "${1:-}" = bench ] && PACKAGES="$PACKAGES supervisor monit tini runit s6"

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
