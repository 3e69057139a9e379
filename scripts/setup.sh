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
  libgtest-dev libgmock-dev libbenchmark-dev gnuplot-nox libicu-dev sentencepiece
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
if [ "$(readlink "$root/.venv" 2>/dev/null)" != "$venv" ]; then
  rm -rf "$root/.venv"
  ln -s "$venv" "$root/.venv"
fi
