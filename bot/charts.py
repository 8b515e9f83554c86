"""Digest charts as PNG bytes with correct Chinese text: mention volume over time, sentiment
share over time, share of voice (bars or pie).

Rendering is headless: a bare `Figure` on the Agg canvas, never pyplot, so no GUI backend and no
global figure state (safe in a worker thread). Fonts: matplotlib's bundled DejaVu Sans has no CJK
glyphs, so a CJK font must exist on the machine. `find_cjk_font` looks, in order, at
`KOLWATCH_CJK_FONT` (a font file path), the fonts matplotlib already knows, then the files Debian's
`fonts-noto-cjk` and `fonts-wqy-microhei` install (added directly, because matplotlib's font cache
is not rebuilt when fonts are installed after it was written). Every candidate is checked to map
the CJK characters we draw. Without one, `CjkFontMissing` says what to install: charts with boxes
instead of text are never produced silently. Characters that neither the CJK font nor DejaVu Sans
can draw (emoji in a brand name, say) are shown as □ instead of triggering missing-glyph boxes.
"""

from __future__ import annotations

import io
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib
from matplotlib import dates as mdates
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

from bot.render import clean_text

PREFERRED_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
    "Microsoft YaHei", "PingFang SC", "Heiti SC", "SimHei",
)
KNOWN_FONT_FILES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
)
# Characters every chart may draw; a font must map all of them to count as CJK-capable.
COVERAGE_SAMPLE = "提及量情感正面负面中性占比声量份额日期暂无数据其他条瑞幸咖啡星巴克库迪年月，（）：％"
INSTALL_HINT = ("install a CJK font (Debian: apt-get install -y fonts-noto-cjk) "
                "or set KOLWATCH_CJK_FONT to a .ttf/.otf/.ttc file")
PALETTE = ("#2f6fdf", "#e4572e", "#17a398", "#f3a712", "#8e6cc7", "#6b8e23", "#d45d9b", "#7f7f7f")
SENTIMENT_COLOURS = {"positive": "#2ca25f", "neutral": "#bdbdbd", "negative": "#de2d26"}
MAX_LABEL = 24
MAX_SLICES = 8


class CjkFontMissing(RuntimeError):
    """No font that can draw Chinese text was found."""


@dataclass(frozen=True, slots=True)
class CjkFont:
    family: str
    path: str
    index: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a volume chart: (aware datetime, value) points."""

    label: str
    points: tuple[tuple[datetime, float], ...]


@dataclass(frozen=True, slots=True)
class SentimentBucket:
    """Counts of one time bucket starting at `start` (aware datetime)."""

    start: datetime
    positive: int
    neutral: int
    negative: int


# --------------------------------------------------------------------------------------------
# Fonts

_lock = threading.Lock()
_cache: dict[str, CjkFont] = {}


def _charmap(path: str, index: int) -> set[int]:
    return set(FT2Font(path, face_index=index).get_charmap())


def _covers(path: str, index: int) -> bool:
    try:
        cmap = _charmap(path, index)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(ch) in cmap for ch in COVERAGE_SAMPLE)


def _from_manager() -> CjkFont | None:
    entries = font_manager.fontManager.ttflist
    for family in PREFERRED_FAMILIES:
        for entry in entries:
            regular = entry.weight in (400, "normal", "regular")
            if entry.name == family and regular and _covers(entry.fname, entry.index):
                return CjkFont(entry.name, entry.fname, entry.index)
    return None


def _add_file(path: str) -> CjkFont | None:
    """Register every face of `path` with matplotlib; the best covering face, simplified Chinese first."""
    try:
        faces = FT2Font(path).num_faces
        font_manager.fontManager.addfont(path)
    except (OSError, RuntimeError, ValueError):
        return None
    candidates = []
    for index in range(faces):
        face = FT2Font(path, face_index=index)
        if face.family_name and _covers(path, index):
            preferred = face.family_name in PREFERRED_FAMILIES or face.family_name.endswith(" SC")
            candidates.append((not preferred, index, face.family_name))
    if not candidates:
        return None
    _, index, family = min(candidates)
    return CjkFont(family, path, index)


def find_cjk_font(environ: Mapping[str, str] | None = None) -> CjkFont:
    """The CJK font charts use (see the module docstring for the search order)."""
    env = os.environ if environ is None else environ
    override = env.get("KOLWATCH_CJK_FONT", "").strip()
    key = override or "<auto>"
    with _lock:
        if key in _cache:
            return _cache[key]
        if override:
            if not Path(override).is_file():
                raise CjkFontMissing(f"KOLWATCH_CJK_FONT={override!r} is not a file")
            found = _add_file(override)
            if found is None:
                raise CjkFontMissing(f"KOLWATCH_CJK_FONT={override!r} cannot draw Chinese text")
        else:
            found = _from_manager()
            for path in KNOWN_FONT_FILES:
                if found is not None:
                    break
                if Path(path).is_file():
                    found = _add_file(path)
            if found is None:
                raise CjkFontMissing(f"no CJK font found for charts: {INSTALL_HINT}")
        _cache[key] = found
        return found


def _drawable(font: CjkFont) -> frozenset[int]:
    with _lock:
        cached = _drawable_cache.get(font)
        if cached is None:
            dejavu = font_manager.findfont("DejaVu Sans", fallback_to_default=True)
            cached = frozenset(_charmap(font.path, font.index) | _charmap(dejavu, 0))
            _drawable_cache[font] = cached
        return cached


_drawable_cache: dict[CjkFont, frozenset[int]] = {}


def safe_label(text: str, font: CjkFont, max_len: int = MAX_LABEL) -> str:
    """A label that draws without missing glyphs or mathtext: one line, cut, `$` escaped."""
    drawable = _drawable(font)
    text = " ".join(clean_text(text).split())
    if len(text) > max_len:
        text = text[: max_len - 1] + "…"
    text = "".join(ch if ord(ch) in drawable else "□" for ch in text)
    return text.replace("$", r"\$") or "□"


# --------------------------------------------------------------------------------------------
# Figures


def _rc(font: CjkFont) -> dict[str, object]:
    return {
        # a list in font.family (not font.sans-serif) is what enables per-glyph fallback
        "font.family": [font.family, "DejaVu Sans"],
        "axes.unicode_minus": False,  # U+2212 is missing from many CJK fonts
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


def _check_number(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, not {value!r}")
    return float(value)


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("chart times must be timezone-aware")
    return moment.astimezone(tz).replace(tzinfo=None)  # plotted as wall-clock time of `tz`


def _no_data(ax: Axes, font: CjkFont) -> None:
    ax.text(0.5, 0.5, safe_label("暂无数据", font), ha="center", va="center", fontsize=16,
            color="#888888", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


# ConciseDateFormatter's levels: years, months, days, hours, minutes, seconds. Its defaults use
# English month names ("Dec", "2026-Dec"); these are numeric/Chinese: "12-01", "14:00", "2026-12".
TICK_FORMATS = ("%Y年", "%m月", "%m-%d", "%H:%M", "%H:%M", "%S.%f")
ZERO_FORMATS = ("", "%Y年", "%m-%d", "%m-%d", "%H:%M", "%H:%M")  # ticks that start a new unit
OFFSET_FORMATS = ("", "%Y年", "%Y年", "%Y-%m-%d", "%Y-%m-%d", "%Y-%m-%d %H:%M")


def date_formatter(locator: mdates.DateLocator) -> mdates.ConciseDateFormatter:
    """Concise date ticks without English month names (the charts are Chinese)."""
    return mdates.ConciseDateFormatter(
        locator,
        formats=list(TICK_FORMATS),
        zero_formats=list(ZERO_FORMATS),
        offset_formats=list(OFFSET_FORMATS),
    )


def _time_axis(ax: Axes, tz: ZoneInfo) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(date_formatter(locator))
    ax.set_xlabel(f"时间（{tz.key}）")


def volume_chart(series: Sequence[Series], *, title: str = "提及量趋势", tz: str = "Asia/Shanghai",
                 y_label: str = "提及量（条）") -> bytes:
    """Mentions per time bucket, one line per series (a watch, a platform, a competitor)."""
    zone = ZoneInfo(tz)
    font = find_cjk_font()
    with matplotlib.rc_context(_rc(font)):
        fig = Figure(figsize=(8, 4.5), dpi=120, layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(safe_label(title, font, 40))
        drawn = 0
        for i, line in enumerate(series):
            points = sorted((_local(t, zone), _check_number(v, "volume")) for t, v in line.points)
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.8, color=PALETTE[i % len(PALETTE)],
                    label=safe_label(line.label, font))
            drawn += 1
        if drawn:
            _time_axis(ax, zone)
            ax.set_ylabel(safe_label(y_label, font))
            ax.set_ylim(bottom=0)
            ax.legend(loc="upper left", frameon=False)
        else:
            _no_data(ax, font)
        return _png(fig)


def sentiment_share_chart(buckets: Sequence[SentimentBucket], *, title: str = "情感占比",
                          tz: str = "Asia/Shanghai") -> bytes:
    """Share of positive / neutral / negative mentions per bucket, stacked to 100 %."""
    zone = ZoneInfo(tz)
    font = find_cjk_font()
    rows = []
    for b in sorted(buckets, key=lambda b: b.start):
        counts = [_check_number(v, "sentiment count") for v in (b.positive, b.neutral, b.negative)]
        total = sum(counts)
        if total > 0:
            rows.append((_local(b.start, zone), *(100.0 * c / total for c in counts)))
    with matplotlib.rc_context(_rc(font)):
        fig = Figure(figsize=(8, 4.5), dpi=120, layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(safe_label(title, font, 40))
        if rows:
            xs, pos, neu, neg = zip(*rows, strict=True)
            ax.stackplot(xs, neg, neu, pos, labels=["负面", "中性", "正面"], alpha=0.9,
                         colors=[SENTIMENT_COLOURS["negative"], SENTIMENT_COLOURS["neutral"],
                                 SENTIMENT_COLOURS["positive"]])
            ax.set_ylim(0, 100)
            ax.set_ylabel("占比（％）")
            _time_axis(ax, zone)
            ax.legend(loc="upper left", frameon=False, ncols=3)
        else:
            _no_data(ax, font)
        return _png(fig)


def share_of_voice_chart(shares: Sequence[tuple[str, float]], *, title: str = "声量份额",
                         kind: str = "bar", x_label: str = "提及量（条）") -> bytes:
    """Each brand's share of mentions: horizontal bars (count and %) or a pie (top 8 + 其他)."""
    if kind not in ("bar", "pie"):
        raise ValueError("kind must be 'bar' or 'pie'")
    font = find_cjk_font()
    items = sorted(((label, _check_number(v, "share")) for label, v in shares), key=lambda x: -x[1])
    total = sum(v for _, v in items)
    if len(items) > MAX_SLICES:
        items = [*items[: MAX_SLICES - 1], ("其他", sum(v for _, v in items[MAX_SLICES - 1 :]))]
    with matplotlib.rc_context(_rc(font)):
        fig = Figure(figsize=(8, 4.5), dpi=120, layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(safe_label(title, font, 40))
        if total <= 0:
            _no_data(ax, font)
        elif kind == "pie":
            ax.pie([v for _, v in items], labels=[safe_label(label, font) for label, _ in items],
                   colors=[PALETTE[i % len(PALETTE)] for i in range(len(items))],
                   autopct=lambda p: f"{p:.1f}%" if p >= 3 else "", startangle=90, counterclock=False,
                   wedgeprops={"linewidth": 1, "edgecolor": "white"})
            ax.set_aspect("equal")
        else:
            labels = [safe_label(label, font) for label, _ in items][::-1]
            values = [v for _, v in items][::-1]
            colours = [PALETTE[i % len(PALETTE)] for i in range(len(items))][::-1]
            bars = ax.barh(labels, values, color=colours)
            ax.bar_label(bars, labels=[f"{v:,.0f}（{100 * v / total:.1f}%）" for v in values], padding=3)
            ax.set_xlabel(safe_label(x_label, font))
            ax.set_xlim(0, max(values) * 1.3)
            ax.grid(axis="y", visible=False)
        return _png(fig)
