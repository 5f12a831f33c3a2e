#!/bin/sh
# Installs the Debian tools the tests drive as real clients: mbpoll and python3-pymodbus (Modbus
# TCP), psql, curl, and the Prometheus client library whose text-format parser checks
# /api/v1/metrics. Python modules are checked with Debian's /usr/bin/python3, which the tests
# call, not a python3 earlier on PATH.
# Runs before `npm test`. As root it installs what is missing; otherwise it names the command.
set -eu

missing=""
command -v mbpoll >/dev/null 2>&1 || missing="$missing mbpoll"
command -v psql >/dev/null 2>&1 || missing="$missing postgresql-client"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
/usr/bin/python3 -c 'import pymodbus' >/dev/null 2>&1 || missing="$missing python3-pymodbus"
/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || missing="$missing python3-prometheus-client"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "test prerequisites missing:$missing; install them with: sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "installing test prerequisites:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq $missing >/dev/null
