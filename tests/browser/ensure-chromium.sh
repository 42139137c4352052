#!/bin/sh
# Installs Debian's chromium for the browser tests, only when it is missing.
# Playwright cannot download its own browser here; the tests drive /usr/bin/chromium.
set -e
if dpkg -s chromium >/dev/null 2>&1 && [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "the browser tests need Debian's chromium: run 'apt-get install chromium' as root" >&2
    exit 1
fi
echo "Installing Debian's chromium for the browser tests"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
