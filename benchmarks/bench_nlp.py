"""NLP benchmark: sentiment accuracy against snownlp, analyze throughput, memory, dedup threshold.

    .venv/bin/python benchmarks/bench_nlp.py [--quick] [--full-memory] [--write-results]

Reads the evaluation-only data from $KOLWATCH_SHARED/data (default ../shared/data) and skips with
a message when it is absent. Prints Markdown tables; --write-results also writes them to
benchmarks/RESULTS-nlp.md. Weibo 2018 is split by crc32(mid) % 5 (see nlp_data.py): stock models
are scored on the held-out fifth; "trained" rows are `train_model` on the other four fifths.
Review sets are scored on a deterministic sample (every k-th row) to keep snownlp's time bounded.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nlp_data

from nlp import dedup
from nlp.analyze import analyze
from nlp.sentiment import TrainOptions, evaluate, metrics, stock_model, train_model
from nlp.types import NEGATIVE, NEUTRAL, POSITIVE, UNSCORED

Samples = list[tuple[str, str]]
OUT: list[str] = []


def emit(line: str = "") -> None:
    print(line, flush=True)
    OUT.append(line)


def sample_every(rows: Samples, limit: int) -> Samples:
    step = max(1, len(rows) // limit)
    return rows[::step][:limit]


def snownlp_predict(texts: Sequence[str]) -> tuple[list[str], float]:
    from snownlp import SnowNLP

    started = time.perf_counter()
    preds = []
    for text in texts:
        # snownlp raises ZeroDivisionError on texts with no Chinese content; count those as neutral-wrong.
        try:
            preds.append(POSITIVE if SnowNLP(text).sentiments >= 0.5 else NEGATIVE)
        except ZeroDivisionError:
            preds.append("error")
    return preds, time.perf_counter() - started


def row(name: str, data: str, n: int, acc: float, f1: float, note: str = "") -> None:
    emit(f"| {data} | {name} | {n} | {acc:.4f} | {f1:.4f} | {note} |")


def majority(train_labels: Sequence[str], truth: Sequence[str]) -> tuple[float, float]:
    most = max((POSITIVE, NEGATIVE), key=list(train_labels).count)
    return metrics(truth, [most] * len(truth), (POSITIVE, NEGATIVE))


def sentiment_section(quick: bool) -> float:
    """Accuracy table; returns snownlp's posts/s on Weibo posts (for the throughput ratio)."""
    train, held = nlp_data.weibo2018()
    if quick:
        held = sample_every(held, 400)
    truth = [label for _, label in held]
    emit("## Sentiment: accuracy and macro-F1 (binary: prediction = side of 0.5)")
    emit()
    emit("| data | model | n | accuracy | macro-F1 | note |")
    emit("|---|---|---|---|---|---|")
    acc, f1 = majority([label for _, label in train], truth)
    row("majority class (from train split)", "weibo2018 held-out 1/5", len(held), acc, f1)
    preds, seconds = snownlp_predict([t for t, _ in held])
    snow_rate = len(held) / seconds
    acc, f1 = metrics(truth, preds, (POSITIVE, NEGATIVE))
    row(
        "snownlp stock `SnowNLP(t).sentiments`",
        "weibo2018 held-out 1/5",
        len(held),
        acc,
        f1,
        f"{snow_rate:.0f} posts/s",
    )
    result = evaluate(stock_model(), held)
    row(
        "kolwatch stock model",
        "weibo2018 held-out 1/5",
        len(held),
        result.accuracy,
        result.macro_f1,
        f"{result.neutral} in neutral band",
    )
    STOCK_LABELS.append(_label_distribution(held))
    for kind in ("bayes", "linear"):
        started = time.perf_counter()
        model = train_model(train, options=TrainOptions(kind=kind))
        took = time.perf_counter() - started
        result = evaluate(model, held)
        label = (
            "snownlp-style Bayes on jieba tokens"
            if kind == "bayes"
            else "linear (NB-LR, char 1-3-grams + tokens)"
        )
        row(
            f"kolwatch {label}, trained on 4/5",
            "weibo2018 held-out 1/5",
            len(held),
            result.accuracy,
            result.macro_f1,
            f"train {took:.0f}s, band {model.neutral_band[0]:.2f}-{model.neutral_band[1]:.2f}",
        )
        if kind == "linear":
            weibo_linear = model
    for name in ("waimai_10k", "online_shopping_10_cats"):
        rows = sample_every(nlp_data.review_set(name), 300 if quick else 2000)
        truth_r = [label for _, label in rows]
        acc, f1 = majority(truth_r, truth_r)
        row("majority class (of this sample)", name, len(rows), acc, f1)
        preds, _ = snownlp_predict([t for t, _ in rows])
        acc, f1 = metrics(truth_r, preds, (POSITIVE, NEGATIVE))
        note = "snownlp trained on part of this set" if name == "online_shopping_10_cats" else ""
        row("snownlp stock", name, len(rows), acc, f1, note)
        for label, model in (
            ("kolwatch stock model", stock_model()),
            ("kolwatch linear trained on Weibo", weibo_linear),
        ):
            result = evaluate(model, rows)
            note = (
                "stock trained on snownlp corpus"
                if label.endswith("stock model") and name.startswith("online")
                else ""
            )
            row(label, name, len(rows), result.accuracy, result.macro_f1, note)
    emit()
    return snow_rate


STOCK_LABELS: list[str] = []


def _label_distribution(held: Samples) -> str:
    """Three-way labels of the stock model on held-out posts, and how good the decided ones are."""
    model = stock_model()
    counts = {POSITIVE: 0, NEUTRAL: 0, NEGATIVE: 0, UNSCORED: 0}
    decided_truth: list[str] = []
    decided_pred: list[str] = []
    for text, truth in held:
        label = model.score_text(text).label
        counts[label] += 1
        if label in (POSITIVE, NEGATIVE):
            decided_truth.append(truth)
            decided_pred.append(label)
    acc, f1 = metrics(decided_truth, decided_pred, (POSITIVE, NEGATIVE))
    n = len(held)
    lo, hi = model.neutral_band
    shares = ", ".join(f"{label} {c / n:.1%}" for label, c in counts.items())
    return (
        f"Stock model labels on the held-out fifth (neutral band {lo:.3f}-{hi:.3f}): {shares}. "
        f"On the {len(decided_truth)} posts it labels positive or negative: accuracy {acc:.4f}, "
        f"macro-F1 {f1:.4f}."
    )


def _stage_profile(texts: Sequence[str]) -> list[tuple[str, float]]:
    """Microseconds per post of each analyze stage, run stage by stage over `texts`, cold caches."""
    from nlp import keywords, lang
    from nlp.segment import get_segmenter
    from nlp.sentiment import Prepared
    from nlp.text import normalize

    model = stock_model()
    seg = get_segmenter()
    seg._cache.clear()
    stages: list[tuple[str, float]] = []

    def timed(name: str, fn: Callable[[], object]) -> object:
        started = time.perf_counter()
        out = fn()
        stages.append((name, (time.perf_counter() - started) / len(texts) * 1e6))
        return out

    norms = timed("normalise (nlp.text)", lambda: [normalize(t) for t in texts])
    bodies = [n.body for n in norms]  # type: ignore[attr-defined]
    langs = timed("language (nlp.lang)", lambda: [lang.detect(b) for b in bodies])
    toks = timed("segment (nlp.segment, cold clause cache)", lambda: [tuple(seg.tokenize(b)) for b in bodies])
    timed("keywords (TF-IDF)", lambda: [keywords.tfidf(t, 5) for t in toks])  # type: ignore[attr-defined]
    docs = [
        Prepared(b, t, n.emoticons, la)
        for b, t, n, la in zip(bodies, toks, norms, langs, strict=True)  # type: ignore[call-overload]
    ]
    timed("sentiment (stock model)", lambda: [model.score(d) for d in docs])
    timed(
        "MinHash signature (batched)",
        lambda: dedup.signatures_of([dedup.reduce_body(b) for b in bodies]),
    )
    return stages


def _cold() -> None:
    from nlp.analyze import cache
    from nlp.segment import get_segmenter

    cache.clear()
    get_segmenter()._cache.clear()


def throughput_section(snow_rate: float, quick: bool) -> None:
    train, held = nlp_data.weibo2018()
    texts = [t for t, _ in held + train]
    if quick:
        texts = texts[:500]
    model = stock_model()
    analyze(texts[:50], model=model)  # load jieba, the IDF table and the model outside the timing
    from nlp.analyze import cache

    # Every run starts cold (no clause or text cache): repeated runs over the same texts would
    # otherwise be served from the caches and overstate the rate. Batches of 256 as the CLI does.
    rates = []
    for _ in range(3):
        _cold()
        started = time.perf_counter()
        for i in range(0, len(texts), 256):
            analyze(texts[i : i + 256], model=model)
        rates.append(len(texts) / (time.perf_counter() - started))
    rate = max(rates)
    hits = cache.hits
    mean_len = sum(map(len, texts)) / len(texts)
    emit(f"## Throughput (one core, {len(texts):,} Weibo posts, mean length {mean_len:.0f} chars)")
    emit()
    emit("| path | posts/s | ratio to snownlp |")
    emit("|---|---|---|")
    emit(f"| snownlp `SnowNLP(t).sentiments` alone (held-out fifth, same run) | {snow_rate:.0f} | 1.0x |")
    path = "kolwatch `analyze()` (normalise, segment, keywords, sentiment, MinHash), cold caches"
    emit(f"| {path} | {rate:.0f} | {rate / snow_rate:.1f}x |")
    emit()
    emit(f"Best of 3 cold runs; repeated raw texts served from the text cache over the 3 runs: {hits}.")
    emit()
    emit("Per stage (microseconds per post, one pass each, cold caches):")
    emit()
    emit("| stage | us/post |")
    emit("|---|---|")
    stages = _stage_profile(texts)
    for name, us in stages:
        emit(f"| {name} | {us:.0f} |")
    emit(f"| sum of stages | {sum(us for _, us in stages):.0f} |")
    emit()
    if STOCK_LABELS:
        emit(STOCK_LABELS[0])
        emit()


def _rss_run(count: int, texts: Sequence[str]) -> tuple[float, float]:
    """Run the analyze command code in a child over `count` lines; (max RSS MB, seconds)."""
    script = (
        "import sys\n"
        "from kolwatch.commands.analyze import stream\n"
        "stream(sys.stdin.buffer, open('/dev/null', 'w'), jsonl=False, model_path=None, err=sys.stderr)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss of the forking parent across exec.
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    rng = random.Random(7)
    lines = io.BytesIO()
    for i in range(count):
        # Unique lines (a counter and a shuffled tail) so caches cannot make the run look flat.
        base = texts[i % len(texts)]
        tail = "".join(rng.sample(base, min(5, len(base))))
        lines.write(f"{base} {i} {tail}\n".replace("\n", " ").rstrip().encode() + b"\n")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=lines.getvalue(),
        capture_output=True,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    took = time.perf_counter() - started
    return int(proc.stdout.decode().split()[-1]) / 1024, took


def memory_section(full: bool, quick: bool) -> None:
    _, held = nlp_data.weibo2018()
    texts = [t.replace("\n", " ") for t, _ in held]
    counts = [1_000, 5_000] if quick else [2_000, 20_000, 100_000]
    if full:
        counts.append(1_000_000)
    emit("## Memory: `kolwatch analyze` streaming stdin -> stdout (max RSS of the process)")
    emit()
    emit("| posts | max RSS MB | seconds |")
    emit("|---|---|---|")
    results = []
    for count in counts:
        rss, took = _rss_run(count, texts)
        results.append((count, rss))
        emit(f"| {count:,} | {rss:.0f} | {took:.0f} |")
    (n0, r0), (n1, r1) = results[0], results[-1]
    per_100k = (r1 - r0) / (n1 - n0) * 100_000
    emit()
    emit(
        f"RSS growth {r1 - r0:.0f} MB over {n1 - n0:,} more posts ({per_100k:.1f} MB per 100k posts; "
        "the segmenter's clause cache is capped at 200k entries, the text cache at 20k)."
    )
    emit()


def _edits(text: str, rng: random.Random) -> list[Callable[[str], str]]:
    def swap_chars(t: str) -> str:
        chars = list(t)
        for _ in range(max(1, len(chars) // 30)):
            i = rng.randrange(len(chars))
            chars[i] = "的"
        return "".join(chars)

    return [
        lambda t: f"@用户{rng.randint(1, 99999)} {t} [doge]",
        lambda t: f"{t}//@水军{rng.randint(1, 999)}: 转发微博",
        lambda t: t.replace("，", " ").replace("。", "!!") + " 😂",
        swap_chars,
        lambda t: t + "大家快来看看吧",
    ]


def dedup_section(quick: bool) -> None:
    train, held = nlp_data.weibo2018()
    texts = [t for t, _ in train + held]
    if quick:
        texts = texts[:2000]
    rng = random.Random(11)
    reduced = [dedup.dedup_text(t) for t in texts]
    long_enough = [i for i, r in enumerate(reduced) if len(r) >= 10]
    chosen = rng.sample(long_enough, min(500, len(long_enough)))
    copies = []
    for i in chosen:
        for edit in _edits(texts[i], rng):
            copies.append((reduced[i], dedup.dedup_text(edit(texts[i]))))
    # Background: random pairs of different posts, and the most similar distinct pairs LSH finds.
    pairs = [(rng.choice(reduced), rng.choice(reduced)) for _ in range(20_000)]
    index = dedup.NearDuplicateIndex(threshold=0.5)
    sigs = [dedup.signature_of(r) for r in reduced]
    close: list[float] = []
    for i, sig in enumerate(sigs):
        for j in index.query(sig):
            if reduced[i] != reduced[j]:  # type: ignore[index]
                close.append(dedup.jaccard(reduced[i], reduced[j]))  # type: ignore[index]
        index.add(i, sig)
    emit(f"## Near-duplicates: char-shingle Jaccard on {len(texts):,} real Weibo posts")
    emit()
    emit(
        f"| threshold | recall on edited copies (n={len(copies)}) | random pairs >= t (n=20k) "
        "| distinct corpus pairs >= t |"
    )
    emit("|---|---|---|---|")
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        recall = sum(dedup.jaccard(a, b) >= t for a, b in copies) / len(copies)
        fp = sum(a != b and dedup.jaccard(a, b) >= t for a, b in pairs)
        distinct = sum(s >= t for s in close)
        emit(f"| {t:.1f} | {recall:.3f} | {fp} | {distinct} |")
    est = [
        abs(dedup.similarity(dedup.signature_of(a), dedup.signature_of(b)) - dedup.jaccard(a, b))
        for a, b in copies
    ]
    emit()
    emit(
        f"MinHash ({dedup.NUM_PERM} permutations) mean absolute error vs exact Jaccard on the copies: "
        f"{sum(est) / len(est):.3f}. LSH bands at 0.7: {dedup.choose_bands(0.7)} (bands, rows)."
    )
    emit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small samples (a smoke run)")
    parser.add_argument("--full-memory", action="store_true", help="also stream 1,000,000 posts")
    parser.add_argument("--write-results", action="store_true", help="write benchmarks/RESULTS-nlp.md")
    args = parser.parse_args()
    if not (nlp_data.data_dir() / "sentiment" / "weibo2018_train.csv").is_file():
        print(f"skipped: no evaluation data at {nlp_data.data_dir()} (set KOLWATCH_SHARED)")
        return 0
    if hasattr(os, "sched_setaffinity"):
        # One core for everything (snownlp, analyze, the memory children inherit it): the
        # throughput goal is per core, and a second core would flatter the numpy parts.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    emit("# kolwatch NLP benchmark")
    emit()
    snow_rate = sentiment_section(args.quick)
    throughput_section(snow_rate, args.quick)
    memory_section(args.full_memory, args.quick)
    dedup_section(args.quick)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit(f"(python {sys.version.split()[0]}, bench process peak RSS {peak:.0f} MB)")
    if args.write_results:
        (Path(__file__).resolve().parent / "RESULTS-nlp.md").write_text(
            "\n".join(OUT) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
