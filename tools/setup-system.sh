#!/usr/bin/env bash
# Optional system packages for the full test suite on Debian 12 (bookworm):
#  - Mesa's Vulkan software driver (lavapipe) from bookworm-backports, so the WebGPU (Dawn) path runs for real
#    without a GPU (Debian 12's stock Mesa 22.3 lavapipe is rejected by Dawn);
#  - Chromium, to check that training reports render in a real browser.
# Without them those tests skip and say why. Needs root (or sudo). Safe to run twice.
set -uo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else echo "setup-system: not root and no sudo; skipping apt packages" >&2; exit 0; fi
fi
if ! command -v apt-get >/dev/null 2>&1; then echo "setup-system: no apt-get; skipping" >&2; exit 0; fi
export DEBIAN_FRONTEND=noninteractive
src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ] && ! grep -q bookworm-backports "$src"; then
  $SUDO sed -i 's/^Suites: bookworm bookworm-updates$/& bookworm-backports/' "$src"
fi
need=()
dpkg -s mesa-vulkan-drivers 2>/dev/null | grep -q '^Version: 2[5-9]' || need+=(vulkan)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && { echo "setup-system: all present"; exit 0; }
$SUDO apt-get update -qq || echo "setup-system: apt-get update failed" >&2
if [[ " ${need[*]} " == *" vulkan "* ]]; then
  $SUDO apt-get install -y -qq --no-install-recommends libvulkan1 >/dev/null &&
    $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers >/dev/null ||
    echo "setup-system: could not install Mesa Vulkan from bookworm-backports; WebGPU tests will skip" >&2
fi
if [[ " ${need[*]} " == *" chromium "* ]]; then
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
    echo "setup-system: could not install chromium; report rendering tests will skip" >&2
fi
echo "setup-system: done"
