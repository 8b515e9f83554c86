"""The NLP stage's entry point: `analyze(texts)` turns a batch of raw texts into `Analysis` values.

Per text: normalise (nlp.text), detect the language (nlp.lang), segment (nlp.segment), TF-IDF
keywords (nlp.keywords), sentiment (nlp.sentiment; "unscored" unless Chinese); per batch: the
MinHash signatures (nlp.dedup, one numpy pass). Identical raw texts (copy-paste waves, reposts
without comment) are analysed once: a bounded cache maps a raw text to its frozen Analysis, and
is dropped whenever the model or the segmenter's user dictionary changes. CPU-bound: callers in
async code run it in a worker thread or process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

from nlp import dedup, keywords, lang
from nlp.segment import get_segmenter
from nlp.sentiment import Prepared, SentimentModel, stock_model
from nlp.text import normalize
from nlp.types import UNSCORED, Analysis

TOP_KEYWORDS = 5
STREAM_BATCH = 256
# Big enough to hold a copy-paste wave, small enough to stay a few tens of MB.
_CACHE_LIMIT = 20_000


class _Cache:
    """raw text -> Analysis for one (model, user-dictionary version); thread-safe, bounded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: SentimentModel | None = None
        self._version = -1
        self._items: dict[str, Analysis] = {}
        self.hits = 0

    def view(self, model: SentimentModel) -> dict[str, Analysis]:
        version = get_segmenter().version
        with self._lock:
            # Identity, not id(): the reference keeps the model alive, so no later model can
            # reuse its address and be served this model's results.
            if model is not self._model or version != self._version:
                self._items = {}
                self._model, self._version = model, version
            return self._items

    def store(self, items: dict[str, Analysis], text: str, analysis: Analysis) -> None:
        if len(items) >= _CACHE_LIMIT:
            items.clear()
        items[text] = analysis

    def clear(self) -> None:
        with self._lock:
            self._items = {}
            self._model, self._version = None, -1


cache = _Cache()


def resolve_model(model: SentimentModel | Path | str | None) -> SentimentModel:
    """A model object as is, a path loaded from disk, or None for the stock model."""
    if model is None:
        return stock_model()
    if isinstance(model, SentimentModel):
        return model
    return SentimentModel.load(Path(model))


def _analyze_new(texts: Sequence[str], model: SentimentModel, top_keywords: int) -> list[Analysis]:
    segmenter = get_segmenter()
    parts = []
    reduced = []
    for text in texts:
        norm = normalize(text)
        body = norm.body
        tokens = tuple(segmenter.tokenize(body)) if body else ()
        language = lang.detect(body)
        if language == lang.ZH:
            score = model.score(Prepared(body=body, tokens=tokens, emoticons=norm.emoticons, lang=language))
            sentiment, label = score.sentiment, score.label
        else:
            sentiment, label = None, UNSCORED
        parts.append((norm, language, tokens, sentiment, label))
        reduced.append(dedup.reduce_body(body))
    signatures = dedup.signatures_of(reduced)
    return [
        Analysis(
            text=norm.text,
            lang=language,
            tokens=tokens,
            keywords=tuple(keywords.tfidf(tokens, top_keywords)),
            hashtags=norm.hashtags,
            emoticons=norm.emoticons,
            mentions=norm.mentions,
            urls=norm.urls,
            sentiment=sentiment,
            label=label,
            signature=signature,
        )
        for (norm, language, tokens, sentiment, label), signature in zip(parts, signatures, strict=True)
    ]


def analyze_batch(
    texts: Sequence[str], model: SentimentModel, top_keywords: int = TOP_KEYWORDS
) -> list[Analysis]:
    """Analyse a batch with a resolved model; repeated texts (in the batch or recently) once."""
    if top_keywords != TOP_KEYWORDS:
        return _analyze_new(texts, model, top_keywords)
    known = cache.view(model)
    out: list[Analysis | None] = [known.get(text) for text in texts]
    missing = [i for i, a in enumerate(out) if a is None]
    cache.hits += len(texts) - len(missing)
    if missing:
        unique = list(dict.fromkeys(texts[i] for i in missing))
        fresh = dict(zip(unique, _analyze_new(unique, model, top_keywords), strict=True))
        cache.hits += len(missing) - len(unique)
        for text, analysis in fresh.items():
            cache.store(known, text, analysis)
        for i in missing:
            out[i] = fresh[texts[i]]
    return out  # type: ignore[return-value]


def analyze_one(text: str, model: SentimentModel, top_keywords: int = TOP_KEYWORDS) -> Analysis:
    return analyze_batch([text], model, top_keywords)[0]


def analyze(texts: Sequence[str], *, model: SentimentModel | Path | str | None = None) -> list[Analysis]:
    """Analyse a batch; one Analysis per text, same order. `model`: object, path, or None (stock)."""
    return analyze_batch(texts, resolve_model(model))


def analyze_stream(
    texts: Iterable[str], *, model: SentimentModel | Path | str | None = None, batch: int = STREAM_BATCH
) -> Iterator[Analysis]:
    """Lazily analyse an unbounded stream in batches of `batch` (constant memory): CLI, imports."""
    resolved = resolve_model(model)
    it = iter(texts)
    while chunk := list(islice(it, batch)):
        yield from analyze_batch(chunk, resolved)
