#!/usr/bin/env bash
# Digest charts need a font with Chinese glyphs (matplotlib draws empty boxes without one).
# Installs Debian's fonts-noto-cjk (SIL OFL) when no CJK font is present; KOLWATCH_CJK_FONT may
# point at a font file instead. Never fails the build: bot/charts.py reports a missing font clearly.
set -u
if [ -n "${KOLWATCH_CJK_FONT:-}" ]; then exit 0; fi
if command -v fc-list >/dev/null && fc-list 2>/dev/null | grep -qiE "Noto Sans CJK|WenQuanYi|Source Han Sans"; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's fonts-noto-cjk for Chinese text in charts" >&2
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk fontconfig >/dev/null 2>&1 \
    || echo "could not install fonts-noto-cjk; charts will report the missing font" >&2
else
  echo "no CJK font found: install fonts-noto-cjk (or set KOLWATCH_CJK_FONT) for Chinese chart labels" >&2
fi
exit 0
