#!/usr/bin/env bash
# The browser test drives Debian's Chromium through playwright-core (browsers are never
# downloaded). Installs it from Debian's packages when it is missing and we may.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[sluice] installing Debian's chromium for the browser test" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "[sluice] /usr/bin/chromium is missing and could not be installed: the browser test will fail (apt-get install chromium)" >&2
fi
exit 0
