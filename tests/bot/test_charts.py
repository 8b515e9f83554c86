"""Charts: a real CJK font is found and used, no missing-glyph warnings, valid PNGs, bad input."""

from __future__ import annotations

import math
import struct
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

from bot import charts

T0 = datetime(2026, 11, 2, tzinfo=UTC)
LABELS = ["瑞幸", "星巴克", "库迪咖啡", "蜜雪冰城"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def render_quietly(make: Callable[[], bytes]) -> bytes:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = make()
    glyph_problems = [str(w.message) for w in caught if "glyph" in str(w.message).lower()]
    assert glyph_problems == []
    assert caught == [], [str(w.message) for w in caught]
    return data


def test_cjk_font_is_found_and_really_covers_chinese() -> None:
    font = charts.find_cjk_font()
    assert Path(font.path).is_file()
    # matplotlib resolves the family we configure to that very file...
    resolved = font_manager.findfont(
        font_manager.FontProperties(family=font.family), fallback_to_default=False
    )
    assert Path(resolved).resolve() == Path(font.path).resolve()
    # ...and the face maps every character our charts draw
    cmap = FT2Font(font.path, face_index=font.index).get_charmap()
    text = "".join(LABELS) + "提及量趋势情感占比负面中性正面声量份额时间（）暂无数据其他条"
    missing = [ch for ch in text if ord(ch) not in cmap]
    assert missing == []


def test_volume_chart_renders_chinese_without_missing_glyphs() -> None:
    series = [
        charts.Series(
            name, tuple((T0 + timedelta(hours=6 * i), (i * 7 + k * 13) % 50 + k) for i in range(28))
        )
        for k, name in enumerate(LABELS)
    ]
    data = render_quietly(lambda: charts.volume_chart(series, title="本周提及量"))
    assert png_size(data) == (960, 540)


def test_sentiment_share_chart_renders() -> None:
    buckets = [charts.SentimentBucket(T0 + timedelta(days=i), 10 + i, 30, 5 * i) for i in range(7)]
    buckets.append(charts.SentimentBucket(T0 + timedelta(days=8), 0, 0, 0))  # empty bucket: skipped
    data = render_quietly(lambda: charts.sentiment_share_chart(buckets))
    assert png_size(data) == (960, 540)


@pytest.mark.parametrize("kind", ["bar", "pie"])
def test_share_of_voice_chart_renders(kind: str) -> None:
    shares = [(f"品牌{i}", 100 - 7 * i) for i in range(12)]  # more than 8: the tail becomes 其他
    data = render_quietly(lambda: charts.share_of_voice_chart(shares, kind=kind))
    assert png_size(data)[0] == 960


def test_empty_input_draws_an_explicit_no_data_chart() -> None:
    for make in (
        lambda: charts.volume_chart([]),
        lambda: charts.volume_chart([charts.Series("瑞幸", ())]),
        lambda: charts.sentiment_share_chart([]),
        lambda: charts.share_of_voice_chart([("瑞幸", 0)]),
    ):
        assert png_size(render_quietly(make)) == (960, 540)


def test_hostile_labels_render_safely() -> None:
    font = charts.find_cjk_font()
    hostile = ["$\\frac{1}{0}$ 瑞幸", "🔥🔥 爆款\n第二行\x00", "x" * 500, "<script>&amp;", "$", "\ud800"]
    for label in hostile:
        safe = charts.safe_label(label, font)
        assert "\n" not in safe and "\x00" not in safe and len(safe) <= charts.MAX_LABEL + 3
        assert safe.count("$") == safe.count(r"\$")  # every dollar escaped: no mathtext
    assert charts.safe_label("🔥 爆款", font) == "□ 爆款"
    series = [charts.Series(label, ((T0, 1.0), (T0 + timedelta(hours=1), 2.0))) for label in hostile]
    render_quietly(lambda: charts.volume_chart(series, title="$$ 标题 🔥"))
    render_quietly(lambda: charts.share_of_voice_chart([(label, 1) for label in hostile], kind="pie"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: charts.volume_chart([charts.Series("a", ((datetime(2026, 1, 1), 1.0),))]),  # naive time
        lambda: charts.volume_chart([charts.Series("a", ((T0, -1.0),))]),
        lambda: charts.volume_chart([charts.Series("a", ((T0, math.nan),))]),
        lambda: charts.sentiment_share_chart([charts.SentimentBucket(T0, 1, -2, 3)]),
        lambda: charts.share_of_voice_chart([("a", math.inf)]),
        lambda: charts.share_of_voice_chart([("a", True)]),  # type: ignore[list-item]
        lambda: charts.share_of_voice_chart([("a", 1)], kind="donut"),
    ],
)
def test_malformed_data_is_rejected(make: Callable[[], bytes]) -> None:
    with pytest.raises(ValueError):
        make()


def test_font_override_must_be_a_cjk_font(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(charts, "_cache", {})
    with pytest.raises(charts.CjkFontMissing, match="not a file"):
        charts.find_cjk_font({"KOLWATCH_CJK_FONT": str(tmp_path / "none.ttf")})
    dejavu = font_manager.findfont("DejaVu Sans")
    with pytest.raises(charts.CjkFontMissing, match="cannot draw Chinese"):
        charts.find_cjk_font({"KOLWATCH_CJK_FONT": dejavu})
    real = charts.find_cjk_font({})
    assert charts.find_cjk_font({"KOLWATCH_CJK_FONT": real.path}).path == real.path


def test_missing_font_is_an_error_that_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charts, "_cache", {})
    monkeypatch.setattr(charts, "PREFERRED_FAMILIES", ("No Such Font SC",))
    monkeypatch.setattr(charts, "KNOWN_FONT_FILES", ("/nonexistent/font.ttc",))
    with pytest.raises(charts.CjkFontMissing, match="fonts-noto-cjk"):
        charts.find_cjk_font({})


def test_font_installed_after_matplotlib_cache_is_still_found(monkeypatch: pytest.MonkeyPatch) -> None:
    # matplotlib does not rescan system fonts once its cache exists: the Debian files are added directly
    monkeypatch.setattr(charts, "_cache", {})
    monkeypatch.setattr(charts, "_from_manager", lambda: None)
    present = [p for p in charts.KNOWN_FONT_FILES if Path(p).is_file()]
    if not present:
        pytest.fail(f"no Debian CJK font file present: {charts.INSTALL_HINT}")
    font = charts.find_cjk_font({})
    assert font.path == present[0]
    assert font.family.endswith("SC") or font.family.startswith("WenQuanYi")


@pytest.mark.parametrize(
    ("start", "step", "count", "expected"),
    [
        (datetime(2026, 11, 28), timedelta(hours=1), 30, r"(\d\d-\d\d|\d\d:\d\d)"),  # a day, by hour
        (datetime(2026, 11, 27), timedelta(days=1), 8, r"\d\d-\d\d"),  # a week over a month end
        (datetime(2026, 10, 1), timedelta(days=1), 90, r"(\d\d月|\d{4}年)"),  # a quarter
        (datetime(2026, 11, 1), timedelta(days=1), 92, r"(\d\d月|\d{4}年)"),  # over a year end
    ],
)
def test_time_axis_labels_are_numeric_not_english_months(
    start: datetime, step: timedelta, count: int, expected: str
) -> None:
    import re
    from zoneinfo import ZoneInfo

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(charts._rc(charts.find_cjk_font())):
        fig = Figure()
        ax = fig.add_subplot()
        ax.plot([start + step * i for i in range(count)], list(range(count)))
        charts._time_axis(ax, ZoneInfo("Asia/Shanghai"))
        FigureCanvasAgg(fig).draw()
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        offset = ax.xaxis.get_major_formatter().get_offset()
    assert labels and all(re.fullmatch(expected, label) for label in labels), labels
    months = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
    assert not re.search(months, " ".join([*labels, offset])), (labels, offset)
    assert re.fullmatch(r"(\d{4}(-\d\d(-\d\d)?)?|\d{4}年)?", offset), offset
