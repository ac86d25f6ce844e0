#!/usr/bin/env bash
# One-command set-up: qlora-check with every optional library it tests (the [all] extra) and the test
# tools, into the active Python.
# torch is pinned to 2.13.0 here (a CPU wheel on CI machines); set QLORA_CHECK_TORCH to choose another,
# e.g. QLORA_CHECK_TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" on a GPU host.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install ${QLORA_CHECK_TORCH:-torch==2.13.0}
python -m pip install -e ".[all,dev]"
# Headless Chromium for the report's browser tests (Debian/Ubuntu); elsewhere those tests skip.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
