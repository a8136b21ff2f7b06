#!/usr/bin/env bash
# Installs exactly the Debian packages fatsim needs, when they are missing.
# Idempotent: a machine that has everything installs nothing.
# FATSIM_TRAINER=OFF skips LibTorch (the simulator builds without it).
set -euo pipefail

packages=(
  g++ cmake make pkg-config
  libsystemc-dev verilator
  libboost-program-options-dev libgtest-dev libyaml-cpp-dev nlohmann-json3-dev zlib1g-dev
  gnuplot-nox dataset-fashion-mnist
  libopenmpi-dev openmpi-bin              # campaigns across MPI ranks (FATSIM_MPI)
  libonnx-dev libprotobuf-dev python3-onnx  # QONNX import / export; python3-onnx only for tests
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer and the sanitizer runtimes for clang
)
if [ "${FATSIM_TRAINER:-ON}" != "OFF" ]; then
  packages+=(libtorch-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi

echo "bootstrap: missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: not root, cannot install. Run as root, or:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "bootstrap: installed ${missing[*]}"
