#!/usr/bin/env bash
# Make sure the system packages the seat needs are there: install them when we are root, else say how.
set -euo pipefail
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox)
# headless browser for the web page and admin console tests
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# the balancer in front of several Rasa processes (`make run` with REDIS_URL) and of several nodes (tests/e2e/test_scale_out.py)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ ${#need[@]} -eq 0 ]; then
  echo "seat | system packages present: espeak-ng, sox, chromium, haproxy"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "seat | installing system packages: ${need[*]} ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  exit 0
fi
echo "seat | missing system packages: ${need[*]}" >&2
echo "seat | install them with:  sudo apt-get install -y ${need[*]}" >&2
exit 1
