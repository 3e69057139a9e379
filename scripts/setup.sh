#!/usr/bin/env bash
# Installs what tttmem needs and is missing: Debian packages, and a Python venv with the pinned
# torch wheel (libtorch for the C++ build, torch/transformers/tiktoken for the test oracles).
# Idempotent and silent when everything is present. The venv lives in a cache outside the clone,
# keyed by the hash of scripts/requirements.txt, and .venv links to it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TTTMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tttmem}"

apt_packages=(build-essential cmake ninja-build ccache pkg-config git python3 python3-venv
  nlohmann-json3-dev libcli11-dev libspdlog-dev libpcre2-dev libsentencepiece-dev
  libgtest-dev libgmock-dev libbenchmark-dev gnuplot-nox libicu-dev sentencepiece libgloo-dev
  clang libclang-rt-14-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

req="$root/scripts/requirements.txt"
venv="$cache/venv-$(sha256sum "$req" | cut -c1-12)"
if [ ! -f "$venv/.complete" ]; then
  echo "setup: creating $venv (torch wheel and test oracles; a few minutes the first time)"
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r "$req"
  touch "$venv/.complete"
fi

# torch's CMake config needs a CUDA toolkit (nvcc, headers, libraries) whenever the wheel is a
# CUDA build, even with TTTMEM_CUDA=OFF. Without one on the system, install the toolkit's own
# pip components into the venv, at the versions the wheel pulled in (its cuda-toolkit pin);
# scripts/build.sh points CMake at them through $venv/cuda.
if [ ! -f "$venv/.cuda-complete" ] && [ ! -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ] &&
  [ ! -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null; then
  cuda="$("$venv/bin/python" -c 'import importlib.metadata as m, torch
if torch.version.cuda: print(m.version("cuda-toolkit"), torch.version.cuda.split(".")[0])')"
  read -r cuda_pin cuda_major <<<"$cuda"
  if [ -n "$cuda_pin" ]; then
    pkg="cuda-toolkit[nvcc,crt,nvvm,cccl]==$cuda_pin"
    echo "setup: no CUDA toolkit found; installing $pkg into the venv"
    "$venv/bin/python" -m pip install -q "$pkg"
    cu="$(echo "$venv"/lib/python3*/site-packages/nvidia/cu"$cuda_major")"
    # The layout of a toolkit install: nvcc.profile reads targets/<arch>/{include,lib},
    # FindCUDA looks in lib64, and find_library wants the unversioned names the wheels lack.
    case "$(uname -m)" in aarch64) target=sbsa-linux ;; *) target="$(uname -m)-linux" ;; esac
    mkdir -p "$cu/targets/$target"
    ln -sfn ../../include "$cu/targets/$target/include"
    ln -sfn ../../lib "$cu/targets/$target/lib"
    ln -sfn lib "$cu/lib64"
    for so in "$cu"/lib/lib*.so.*; do
      [ -e "${so%%.so.*}.so" ] || ln -s "$(basename "$so")" "${so%%.so.*}.so"
    done
    ln -sfn "$cu" "$venv/cuda"
  fi
  touch "$venv/.cuda-complete"
fi
if [ "$(readlink "$root/.venv" 2>/dev/null)" != "$venv" ]; then
  rm -rf "$root/.venv"
  ln -s "$venv" "$root/.venv"
fi
