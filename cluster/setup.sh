#!/usr/bin/env bash
# Set up a fresh Debian machine for self-harness: the system packages the local sandbox
# and the built-in suite use (through apt, only when missing), then .venv with the project.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v bwrap   >/dev/null || need+=(bubblewrap)
command -v git     >/dev/null || need+=(git)
command -v gcc     >/dev/null || need+=(gcc libc6-dev)
command -v make    >/dev/null || need+=(make)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v curl    >/dev/null || need+=(curl)
[ -x /usr/bin/python3 ] || need+=(python3)
# Debian's Docker (20.10) and debootstrap: the docker sandbox backend, and the offline base images its tests
# build (tests/conftest.py starts a private dockerd; actors/sandbox/docker/baseimage.py)
command -v dockerd     >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
lean=()  # without their recommended packages
# Debian's Prometheus, which tests/cluster/test_prometheus.py runs against Ray's metrics; its
# recommends (node exporter, smartmontools, ...) would add 20-odd packages and seconds it needs not.
command -v prometheus >/dev/null || lean+=(prometheus)
# Debian's Chromium, which tests/serve/test_review_browser.py drives headless through Playwright (never
# `playwright install`); its recommends (udev, upower, printing, a notification daemon) serve a desktop.
command -v chromium >/dev/null || lean+=(chromium fonts-liberation)
if [ ${#need[@]} -gt 0 ] || [ ${#lean[@]} -gt 0 ]; then
  echo "setup: installing with apt: ${need[*]} ${lean[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq || true
  [ ${#need[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
  [ ${#lean[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${lean[@]}"
fi

extras="${1:-test}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.installed-$extras-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  # llama-cpp-python (extras test, cpu-model) builds llama.cpp from source: for this CPU, without libcurl
  export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DLLAMA_CURL=OFF}"
  .venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/pip install -q -e ".[$extras]"
  touch "$stamp"
fi
