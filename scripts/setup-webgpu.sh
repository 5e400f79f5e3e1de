#!/usr/bin/env bash
# Makes sure this machine has a WebGPU adapter for Node/Deno to find.
#
# Idempotent. On a machine with no GPU, WebGPU runs on Mesa's software Vulkan driver (lavapipe),
# which Dawn accepts only from Mesa 23 on; Debian bookworm ships 22.3, so on bookworm the driver
# comes from bookworm-backports. When this script cannot install (not root, no apt), it prints
# exactly what to install and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

have_adapter() { node scripts/probe-adapter.mjs >/dev/null 2>&1; }

if [ ! -d node_modules/webgpu ]; then
  echo "setup: node_modules/webgpu is missing; run 'npm ci' first" >&2
  exit 1
fi
if have_adapter; then
  echo "setup: a WebGPU adapter is available: $(node scripts/probe-adapter.mjs)"
  exit 0
fi

mesa_major() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+).*/\2/'
}

explain() {
  cat >&2 <<TEXT
setup: no WebGPU adapter was found, and this script cannot install one here ($1).
Install a Vulkan driver that Dawn accepts. Without a GPU that is Mesa's lavapipe, version 23 or newer:
  Debian 12 (bookworm): add the bookworm-backports suite to apt, then
    apt-get install -y libvulkan1 && apt-get install -y -t bookworm-backports mesa-vulkan-drivers
  Debian 13 / Ubuntu 24.04 or newer: apt-get install -y libvulkan1 mesa-vulkan-drivers
With a GPU, install its vendor's Vulkan driver. Then check with: npm run doctor
TEXT
  exit 1
}

[ "$(uname -s)" = Linux ] || explain "not Linux"
command -v apt-get >/dev/null || explain "no apt-get"
[ "$(id -u)" = 0 ] || explain "not root"

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
export DEBIAN_FRONTEND=noninteractive
if [ "$codename" = bookworm ]; then
  src=/etc/apt/sources.list.d/bookworm-backports.sources
  if [ ! -f "$src" ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    uris=$(grep -rhs '^URIs:.*debian$' /etc/apt/sources.list.d/*.sources | head -n 1 | awk '{print $2}')
    [ -n "$uris" ] || uris=http://deb.debian.org/debian
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uris" >"$src"
  fi
  apt-get update -qq
  apt-get install -y -qq libvulkan1
  apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers
else
  apt-get update -qq
  apt-get install -y -qq libvulkan1 mesa-vulkan-drivers
fi

major=$(mesa_major)
if [ -n "$major" ] && [ "$major" -lt 23 ]; then
  explain "Mesa $major is installed, Dawn needs 23 or newer"
fi
if have_adapter; then
  echo "setup: installed Mesa $major; adapter: $(node scripts/probe-adapter.mjs)"
else
  explain "Mesa $major installed but Dawn still finds no adapter"
fi
