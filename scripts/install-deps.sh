#!/usr/bin/env bash
# Installs the system packages the toolchain needs on Debian 12. Idempotent: when every package
# is present it only runs dpkg-query and returns in well under a second.
set -euo pipefail

PKGS=(
  cmake ninja-build g++ ccache pkg-config
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
  libgtest-dev clang libclang-rt-14-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libopenmpi-dev openmpi-bin
  libpng-dev libjpeg62-turbo-dev zlib1g-dev
  python3-torch python3-onnx python3-numpy python3-matplotlib
  dataset-fashion-mnist
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
