"""Word segmentation: jieba's dictionary and algorithm, a faster path, user terms, our stopwords.

jieba's dictionary (a `jieba.Tokenizer`, built once per process, about a second) stays the source
of truth: `add_user_terms()` adds every watch's brand names, aliases and known KOL names through
jieba's own `add_word`, so that 蜜雪冰城 or 瑞幸咖啡 come out as one token. Cutting itself is our
own implementation of jieba's no-HMM algorithm (the most probable path through the word DAG,
ties to the longer word, runs of single ASCII letters/digits glued back together) over a
precomputed table of log probabilities; it gives the same tokens as `Tokenizer.cut(HMM=False)`
(tests compare them). The loop runs in C (`nlp._speedups.WordTable`: the same table as code
points, so no string is allocated per candidate; several times faster than the same loop in
Python, which was itself twice as fast as jieba's two passes with a `log()` per candidate).
`Segmenter.cut_python` is that Python loop, the reference the tests hold the C version to. HMM
new-word discovery (1.5x slower, and brand names come from the user dictionary instead) is off
unless asked for; then jieba's own cut is used.

Emoticon codes such as `[允悲]` are never handed to the cutter; they are tokens of their own.
Tokens are lower-cased, whitespace and punctuation are dropped; emoji and other pictographs are
kept because they carry sentiment. Stopwords are not removed here (negators like 不 and 没 matter
to sentiment); `is_stopword()` is for keyword extraction. Repeated clauses (copy-paste waves,
"转发微博") are served from a bounded cache.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import jieba

from nlp.text import fold

try:
    from nlp import _speedups
except ImportError as exc:  # a source checkout used without installing it
    raise ImportError(
        "nlp._speedups (nlp/_speedups.c) is not built: run `make test` or `pip install -e .` "
        "(needs a C compiler and the Python headers)"
    ) from exc

_STOPWORDS_FILE = Path(__file__).with_name("models") / "stopwords.txt"
# One pass over a lower-cased text finds, in order: emoticon codes; jieba's blocks (runs of Han,
# ASCII letters/digits and + # & . _ % -, the only text jieba segments); runs of other letters
# (kana, Hangul, Cyrillic ...); and runs of other symbols, of which only pictographs are kept. A
# lone "[" is its own piece so "[[哈哈]" still finds the code.
_CLAUSE_CHARS = r"\u4e00-\u9fd5a-zA-Z0-9+#&._%\-"
_CLAUSE_RE = re.compile(f"[{_CLAUSE_CHARS}]+")
_PIECE_RE = re.compile(
    r"(\[[a-z\u4e00-\u9fff][a-z0-9_\u4e00-\u9fff]{0,9}\])"
    f"|([{_CLAUSE_CHARS}]+)"
    r"|([^\W_\u4e00-\u9fd5a-zA-Z0-9]+)"
    r"|([^\w\s+#&.%\-\[]+|\[)"
)
_WORDLIKE_RE = re.compile(r"[^\W_]")
# jieba glues consecutive single-character ASCII letters/digits back into one token.
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_CACHE_LIMIT = 200_000
# A user term gets at least this frequency so context words rarely pull it apart; jieba's own
# dictionary has common words at 10^4-10^6.
_USER_TERM_MIN_FREQ = 50_000
_MAX_TERM_LEN = 40
_MISSING = object()


class Segmenter:
    """jieba's dictionary plus our cutter and a clause cache; thread-safe; `get_segmenter()` shares one."""

    def __init__(self, hmm: bool = False) -> None:
        self.hmm = hmm
        self._lock = threading.Lock()
        self._tokenizer: jieba.Tokenizer | None = None
        # word or word prefix -> log(freq / total), None for a prefix that is not itself a word
        self._logp: dict[str, float | None] = {}
        self._fallback = 0.0
        self._words: _speedups.WordTable | None = None
        self._cache: dict[str, tuple[str, ...]] = {}
        self.user_terms: set[str] = set()
        # Bumped whenever the dictionary changes, so caches of tokens elsewhere know to drop them.
        self.version = 0

    def _load(self) -> jieba.Tokenizer:
        with self._lock:
            if self._tokenizer is None:
                # jieba logs "Building prefix dict..." at INFO on every start; keep stderr clean.
                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                self._rebuild_table(tokenizer)
                self._tokenizer = tokenizer
            return self._tokenizer

    def _rebuild_table(self, tokenizer: jieba.Tokenizer) -> None:
        # The same float expression as jieba's route scoring, log(freq) - log(total), so ties
        # between paths break exactly as they do in jieba.
        logtotal = math.log(tokenizer.total)
        log = math.log
        self._logp = {w: (log(f) - logtotal if f else None) for w, f in tokenizer.FREQ.items()}
        # A character that starts no dictionary word is a word of frequency 1 (jieba's `or 1`).
        self._fallback = 0.0 - logtotal
        self._words = _speedups.WordTable(self._logp, self._fallback)

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
                # Every probability depends on jieba's total count, which add_word changed.
                self._rebuild_table(tokenizer)
                self._cache.clear()
                self.version += 1
        return added

    def cut(self, clause: str) -> list[str]:
        """jieba's `cut(clause, HMM=False)` for one block of Han/ASCII text, every token kept."""
        if self._tokenizer is None:
            self._load()
        return self._words.cut(clause)  # type: ignore[union-attr]

    def cut_python(self, clause: str) -> list[str]:
        """`cut` in Python: the reference for the C loop (same route, same float arithmetic)."""
        if self._tokenizer is None:
            self._load()
        n = len(clause)
        get = self._logp.get
        fallback = self._fallback
        route = [0.0] * (n + 1)
        nxt = [0] * n
        # Right to left: route[i] is the best log probability of clause[i:], nxt[i] where the
        # first word of that best path ends. Candidate words are found by extending a prefix
        # while the dictionary still has it (jieba stores every prefix of every word).
        for i in range(n - 1, -1, -1):
            best: float | None = None
            end = i + 1
            j = i + 1
            lp = get(clause[i], _MISSING)
            while lp is not _MISSING:
                if lp is not None:
                    score = lp + route[j]  # type: ignore[operator]
                    if best is None or score >= best:  # ">=": ties go to the longer word
                        best, end = score, j
                if j == n:
                    break
                j += 1
                lp = get(clause[i:j], _MISSING)
            if best is None:
                best, end = fallback + route[i + 1], i + 1
            route[i] = best
            nxt[i] = end
        out: list[str] = []
        glued = ""
        x = 0
        while x < n:
            y = nxt[x]
            if y - x == 1 and clause[x] in _ASCII_ALNUM:
                glued += clause[x]
            else:
                if glued:
                    out.append(glued)
                    glued = ""
                out.append(clause[x:y])
            x = y
        if glued:
            out.append(glued)
        return out

    def _cut_clause(self, clause: str) -> tuple[str, ...]:
        cached = self._cache.get(clause)
        if cached is not None:
            return cached
        if self.hmm:
            tokenizer = self._tokenizer or self._load()
            result = tuple(t for t in tokenizer.cut(clause, HMM=True) if _WORDLIKE_RE.search(t))
        else:
            result = tuple(self._words.cut(clause, words_only=True))  # type: ignore[union-attr]
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[clause] = result
        return result

    def tokenize(self, text: str) -> list[str]:
        """Tokens of an already normalised text (see `nlp.text.normalize`), in order."""
        if self._tokenizer is None:
            self._load()
        tokens: list[str] = []
        cache = self._cache
        for emoticon, clause, word, symbols in _PIECE_RE.findall(text.lower()):
            if clause:
                cached = cache.get(clause)
                tokens.extend(cached if cached is not None else self._cut_clause(clause))
            elif emoticon:
                tokens.append(emoticon)
            elif word:
                tokens.append(word)
            else:
                tokens.extend(ch for ch in symbols if _is_pictograph(ch))
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
