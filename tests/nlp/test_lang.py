"""Script-based language detection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlp.lang import detect


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今天的咖啡很好喝", "zh"),
        ("iPhone 15 Pro Max 真的太好用了", "zh"),
        ("I love this coffee so much", "en"),
        ("今日はとても良い天気ですね", "ja"),
        ("東京タワーに行きました", "ja"),
        ("오늘 날씨가 좋네요", "ko"),
        ("Привет, как дела", "ru"),
        ("c'est une bonne journée pour le café", "fr"),
        ("😂😂😂", "und"),
        ("[哈哈][doge]", "und"),
        ("12345 !!!", "und"),
        ("", "und"),
        ("Starbucks", "und"),
    ],
)
def test_detect(text: str, expected: str) -> None:
    assert detect(text) == expected


@given(st.text(max_size=200))
def test_detect_always_returns_a_code(text: str) -> None:
    code = detect(text)
    assert isinstance(code, str) and 2 <= len(code) <= 3
