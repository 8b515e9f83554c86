"""`make bench`: every benchmark and evaluation, one after another, each printing its own table.

Each one measures its ratios within its own run (e.g. kolwatch vs stock snownlp, 1 watch vs 1,000),
so a noisy shared machine changes absolute numbers but not the comparisons. Data from the shared
folder is read from $KOLWATCH_SHARED (default: ../shared beside the checkout); a benchmark that needs
it and cannot find it says so and is counted as skipped.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, arguments, what it measures)
BENCHMARKS: list[tuple[str, list[str], str]] = [
    ("bench_nlp.py", [], "sentiment accuracy/F1 vs snownlp, analyze throughput, memory"),
    ("bench_match.py", [], "watch matching: 1 vs 1,000 watches"),
    ("eval_detectors.py", [], "spike/shift detectors on the real hot-search history"),
    ("eval_replay.py", [], "the same evaluation end to end through kolwatch replay"),
    ("bench_kol.py", [], "KOL ranking: planted fakes precision/recall, 10k vs 100k time"),
    ("bench_kol_db.py", [], "KOL job, database side: read/rank/store a watch's pool of 1k and 10k authors"),
    ("bench_bot_queries.py", [], "bot query latency on 1,000,000 stored posts"),
]


def main() -> int:
    results: list[tuple[str, str, float]] = []
    for script, args, what in BENCHMARKS:
        print(f"\n=== {script}: {what}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / script), *args], cwd=HERE.parent)
        elapsed = time.monotonic() - started
        results.append((script, "ok" if code == 0 else f"exit {code}", elapsed))
    print("\n=== summary")
    print(f"{'benchmark':<24} {'result':<10} {'seconds':>8}")
    for script, outcome, elapsed in results:
        print(f"{script:<24} {outcome:<10} {elapsed:>8.1f}")
    return 0 if all(outcome == "ok" for _, outcome, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
