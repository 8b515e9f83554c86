"""`make bench`: every benchmark and evaluation, one after another, each printing its own table.

Each one measures its ratios within its own run (e.g. kolwatch vs stock snownlp, 1 watch vs 1,000),
so a noisy shared machine changes absolute numbers but not the comparisons. Data from the shared
folder is read from $KOLWATCH_SHARED (default: ../shared beside the checkout); a benchmark that needs
it and cannot find it prints a line starting with "skipped:" and exits 0, and is reported as
skipped (never as ok). The run fails when any benchmark fails; skipped ones are listed.
"""

from __future__ import annotations

import os
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
    # `make bench` runs under scripts/with-postgres.sh, which sets TEST_DATABASE_URL to a throw-away
    # cluster; the same rows are copied there (its schema is dropped first).
    ("bench_bot_queries.py", ["--postgres", "$TEST_DATABASE_URL"], "the same on PostgreSQL"),
]


SKIP_PREFIX = "skipped:"


def run_one(script: str, args: list[str]) -> str:
    """Run one benchmark, echoing its output as it comes; "ok", "skipped" or "exit N"."""

    skipped = False
    if "$TEST_DATABASE_URL" in args:
        url = os.environ.get("TEST_DATABASE_URL", "")
        if not url:
            print(f"{SKIP_PREFIX} no PostgreSQL (TEST_DATABASE_URL is not set; make bench sets it)")
            return "skipped"
        args = [url if a == "$TEST_DATABASE_URL" else a for a in args]
    with subprocess.Popen(
        [sys.executable, "-u", str(HERE / script), *args],
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            skipped = skipped or line.startswith(SKIP_PREFIX)
    return outcome(proc.returncode, skipped)


def outcome(code: int, skipped: bool) -> str:
    if code != 0:
        return f"exit {code}"
    return "skipped" if skipped else "ok"


def main() -> int:
    results: list[tuple[str, str, float]] = []
    for script, args, what in BENCHMARKS:
        name = f"{script} {args[0]}" if args else script
        print(f"\n=== {name}: {what}", flush=True)
        started = time.monotonic()
        result = run_one(script, args)
        results.append((name, result, time.monotonic() - started))
    print("\n=== summary")
    print(f"{'benchmark':<34} {'result':<10} {'seconds':>8}")
    for name, result, elapsed in results:
        print(f"{name:<34} {result:<10} {elapsed:>8.1f}")
    skipped = [script for script, result, _ in results if result == "skipped"]
    if skipped:
        print(f"skipped (no data under $KOLWATCH_SHARED, or no PostgreSQL): {', '.join(skipped)}")
    return 0 if all(result in ("ok", "skipped") for _, result, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
