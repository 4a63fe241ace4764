#!/usr/bin/env bash
# Installs what building and testing ClipShot needs on a fresh Debian machine.
# Idempotent: a second run only checks, and costs nothing.
#   scripts/install-deps.sh          system packages for building and running
#   scripts/install-deps.sh --test   plus the tools the test suite uses (ffprobe, Xvfb, xdotool, a PulseAudio server,
#                                    Chromium and Node.js for the dashboard, the Windows target)
#   scripts/install-deps.sh --bench  what --test installs, plus the font the benchmark report's plots are drawn with
set -euo pipefail

want_test=0
want_bench=0
case "${1:-}" in
  --test) want_test=1 ;;
  --bench) want_test=1 want_bench=1 ;;
esac

packages=(
  build-essential pkg-config
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  gstreamer1.0-pipewire
  # Vulkan for the analysis branch's GPU preprocessing; Mesa's lavapipe is
  # the adapter where there is no GPU (a vendor driver wins where there is).
  libvulkan1 mesa-vulkan-drivers
)
if ((want_test)); then
  packages+=(gstreamer1.0-plugins-base-apps ffmpeg fonts-dejavu-core espeak-ng xvfb xdotool x11-utils pulseaudio pulseaudio-utils chromium)
  # Node.js from Debian only where the machine has none (a newer one may come from elsewhere).
  command -v npm >/dev/null || packages+=(nodejs npm)
fi
if ((want_bench)); then
  # clipshot-bench loads DejaVu Sans by path (plotters has no font lookup);
  # --test may list it already.
  [[ " ${packages[*]} " == *" fonts-dejavu-core "* ]] || packages+=(fonts-dejavu-core)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)
  # A concurrent apt run can fail an install ("cannot access archive"): retry a few times.
  for attempt in 1 2 3; do
    if $sudo apt-get "${apt_opts[@]}" update -q >/dev/null &&
       $sudo apt-get "${apt_opts[@]}" install "${missing[@]}"; then
      break
    fi
    [[ $attempt -eq 3 ]] && { echo "install-deps: apt-get failed after 3 attempts" >&2; exit 1; }
    echo "install-deps: apt-get failed (attempt $attempt), retrying in 10 s" >&2
    sleep 10
  done
fi

if ((want_test)) && command -v rustup >/dev/null; then
  rustup target list --installed | grep -qx x86_64-pc-windows-gnu ||
    rustup target add x86_64-pc-windows-gnu
fi
