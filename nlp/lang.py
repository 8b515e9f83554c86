"""Language detection by script, good enough to keep non-Chinese text away from Chinese models.

Posts in brand monitoring are Chinese with English brand names mixed in ("iPhone 15 真的香"), or
English, Japanese, Korean. Counting scripts decides these reliably without a model: Han characters
count one each, Latin words count one each (a brand name is one word, not seven letters), kana
marks Japanese even inside kanji-heavy text. Returns ISO 639-1 codes, or "und" when nothing
letter-like is present (emoji-only, digits, punctuation).
"""

from __future__ import annotations

import re

from nlp.text import EMOTICON_RE

ZH = "zh"
UNDETERMINED = "und"

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_KANA_RE = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HANGUL_RE = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_LATIN_WORD_RE = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:'[A-Za-z]+)?")
_CYRILLIC_RE = re.compile(r"[\u0400-\u04ff]+")
_ARABIC_RE = re.compile(r"[\u0600-\u06ff]+")
_THAI_RE = re.compile(r"[\u0e00-\u0e7f]+")
# A handful of the most frequent English function words: enough to tell English from other
# Latin-script languages in a sentence, and cheap.
_ENGLISH = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "to",
        "of",
        "in",
        "on",
        "for",
        "with",
        "at",
        "by",
        "from",
        "this",
        "that",
        "it",
        "its",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "my",
        "your",
        "our",
        "not",
        "no",
        "so",
        "very",
        "just",
        "have",
        "has",
        "had",
        "do",
        "does",
        "did",
        "can",
        "will",
        "would",
        "what",
        "when",
        "how",
        "why",
        "all",
        "if",
        "me",
        "love",
        "like",
        "good",
        "bad",
    ]
)
_FRENCH = frozenset(
    [
        "le",
        "la",
        "les",
        "des",
        "est",
        "et",
        "une",
        "un",
        "du",
        "pas",
        "pour",
        "que",
        "qui",
        "avec",
        "dans",
        "sur",
        "je",
        "tu",
    ]
)
_GERMAN = frozenset(
    [
        "der",
        "die",
        "das",
        "und",
        "ist",
        "nicht",
        "ein",
        "eine",
        "mit",
        "für",
        "auf",
        "ich",
        "du",
        "sie",
        "wir",
        "zu",
    ]
)
_SPANISH = frozenset(
    ["el", "los", "las", "es", "y", "una", "con", "por", "para", "que", "del", "muy", "pero", "yo"]
)


def detect(text: str) -> str:
    """The dominant language of `text` as an ISO 639-1 code, or "und"."""
    if "[" in text:
        text = EMOTICON_RE.sub(" ", text)
    han = len(_HAN_RE.findall(text))
    # Fast path for the common case: when Han characters are at least half of the text, no other
    # script can outnumber them, so without kana the answer below is always Chinese.
    if han >= 2 and 2 * han >= len(text) and _KANA_RE.search(text) is None:
        return ZH
    kana = len(_KANA_RE.findall(text))
    hangul = len(_HANGUL_RE.findall(text))
    latin_words = _LATIN_WORD_RE.findall(text)
    others = {
        "ru": len(_CYRILLIC_RE.findall(text)),
        "ar": len(_ARABIC_RE.findall(text)),
        "th": len(_THAI_RE.findall(text)),
    }
    # Kana is the only reliable Japanese marker; a few kana among Han still means Japanese.
    if kana and kana >= max(2, (han + kana) // 10):
        return "ja"
    # Hangul syllables are whole syllables: count them like Han characters.
    counts = {ZH: han, "ko": hangul, "latin": len(latin_words), **others}
    best = max(counts, key=lambda k: counts[k])
    if counts[best] == 0:
        return UNDETERMINED
    if best == ZH or (han >= 2 and han >= counts[best] // 2):
        # Chinese with English brand names and hashtags mixed in is still Chinese.
        return ZH
    if best == "latin":
        return _latin_language(latin_words)
    return best


def _latin_language(words: list[str]) -> str:
    lowered = [w.lower() for w in words]
    scores = {
        "en": sum(w in _ENGLISH for w in lowered),
        "fr": sum(w in _FRENCH for w in lowered),
        "de": sum(w in _GERMAN for w in lowered),
        "es": sum(w in _SPANISH for w in lowered),
    }
    best = max(scores, key=lambda k: scores[k])
    if scores[best] == 0:
        # A brand name or a slogan alone: Latin script, language unknown.
        return UNDETERMINED
    return best
