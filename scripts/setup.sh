#!/usr/bin/env bash
# One-command set-up: qlora-check with every optional library it tests (the [all] extra) and the test
# tools, into the active Python.
# torch is pinned to 2.13.0 here (a CPU wheel on CI machines); set QLORA_CHECK_TORCH to choose another,
# e.g. QLORA_CHECK_TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" on a GPU host.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install ${QLORA_CHECK_TORCH:-torch==2.13.0}
python -m pip install -e ".[all,dev]"
# optimum-quanto compiles its C++ kernels into site-packages on first use, under a lock file; build them once
# here, so that cells and doctor probes running side by side never wait on (or die holding) that lock.
python -c "from optimum.quanto.library.extensions import cpp; cpp.ext.lib" \
  || echo "warning: optimum-quanto's C++ kernels did not build; its cells will report why"
# Headless Chromium for the report's browser tests (Debian/Ubuntu); elsewhere those tests skip.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
