#!/usr/bin/env bash
# Debian packages the tests need: Mesa's lavapipe (Vulkan on the CPU) for WebGPU through Dawn,
# and Chromium for the browser tests. Dawn needs a newer Mesa than bookworm's, so the
# bookworm-backports suite is added by copying the machine's own first apt stanza (no registry
# address is written here).
set -euo pipefail
src=/etc/apt/sources.list.d/debian.sources
bp=/etc/apt/sources.list.d/flexattn-backports.sources
if [ "$(id -u)" != 0 ]; then echo "install-system: needs root (apt)"; exit 1; fi
if [ -f "$src" ] && [ ! -f "$bp" ]; then
  awk 'BEGIN{RS=""; ORS="\n\n"} NR==1{print; exit}' "$src" \
    | sed -E 's/^Suites:.*/Suites: bookworm-backports/' > "$bp"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
apt-get install -y -qq chromium >/dev/null
echo "install-system: $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) mesa, $(chromium --version 2>/dev/null)"
