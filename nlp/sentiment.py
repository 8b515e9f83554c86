"""Sentiment models: features, training, scoring, and the versioned model file.

Two kinds of model share one file format and one scorer (a linear score per class, softmax):

- "linear": multinomial logistic regression on character 1-3-grams of the normalised body plus
  jieba tokens, negated tokens and emoticon codes. This is the default and the stock model.
- "bayes": snownlp's approach (multinomial naive Bayes with add-one smoothing) fed with jieba
  tokens instead of snownlp's slow segmenter, plus negation and emoticon features.

Both add an emoticon polarity lexicon as a fixed offset between the positive and negative class
(`emoticon_weight` x the summed polarity of the post's emoticon codes), so a stock model trained
on review text still reads `[怒]` and `[哈哈]` in Weibo posts. Negation: the two tokens after a
negator (不, 没有, 别 ...) also appear as `n:<token>` features, so 不好 and 好 differ even for the
token-only Bayes model.

Labels: "positive" / "negative" (and "neutral" if the training data has it). A two-class model
calls a post "neutral" when its positive probability falls inside `neutral_band`, calibrated at
training time on held-out samples as the zone where the model is barely better than a coin
flip. Non-Chinese or empty text is "unscored" with sentiment None: no Chinese model judges it.

Retraining with the team's own data: `kolwatch sentiment train --data labels.csv --with-feedback
--out acme.json.gz` adds the corrections users made in the bot; from code:

    rows = [(text, "negative"), (text2, "positive"), ...]   # plus a base corpus if you have one
    model = train_model(rows)
    model.save(Path("models/acme-sentiment.json.gz"))        # then --model PATH or settings

The file is gzip-compressed JSON with a format version; `SentimentModel.load()` refuses files it
does not understand with `ModelFileError`.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import math
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from operator import add
from pathlib import Path
from typing import Any

import numpy as np

from nlp import _speedups
from nlp import lang as lang_mod
from nlp.segment import tokenize
from nlp.text import EMOTICON_RE, normalize
from nlp.types import NEGATIVE, NEUTRAL, POSITIVE, UNSCORED

FORMAT = "kolwatch-sentiment"
FORMAT_VERSION = 1
KINDS = ("linear", "bayes")
STOCK_MODEL = "stock-sentiment.json.gz"
LEXICON_FILE = "emoticons.tsv"

NEGATORS = frozenset(
    [
        "不",
        "没",
        "没有",
        "无",
        "非",
        "未",
        "别",
        "莫",
        "勿",
        "不是",
        "并不",
        "并非",
        "从不",
        "从没",
        "从未",
        "绝不",
        "毫无",
        "不会",
        "不能",
        "不要",
        "不用",
        "不够",
        "不太",
        "不怎么",
        "不再",
        "没什么",
        "一点也不",
        "一点都不",
        "根本不",
        "根本没",
    ]
)
_NEGATION_SCOPE = 2
_NGRAM_MAX = 3
_LABEL_ALIASES = {
    POSITIVE: POSITIVE, "pos": POSITIVE, "1": POSITIVE, "正面": POSITIVE, "积极": POSITIVE, "好评": POSITIVE,
    NEGATIVE: NEGATIVE, "neg": NEGATIVE, "0": NEGATIVE, "负面": NEGATIVE, "消极": NEGATIVE, "差评": NEGATIVE,
    NEUTRAL: NEUTRAL, "neu": NEUTRAL, "中性": NEUTRAL, "中立": NEUTRAL,
}  # fmt: skip


class ModelFileError(ValueError):
    """A model file is missing, corrupt, or of a format/version this code does not read."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A text as the models read it: normalised body, jieba tokens, emoticon codes, language."""

    body: str
    tokens: tuple[str, ...]
    emoticons: tuple[str, ...]
    lang: str


@dataclass(frozen=True, slots=True)
class Score:
    sentiment: float | None  # 0 negative .. 1 positive; None when unscored
    label: str


def prepare(text: str) -> Prepared:
    """Normalise, detect the language and segment one raw text."""
    norm = normalize(text)
    return Prepared(
        body=norm.body,
        tokens=tuple(tokenize(norm.body)),
        emoticons=norm.emoticons,
        lang=lang_mod.detect(norm.body),
    )


def canonical_label(raw: str) -> str:
    """Map a label as teams write it (1/0, pos/neg, 正面/负面 ...) onto ours; ValueError if unknown."""
    label = _LABEL_ALIASES.get(str(raw).strip().lower())
    if label is None:
        raise ValueError(
            f"unknown sentiment label {raw!r} (use positive/negative/neutral, 1/0, 正面/负面/中性)"
        )
    return label


def features(doc: Prepared, kind: str) -> list[str]:
    """Feature names of one prepared text; repeated names count as term frequency."""
    feats: list[str] = []
    if kind == "linear":
        chars = EMOTICON_RE.sub("", doc.body).replace(" ", "").lower()
        n = len(chars)
        for size in range(1, _NGRAM_MAX + 1):
            feats.extend(chars[i : i + size] for i in range(n - size + 1))
    feats.extend(_token_features(doc.tokens))
    return feats


def _ngram_chars(body: str) -> str:
    """The text whose character n-grams are features: no emoticon codes, no spaces, lower case."""
    return (EMOTICON_RE.sub("", body) if "[" in body else body).replace(" ", "").lower()


def _logistic(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def feature_set(doc: Prepared) -> set[str]:
    """`set(features(doc, "linear"))`, built with C-level string operations."""
    chars = _ngram_chars(doc.body)
    feats = set(chars)
    if len(chars) > 1:
        pairs = list(map(add, chars, chars[1:]))
        feats.update(pairs)
        feats.update(map(add, pairs, chars[2:]))
    feats.update(_token_features(doc.tokens))
    return feats


def _token_features(tokens: Sequence[str]) -> list[str]:
    feats: list[str] = []
    scope = 0
    for token in tokens:
        if token[0] == "[":
            feats.append("e:" + token)
            continue
        feats.append("w:" + token)
        if token in NEGATORS:
            scope = _NEGATION_SCOPE
        elif scope:
            feats.append("n:" + token)
            scope -= 1
    return feats


def load_lexicon(path: Path | None = None) -> dict[str, float]:
    """Emoticon polarity lexicon: `[code]<TAB>polarity in [-1, 1]` lines, '#' comments."""
    if path is None:
        text = resources.files("nlp.models").joinpath(LEXICON_FILE).read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    lexicon: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        code, _, value = line.partition("\t")
        try:
            polarity = float(value.split("\t")[0])
        except ValueError:
            raise ModelFileError(f"emoticon lexicon line {number}: bad polarity {value!r}") from None
        if not EMOTICON_RE.fullmatch(code) or not -1.0 <= polarity <= 1.0:
            raise ModelFileError(f"emoticon lexicon line {number}: {line!r}")
        lexicon[code] = polarity
    return lexicon


@dataclass(frozen=True, eq=False)
class SentimentModel:
    """A trained sentiment model; immutable (derive variants with `dataclasses.replace`)."""

    kind: str
    classes: tuple[str, ...]
    vocabulary: dict[str, int]
    weights: np.ndarray  # (n_features, n_classes) float32
    bias: np.ndarray  # (n_classes,) float64
    lexicon: dict[str, float] = field(default_factory=dict)
    emoticon_weight: float = 0.0
    neutral_band: tuple[float, float] = (0.4, 0.6)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelFileError(f"unknown model kind {self.kind!r}")
        if POSITIVE not in self.classes or NEGATIVE not in self.classes:
            raise ModelFileError("a sentiment model needs both positive and negative classes")
        if self.weights.shape != (len(self.vocabulary), len(self.classes)):
            raise ModelFileError("weights do not match vocabulary and classes")
        lo, hi = self.neutral_band
        if not 0.0 <= lo <= hi <= 1.0:
            raise ModelFileError(f"bad neutral band {self.neutral_band}")
        # Cached class positions for the hot scoring path (frozen, hence object.__setattr__).
        object.__setattr__(self, "_pos", self.classes.index(POSITIVE))
        object.__setattr__(self, "_neg", self.classes.index(NEGATIVE))
        object.__setattr__(self, "_neu", self.classes.index(NEUTRAL) if NEUTRAL in self.classes else -1)
        # Two-class models score with one number per feature, the positive-minus-negative weight:
        # softmax over two classes is the logistic function of that difference, and a dict lookup
        # per feature is the whole cost of scoring a post.
        if len(self.classes) == 2:
            pos, neg = self.classes.index(POSITIVE), self.classes.index(NEGATIVE)
            diff = (self.weights[:, pos].astype(np.float64) - self.weights[:, neg]).tolist()
            names = [""] * len(self.vocabulary)
            for name, i in self.vocabulary.items():
                names[i] = name
            delta = dict(zip(names, diff, strict=True))
            object.__setattr__(self, "_delta", delta)
            object.__setattr__(self, "_bias_delta", float(self.bias[pos] - self.bias[neg]))
            # The character n-gram half of `feature_set` scored in C (nlp/_speedups.c): every
            # 1-3-character feature name, token features like "w:好" included, because in the set
            # of feature names such a string is one feature whichever way it arose.
            ngrams = _speedups.NgramTable(delta) if self.kind == "linear" else None
            object.__setattr__(self, "_ngrams", ngrams)
        else:
            object.__setattr__(self, "_delta", None)

    # -- scoring -------------------------------------------------------------------------------

    def _offset(self, emoticons: Iterable[str]) -> float:
        if not self.lexicon or not self.emoticon_weight:
            return 0.0
        return self.emoticon_weight * sum(self.lexicon.get(code, 0.0) for code in emoticons)

    def proba(self, doc: Prepared) -> np.ndarray | None:
        """Class probabilities in `classes` order, or None when no feature of the text is known."""
        vocab = self.vocabulary
        feats = features(doc, self.kind)
        if self.kind == "linear":
            idx = list({i for f in feats if (i := vocab.get(f)) is not None})
            scale = 1.0 / math.sqrt(len(set(feats))) if feats else 0.0
        else:
            idx = [i for f in feats if (i := vocab.get(f)) is not None]
            scale = 1.0
        offset = self._offset(doc.emoticons)
        if not idx and offset == 0.0:
            return None
        z = self.bias + (self.weights[idx].sum(axis=0, dtype=np.float64) * scale if idx else 0.0)
        z = np.asarray(z, dtype=np.float64)
        z[self._pos] += offset / 2
        z[self._neg] -= offset / 2
        z -= z.max()
        e = np.exp(z)
        return e / e.sum()

    def positive_probability(self, doc: Prepared) -> float | None:
        """P(positive) of a two-class model, or None when no feature of the text is known."""
        ngrams: _speedups.NgramTable | None = self._ngrams  # type: ignore[attr-defined]
        if ngrams is None:
            return self.positive_probability_python(doc)
        delta: dict[str, float] = self._delta  # type: ignore[attr-defined]
        chars = _ngram_chars(doc.body)
        total, distinct, known = ngrams.score(chars)
        for feature in set(_token_features(doc.tokens)):
            # A three-character token feature ("w:好") that is also a substring of the text is
            # already counted: the set of feature names holds it once.
            if len(feature) == 3 and feature in chars:
                continue
            distinct += 1
            weight = delta.get(feature)
            if weight is not None:
                total += weight
                known += 1
        offset = self._offset(doc.emoticons) if doc.emoticons else 0.0
        if not known and offset == 0.0:
            return None
        scaled = total / math.sqrt(distinct) if distinct else 0.0
        return _logistic(self._bias_delta + scaled + offset)  # type: ignore[attr-defined]

    def positive_probability_python(self, doc: Prepared) -> float | None:
        """`positive_probability` over Python sets: the reference for the C n-gram scoring."""
        delta: dict[str, float] = self._delta  # type: ignore[attr-defined]
        if self.kind == "linear":
            feats: Iterable[str] = feature_set(doc)
            scale = 1.0 / math.sqrt(len(feats)) if feats else 0.0  # type: ignore[arg-type]
        else:
            feats, scale = features(doc, self.kind), 1.0
        known = [w for w in map(delta.get, feats) if w is not None]
        total = sum(known) * scale
        offset = self._offset(doc.emoticons) if doc.emoticons else 0.0
        if not known and offset == 0.0:
            return None
        return _logistic(self._bias_delta + total + offset)  # type: ignore[attr-defined]

    def score(self, doc: Prepared) -> Score:
        """Score a prepared text; non-Chinese and empty texts are unscored."""
        if doc.lang != lang_mod.ZH:
            return Score(None, UNSCORED)
        if self._delta is not None:  # type: ignore[attr-defined]
            sentiment = self.positive_probability(doc)
            if sentiment is None:
                return Score(0.5, NEUTRAL)
            lo, hi = self.neutral_band
            label = NEUTRAL if lo <= sentiment <= hi else (POSITIVE if sentiment > hi else NEGATIVE)
            return Score(sentiment, label)
        p = self.proba(doc)
        if p is None:
            # Nothing in the text is known to the model: say so rather than echo the class prior.
            return Score(0.5, NEUTRAL)
        sentiment = float(p[self._pos] + (0.5 * p[self._neu] if self._neu >= 0 else 0.0))
        if self._neu >= 0:
            label = self.classes[int(np.argmax(p))]
        else:
            lo, hi = self.neutral_band
            label = NEUTRAL if lo <= sentiment <= hi else (POSITIVE if sentiment > hi else NEGATIVE)
        return Score(sentiment, label)

    def score_text(self, text: str) -> Score:
        return self.score(prepare(text))

    def pruned(self, max_features: int) -> SentimentModel:
        """The same model keeping only the `max_features` features with the widest weight spread.

        Scoring cost is dominated by dictionary look-ups whose cache misses grow with the table,
        and most n-gram weights of a regularised model are near zero, so pruning buys speed at a
        measured (small) cost in accuracy; see benchmarks/RESULTS-nlp.md.
        """
        if max_features <= 0 or len(self.vocabulary) <= max_features:
            return self
        spread = self.weights.max(axis=1) - self.weights.min(axis=1)
        keep = np.sort(np.argsort(-spread, kind="stable")[:max_features])
        names = [""] * len(self.vocabulary)
        for name, i in self.vocabulary.items():
            names[i] = name
        return dataclasses.replace(
            self,
            vocabulary={names[i]: j for j, i in enumerate(keep.tolist())},
            weights=np.ascontiguousarray(self.weights[keep]),
        )

    # -- persistence ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        names = [""] * len(self.vocabulary)
        for name, i in self.vocabulary.items():
            names[i] = name
        weights = np.ascontiguousarray(self.weights, dtype="<f4")
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "classes": list(self.classes),
            "features": names,
            "weights": base64.b64encode(weights.tobytes()).decode("ascii"),
            "bias": [float(b) for b in self.bias],
            "lexicon": self.lexicon,
            "emoticon_weight": self.emoticon_weight,
            "neutral_band": list(self.neutral_band),
            "meta": self.meta,
        }

    def save(self, path: Path) -> None:
        """Write the model atomically (temp file + rename) as gzip JSON."""
        path = Path(path)
        data = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        tmp = path.with_name(path.name + ".tmp")
        # mtime=0 keeps the file byte-identical across saves of the same model (clean git diffs).
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(data)
        tmp.replace(path)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SentimentModel:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ModelFileError("not a kolwatch sentiment model")
        if data.get("version") != FORMAT_VERSION:
            raise ModelFileError(
                f"model format version {data.get('version')!r}, this kolwatch reads {FORMAT_VERSION}"
            )
        try:
            names = list(data["features"])
            classes = tuple(str(c) for c in data["classes"])
            weights = np.frombuffer(base64.b64decode(data["weights"]), dtype="<f4")
            weights = weights.reshape(len(names), len(classes)).astype(np.float32)
            lo, hi = (float(v) for v in data["neutral_band"])
            return cls(
                kind=str(data["kind"]),
                classes=classes,
                vocabulary={name: i for i, name in enumerate(names)},
                weights=weights,
                bias=np.asarray([float(b) for b in data["bias"]], dtype=np.float64),
                lexicon={str(k): float(v) for k, v in dict(data.get("lexicon") or {}).items()},
                emoticon_weight=float(data.get("emoticon_weight", 0.0)),
                neutral_band=(lo, hi),
                meta=dict(data.get("meta") or {}),
            )
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"corrupt model file: {exc}") from None

    @classmethod
    def load(cls, path: Path) -> SentimentModel:
        """Load a model file; ModelFileError with a one-line reason if it cannot be used."""
        path = Path(path)
        try:
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
            data = json.loads(raw.decode("utf-8"))
        except FileNotFoundError:
            raise ModelFileError(f"model file not found: {path}") from None
        except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError, zlib.error) as exc:
            raise ModelFileError(f"cannot read model file {path}: {exc}") from None
        return cls.from_dict(data)


_stock: SentimentModel | None = None


def stock_model() -> SentimentModel:
    """The model shipped in the package (nlp/models/stock-sentiment.json.gz), loaded once."""
    global _stock
    if _stock is None:
        with resources.as_file(resources.files("nlp.models").joinpath(STOCK_MODEL)) as path:
            _stock = SentimentModel.load(path)
    return _stock


# -- training ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Matrix:
    indptr: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    n_rows: int
    n_cols: int

    @property
    def rows(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_rows), np.diff(self.indptr))

    def dot(self, w: np.ndarray, rows: np.ndarray) -> np.ndarray:
        contrib = w[self.cols] * self.vals[:, None]
        return np.stack(
            [np.bincount(rows, weights=contrib[:, k], minlength=self.n_rows) for k in range(w.shape[1])],
            axis=1,
        )

    def tdot(self, g: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                np.bincount(self.cols, weights=self.vals * g[rows, k], minlength=self.n_cols)
                for k in range(g.shape[1])
            ],
            axis=1,
        )


def _matrix(docs: Sequence[Prepared], kind: str, vocab: Mapping[str, int]) -> _Matrix:
    indptr = [0]
    cols: list[int] = []
    vals: list[float] = []
    for doc in docs:
        feats = features(doc, kind)
        if kind == "linear":
            unique = set(feats)
            known = sorted({vocab[f] for f in unique if f in vocab})
            scale = 1.0 / math.sqrt(len(unique)) if unique else 0.0
            cols.extend(known)
            vals.extend([scale] * len(known))
        else:
            counts = Counter(vocab[f] for f in feats if f in vocab)
            cols.extend(counts)
            vals.extend(float(c) for c in counts.values())
        indptr.append(len(cols))
    return _Matrix(
        indptr=np.asarray(indptr, dtype=np.int64),
        cols=np.asarray(cols, dtype=np.int64),
        vals=np.asarray(vals, dtype=np.float32),
        n_rows=len(docs),
        n_cols=len(vocab),
    )


def _build_vocabulary(docs: Sequence[Prepared], kind: str, min_df: int) -> dict[str, int]:
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(set(features(doc, kind)))
    kept = sorted(f for f, c in df.items() if c >= min_df)
    return {f: i for i, f in enumerate(kept)}


def _offsets(
    docs: Sequence[Prepared], classes: Sequence[str], lexicon: Mapping[str, float], weight: float
) -> np.ndarray:
    out = np.zeros((len(docs), len(classes)))
    if not lexicon or not weight:
        return out
    pos, neg = classes.index(POSITIVE), classes.index(NEGATIVE)
    for i, doc in enumerate(docs):
        o = weight * sum(lexicon.get(code, 0.0) for code in doc.emoticons)
        out[i, pos] += o / 2
        out[i, neg] -= o / 2
    return out


def _fit_linear(
    x: _Matrix, y: np.ndarray, n_classes: int, offsets: np.ndarray, *, l2: float, iterations: int, lr: float
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression, full-batch Adam on mean cross-entropy + l2/2 |W|^2 (bias unpenalised)."""
    rows = x.rows
    target = np.zeros((x.n_rows, n_classes))
    target[np.arange(x.n_rows), y] = 1.0
    w = np.zeros((x.n_cols, n_classes))
    b = np.log(target.mean(axis=0) + 1e-9)
    m_w, v_w = np.zeros_like(w), np.zeros_like(w)
    m_b, v_b = np.zeros_like(b), np.zeros_like(b)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, iterations + 1):
        z = x.dot(w, rows) + b + offsets
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - target) / x.n_rows
        g_w = x.tdot(g, rows) + l2 * w
        g_b = g.sum(axis=0)
        for param, grad, m, v in ((w, g_w, m_w, v_w), (b, g_b, m_b, v_b)):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return w.astype(np.float32), b


def _nb_ratio(x: _Matrix, y: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """NB log-count ratios (Wang & Manning 2012, "NBSVM") to scale binary features before the
    regression: +3 points of accuracy on Weibo posts over plain logistic regression in our runs.
    Only defined for two classes; with a neutral class every feature keeps scale 1."""
    if len(classes) != 2:
        return np.ones(x.n_cols, dtype=np.float32)
    rows = x.rows
    present = (x.vals > 0).astype(np.float64)
    pos = (
        np.bincount(x.cols, weights=present * (y[rows] == classes.index(POSITIVE)), minlength=x.n_cols) + 1.0
    )
    neg = (
        np.bincount(x.cols, weights=present * (y[rows] == classes.index(NEGATIVE)), minlength=x.n_cols) + 1.0
    )
    return np.abs(np.log((pos / pos.sum()) / (neg / neg.sum()))).astype(np.float32)


def _fit_bayes(x: _Matrix, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial naive Bayes with add-one smoothing, as snownlp's Bayes classifier does."""
    rows = x.rows
    counts = np.stack(
        [np.bincount(x.cols, weights=x.vals * (y[rows] == k), minlength=x.n_cols) for k in range(n_classes)],
        axis=1,
    )
    totals = counts.sum(axis=0)
    w = np.log((counts + 1.0) / (totals + x.n_cols))
    b = np.log(np.bincount(y, minlength=n_classes) / len(y))
    return w.astype(np.float32), b


@dataclass(frozen=True, slots=True)
class TrainOptions:
    kind: str = "linear"
    min_df: int = 2
    l2: float = 1e-5
    iterations: int = 200
    learning_rate: float = 0.1
    emoticon_weight: float = 1.5
    calibrate: bool = True
    # The neutral band is where held-out accuracy is at most this: the model is guessing there.
    band_accuracy: float = 0.6
    max_band_halfwidth: float = 0.25
    # The band may hold at most this share of the calibration posts: "neutral" is a middle, not a
    # dumping ground (the first stock model put 41% of Weibo posts there).
    max_band_share: float = 0.2
    # 0 keeps every feature; see SentimentModel.pruned.
    max_features: int = 0


def train_model(
    samples: Iterable[tuple[str, str]],
    *,
    options: TrainOptions | None = None,
    lexicon: Mapping[str, float] | None = None,
    meta: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SentimentModel:
    """Train a model from (text, label) pairs; labels as `canonical_label` accepts them.

    `kolwatch sentiment train --with-feedback` calls this with the bot's sentiment corrections
    appended to the team's labelled data (or alone, once there are a few hundred). Rows
    whose text is not Chinese are skipped, because the model never scores such text. `lexicon`
    defaults to the bundled emoticon lexicon; pass `{}` for none. Raises ValueError for unknown
    labels, fewer than two classes, or no usable rows.
    """
    options = options or TrainOptions()
    if options.kind not in KINDS:
        raise ValueError(f"unknown model kind {options.kind!r} (choose from {', '.join(KINDS)})")
    lexicon = dict(load_lexicon() if lexicon is None else lexicon)
    docs: list[Prepared] = []
    labels: list[str] = []
    skipped = 0
    for i, (text, raw_label) in enumerate(samples, 1):
        label = canonical_label(raw_label)
        doc = prepare(text)
        if doc.lang != lang_mod.ZH:
            skipped += 1
        else:
            docs.append(doc)
            labels.append(label)
        if progress is not None:
            progress(i)
    classes = tuple(c for c in (NEGATIVE, NEUTRAL, POSITIVE) if c in set(labels))
    if POSITIVE not in classes or NEGATIVE not in classes:
        raise ValueError("training data needs both positive and negative examples (Chinese text)")
    started = time.monotonic()
    band = (0.5, 0.5)
    if options.calibrate and len(classes) == 2 and len(docs) >= 200:
        train_idx = [i for i in range(len(docs)) if i % 10 != 9]
        held_idx = [i for i in range(len(docs)) if i % 10 == 9]
        trial = _fit([docs[i] for i in train_idx], [labels[i] for i in train_idx], classes, lexicon, options)
        trial = trial.pruned(options.max_features)
        scores = [trial.proba(docs[i]) for i in held_idx]
        probs = np.array([0.5 if p is None else float(p[trial._pos]) for p in scores])
        truth = np.array([labels[i] == POSITIVE for i in held_idx])
        band = calibrate_band(
            probs, truth, options.band_accuracy, options.max_band_halfwidth, options.max_band_share
        )
    model = _fit(docs, labels, classes, lexicon, options).pruned(options.max_features)
    return dataclasses.replace(
        model,
        neutral_band=band,
        meta={
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "samples": len(docs),
            "skipped_non_chinese": skipped,
            "class_counts": dict(Counter(labels)),
            "options": {k: getattr(options, k) for k in TrainOptions.__dataclass_fields__},
            "train_seconds": round(time.monotonic() - started, 2),
            **dict(meta or {}),
        },
    )


def _fit(
    docs: Sequence[Prepared],
    labels: Sequence[str],
    classes: tuple[str, ...],
    lexicon: Mapping[str, float],
    options: TrainOptions,
) -> SentimentModel:
    vocab = _build_vocabulary(docs, options.kind, options.min_df)
    x = _matrix(docs, options.kind, vocab)
    y = np.asarray([classes.index(label) for label in labels], dtype=np.int64)
    if options.kind == "linear":
        offsets = _offsets(docs, classes, lexicon, options.emoticon_weight)
        ratio = _nb_ratio(x, y, classes)
        scaled = _Matrix(x.indptr, x.cols, x.vals * ratio[x.cols], x.n_rows, x.n_cols)
        w, b = _fit_linear(
            scaled,
            y,
            len(classes),
            offsets,
            l2=options.l2,
            iterations=options.iterations,
            lr=options.learning_rate,
        )
        # Fold the NB scaling into the weights so scoring stays a plain dot product.
        w = (w * ratio[:, None]).astype(np.float32)
    else:
        w, b = _fit_bayes(x, y, len(classes))
    return SentimentModel(
        kind=options.kind,
        classes=classes,
        vocabulary=vocab,
        weights=w,
        bias=b,
        lexicon=dict(lexicon),
        emoticon_weight=options.emoticon_weight if lexicon else 0.0,
    )


def calibrate_band(
    probs: np.ndarray,
    truth: np.ndarray,
    band_accuracy: float = 0.6,
    max_halfwidth: float = 0.25,
    max_share: float = 0.2,
) -> tuple[float, float]:
    """The widest band 0.5 +- d inside which the model is barely better than a coin flip.

    `probs` are held-out positive probabilities, `truth` whether each sample is positive. d is the
    largest margin such that the samples with margin <= d have accuracy <= `band_accuracy`, with
    d <= `max_halfwidth` and at most `max_share` of all samples inside. Bands holding fewer than
    10 samples are too noisy to judge and are not chosen.
    """
    margin = np.abs(probs - 0.5)
    correct = (probs >= 0.5) == truth
    order = np.argsort(margin, kind="stable")
    limit = max_share * len(order)
    best = 0.0
    hits = 0
    for count, i in enumerate(order, 1):
        hits += int(correct[i])
        if margin[i] > max_halfwidth or count > limit:
            break
        # Only at the end of a run of equal margins: a band includes every sample at its edge.
        tie_continues = count < len(order) and margin[order[count]] == margin[i]
        if count >= 10 and not tie_continues and hits / count <= band_accuracy:
            best = float(margin[i])
    best = round(best, 4)
    return (0.5 - best, 0.5 + best)


# -- evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Accuracy, macro-F1 and the confusion matrix (rows: truth, columns: prediction)."""

    labels: tuple[str, ...]
    predicted_labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    accuracy: float
    macro_f1: float
    samples: int
    unscored: int  # counted as wrong: the model refused to judge them (not Chinese, empty)
    neutral: int  # two-class data: predictions inside the neutral band (judged by the 0.5 side)

    def format(self) -> str:
        width = max(len(label) for label in (*self.labels, *self.predicted_labels, "truth \\ predicted")) + 2
        lines = [
            f"samples   {self.samples}",
            f"accuracy  {self.accuracy:.4f}",
            f"macro-F1  {self.macro_f1:.4f}",
            f"unscored  {self.unscored} (non-Chinese or empty; counted as wrong)",
        ]
        if self.neutral:
            lines.append(f"neutral   {self.neutral} inside the neutral band (scored by which side of 0.5)")
        lines.append("")
        lines.append(
            "truth \\ predicted".ljust(width) + "".join(p.rjust(width) for p in self.predicted_labels)
        )
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(label.ljust(width) + "".join(str(v).rjust(width) for v in row))
        return "\n".join(lines)


def metrics(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> tuple[float, float]:
    """(accuracy, macro-F1 over `labels`) of two equally long label sequences."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predicted differ in length")
    if not truth:
        return 0.0, 0.0
    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)
    f1s = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return accuracy, sum(f1s) / len(f1s)


def evaluate(
    model: SentimentModel,
    samples: Iterable[tuple[str, str]],
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Score labelled samples. On two-class data (no neutral truth) the prediction is the side of
    0.5, so the result compares directly with binary baselines; the neutral count says how many
    predictions the band would have called neutral."""
    truth: list[str] = []
    scores: list[Score] = []
    for i, (text, raw_label) in enumerate(samples, 1):
        truth.append(canonical_label(raw_label))
        scores.append(model.score_text(text))
        if progress is not None:
            progress(i)
    if not truth:
        raise ValueError("no samples to evaluate")
    labels = tuple(c for c in (POSITIVE, NEUTRAL, NEGATIVE) if c in set(truth))
    three_class = NEUTRAL in labels
    predicted: list[str] = []
    neutral = 0
    for score in scores:
        if score.sentiment is None:
            predicted.append(UNSCORED)
        elif three_class:
            predicted.append(score.label)
        else:
            neutral += score.label == NEUTRAL
            predicted.append(POSITIVE if score.sentiment >= 0.5 else NEGATIVE)
    columns = labels + tuple(c for c in (NEUTRAL, UNSCORED) if c in predicted and c not in labels)
    confusion = tuple(
        tuple(
            sum(1 for t, p in zip(truth, predicted, strict=True) if t == row and p == col) for col in columns
        )
        for row in labels
    )
    accuracy, macro_f1 = metrics(truth, predicted, labels)
    return Evaluation(
        labels=labels,
        predicted_labels=columns,
        confusion=confusion,
        accuracy=accuracy,
        macro_f1=macro_f1,
        samples=len(truth),
        unscored=predicted.count(UNSCORED),
        neutral=neutral,
    )
