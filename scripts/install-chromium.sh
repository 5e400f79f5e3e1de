#!/usr/bin/env bash
# Makes sure /usr/bin/chromium exists: the browser tests (test/web) drive it through playwright-core
# to run the page and the kernel checks in a real browser's WebGPU.
#
# Idempotent. Debian's own package is used because nothing can download a Playwright browser
# here. (Without a GPU, Chromium runs WebGPU on its bundled SwiftShader adapter: it does not take
# lavapipe, which lacks an extension Chromium's compositor needs.) When this script cannot install
# (not root, no apt), it prints what to install and exits non-zero.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "install-chromium: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium) is installed"
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  cat >&2 <<'TEXT'
install-chromium: /usr/bin/chromium is missing and this script cannot install it here (needs root and apt-get).
Install Debian's chromium package:  apt-get install -y chromium
(The browser tests in test/web need it, started with --enable-unsafe-webgpu.)
TEXT
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium
echo "install-chromium: installed $(/usr/bin/chromium --version 2>/dev/null)"
