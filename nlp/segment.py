"""Word segmentation with jieba: one tokenizer per process, a user dictionary, our stopword list.

jieba takes about a second to build its prefix dictionary, so a single `jieba.Tokenizer` is
created lazily per process and shared. `add_user_terms()` adds every watch's brand names, aliases
and known KOL names so that 蜜雪冰城 or 瑞幸咖啡 come out as one token. Emoticon codes such as
`[允悲]` are never handed to jieba; they are tokens of their own.

Tokens are lower-cased, whitespace and punctuation are dropped; emoji and other pictographs are
kept because they carry sentiment. Stopwords are not removed here (negators like 不 and 没 matter
to sentiment); `is_stopword()` is for keyword extraction.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import jieba

from nlp.text import fold, split_emoticons

_STOPWORDS_FILE = Path(__file__).with_name("models") / "stopwords.txt"
# jieba's own block rule: runs of Han, ASCII letters/digits and + # & . _ % - are segmented, every
# other character stands alone. Splitting the same way first lets us cache clause segmentations.
_CLAUSE_RE = re.compile(r"([\u4e00-\u9fd5a-zA-Z0-9+#&._%\-]+)")
_WORDLIKE_RE = re.compile(r"[^\W_]")
_OTHER_RE = re.compile(r"[^\W_]+|[^\w\s]+")
_CACHE_LIMIT = 200_000
# A user term gets at least this frequency so context words rarely pull it apart; jieba's own
# dictionary has common words at 10^4-10^6.
_USER_TERM_MIN_FREQ = 50_000
_MAX_TERM_LEN = 40


class Segmenter:
    """A jieba tokenizer plus a clause cache; thread-safe; use `get_segmenter()` for the shared one."""

    def __init__(self, hmm: bool = False) -> None:
        # HMM new-word discovery costs about 1.5x the time; brand and KOL names come from the user
        # dictionary instead, so it is off by default.
        self.hmm = hmm
        self._lock = threading.Lock()
        self._tokenizer: jieba.Tokenizer | None = None
        self._cache: dict[str, tuple[str, ...]] = {}
        self.user_terms: set[str] = set()

    def _load(self) -> jieba.Tokenizer:
        with self._lock:
            if self._tokenizer is None:
                # jieba logs "Building prefix dict..." at INFO on every start; keep stderr clean.
                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                self._tokenizer = tokenizer
            return self._tokenizer

    def add_user_terms(self, terms: Iterable[str]) -> int:
        """Add terms that must never be split; returns how many were new. Invalid terms are skipped.

        Terms are folded like texts (traditional -> simplified, full-width -> half-width) and
        lower-cased. A term with a space or a character jieba treats as a separator ("·", "/") can
        not become a single token; it is skipped, and `nlp.query` matching on raw text covers it.
        """
        tokenizer = self._tokenizer or self._load()
        added = 0
        with self._lock:
            for raw in terms:
                term = fold(raw).lower()
                if not term or len(term) > _MAX_TERM_LEN or _CLAUSE_RE.fullmatch(term) is None:
                    continue
                if term in self.user_terms:
                    continue
                freq = max(_USER_TERM_MIN_FREQ, int(tokenizer.suggest_freq(term, tune=False)))
                tokenizer.add_word(term, freq=freq)
                self.user_terms.add(term)
                added += 1
            if added:
                self._cache.clear()
        return added

    def _cut_clause(self, clause: str, tokenizer: jieba.Tokenizer) -> tuple[str, ...]:
        cached = self._cache.get(clause)
        if cached is not None:
            return cached
        result = tuple(t for t in tokenizer.cut(clause, HMM=self.hmm) if _WORDLIKE_RE.search(t))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[clause] = result
        return result

    def tokenize(self, text: str) -> list[str]:
        """Tokens of an already normalised text (see `nlp.text.normalize`), in order."""
        tokenizer = self._tokenizer or self._load()
        tokens: list[str] = []
        for piece, is_emoticon in split_emoticons(text.lower()):
            if is_emoticon:
                tokens.append(piece)
                continue
            for i, part in enumerate(_CLAUSE_RE.split(piece)):
                if not part:
                    continue
                if i % 2:
                    tokens.extend(self._cut_clause(part, tokenizer))
                else:
                    # Other scripts (kana, Hangul, Cyrillic ...) as word runs; emoji one by one.
                    for match in _OTHER_RE.finditer(part):
                        run = match.group(0)
                        if run[0].isalnum():
                            tokens.append(run)
                        else:
                            tokens.extend(ch for ch in run if _is_pictograph(ch))
        return tokens


def _is_pictograph(ch: str) -> bool:
    # Emoji and symbols such as ♥ are "So"; punctuation (P*), spaces (Z*), controls (C*), and math or
    # currency symbols carry no sentiment of their own. Variation selectors are format characters.
    return unicodedata.category(ch) == "So"


_shared: Segmenter | None = None
_shared_lock = threading.Lock()


def get_segmenter() -> Segmenter:
    """The process-wide segmenter (jieba is loaded at most once per process)."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Segmenter()
    return _shared


def tokenize(text: str) -> list[str]:
    """Tokens of a normalised text with the shared segmenter."""
    return get_segmenter().tokenize(text)


def add_user_terms(terms: Iterable[str]) -> int:
    """Add brand names, aliases and KOL names to the shared segmenter's dictionary."""
    return get_segmenter().add_user_terms(terms)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Our stopword list (nlp/models/stopwords.txt), written for this project."""
    lines = _STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def is_stopword(token: str) -> bool:
    return token in stopwords()
