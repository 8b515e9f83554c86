"""The NLP stage's entry point: `analyze(texts)` turns a batch of raw texts into `Analysis` values.

Per text: normalise (nlp.text), detect the language (nlp.lang), segment (nlp.segment), TF-IDF
keywords (nlp.keywords), sentiment (nlp.sentiment; "unscored" unless Chinese) and the MinHash
signature (nlp.dedup). CPU-bound: callers in async code run it in a worker thread or process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from nlp import dedup, keywords, lang
from nlp.segment import tokenize
from nlp.sentiment import Prepared, SentimentModel, stock_model
from nlp.text import normalize
from nlp.types import UNSCORED, Analysis

TOP_KEYWORDS = 5


def resolve_model(model: SentimentModel | Path | str | None) -> SentimentModel:
    """A model object as is, a path loaded from disk, or None for the stock model."""
    if model is None:
        return stock_model()
    if isinstance(model, SentimentModel):
        return model
    return SentimentModel.load(Path(model))


def analyze_one(text: str, model: SentimentModel, top_keywords: int = TOP_KEYWORDS) -> Analysis:
    norm = normalize(text)
    body = norm.body
    tokens = tuple(tokenize(body)) if body else ()
    language = lang.detect(body)
    if language == lang.ZH:
        score = model.score(Prepared(body=body, tokens=tokens, emoticons=norm.emoticons, lang=language))
        sentiment, label = score.sentiment, score.label
    else:
        sentiment, label = None, UNSCORED
    return Analysis(
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
        signature=dedup.signature_of(dedup.reduce_body(body)),
    )


def analyze(texts: Sequence[str], *, model: SentimentModel | Path | str | None = None) -> list[Analysis]:
    """Analyse a batch; one Analysis per text, same order. `model`: object, path, or None (stock)."""
    resolved = resolve_model(model)
    return [analyze_one(text, resolved) for text in texts]


def analyze_stream(
    texts: Iterable[str], *, model: SentimentModel | Path | str | None = None
) -> Iterator[Analysis]:
    """Lazily analyse an unbounded stream (constant memory): for the CLI and large imports."""
    resolved = resolve_model(model)
    for text in texts:
        yield analyze_one(text, resolved)
