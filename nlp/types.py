"""The NLP stage's result type: one frozen Analysis per text, with no database ties.

`storage` maps it to post columns; `kolwatch.pipeline` produces it through `nlp.analyze`.
"""

from __future__ import annotations

from dataclasses import dataclass

POSITIVE = "positive"
NEUTRAL = "neutral"
NEGATIVE = "negative"
UNSCORED = "unscored"  # non-Chinese or empty text that no model of ours can judge honestly
LABELS: tuple[str, ...] = (POSITIVE, NEUTRAL, NEGATIVE, UNSCORED)


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the NLP stage knows about one text.

    `sentiment` runs from 0 (negative) to 1 (positive) and is None when `label == "unscored"`.
    `signature` is the MinHash signature over character n-grams (empty for empty text), used to
    collapse copy-paste waves before counting.
    """

    text: str  # normalised text
    lang: str  # "zh", "en", "ja", ... or "und"
    tokens: tuple[str, ...]
    keywords: tuple[str, ...]
    hashtags: tuple[str, ...]
    emoticons: tuple[str, ...]
    mentions: tuple[str, ...]
    urls: tuple[str, ...]
    sentiment: float | None
    label: str
    signature: tuple[int, ...] = ()
