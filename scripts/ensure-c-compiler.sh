#!/usr/bin/env bash
# nlp/_speedups.c (the analyze path's inner loops) is compiled when the package is installed, so
# the build needs a C compiler and the headers of the Python that builds it. Installs Debian's gcc
# when no compiler is present and we may; otherwise fails with what to install.
set -u
PYTHON="${1:-python3}"
if ! command -v "${CC:-cc}" >/dev/null && ! command -v gcc >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's gcc to build nlp/_speedups.c" >&2
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null 2>&1
  fi
  if ! command -v gcc >/dev/null; then
    echo "no C compiler: install gcc (Debian: apt-get install gcc) to build nlp/_speedups.c" >&2
    exit 1
  fi
fi
include="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
if [ ! -f "$include/Python.h" ]; then
  echo "no Python.h in $include: install the headers of $PYTHON (Debian: python3-dev) to build nlp/_speedups.c" >&2
  exit 1
fi
