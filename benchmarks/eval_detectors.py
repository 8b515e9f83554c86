"""Evaluation harness for the nlp.trends detectors on real Weibo hot-search history and synthetic streams.

Run: `python benchmarks/eval_detectors.py [--write]` (reads $KOLWATCH_SHARED/data/trending, default
the `shared` directory next to the repository). Prints tables; `--write` also writes
benchmarks/RESULTS-detectors.md.

What it measures (goals from issue 4):
- synthetic quiet keys: Poisson-gamma (overdispersed) hourly counts whose mean follows the real
  hour-by-hour activity of the Weibo hot list (January 2025, repeated) at 5-300 posts/h, split
  into 5-minute buckets evenly or bunched (WITHIN_HOUR), through both volume paths as the alert job
  runs them (5-minute update_fast against the hourly model, hourly update_volume, one incident):
  false alerts per key per 30 days (goal <= 1);
- synthetic bursts injected on top of that background: detection rate and delay in hours from the
  onset hour's start to the closing of the bucket that fired (goal: median <= 1 hour bucket);
  sentiment shifts likewise for the CUSUM detector (delay in buckets);
- the real incidents of reference_events_2025-01.csv replayed as hourly keyword series (summed heat
  of matching titles, in units of 10k heat, as pseudo-volume) through the volume and hot-list
  detectors: delay from first list appearance, and alert episodes per incident (goal: 1 plus
  escalations).

Alerts are counted after the episode rule the alert rules apply (bot/alerts.py): per key, a
detection within `cooldown` hours (24 h for volume and sentiment) of the previous detection
continues the open episode and only alerts again when its level escalates. `--quick`,
`--volume-only` and `--no-fast` make smaller runs for iterating. The series-building
functions are importable so the same evaluation can be re-run end to end through `kolwatch replay`.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from collectors.base import HotEntry  # noqa: E402
from nlp.trends import (  # noqa: E402
    HOT_LIST,
    SENTIMENT_SHIFT,
    VOLUME_SPIKE,
    Detection,
    DetectorSettings,
    FastState,
    HotlistState,
    Level,
    SentimentState,
    VolumeState,
    level_for,
    update_fast,
    update_hotlist,
    update_sentiment,
    update_volume,
)

CST = timezone(timedelta(hours=8))
HOUR = timedelta(hours=1)
JAN_START = datetime(2025, 1, 1, tzinfo=CST)
JAN_HOURS = 31 * 24


def shared_dir() -> Path:
    return Path(os.environ.get("KOLWATCH_SHARED", REPO / ".." / "shared"))


def trending_dir() -> Path:
    return shared_dir() / "data" / "trending"


# --- real data -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One hot-list entry of one hourly snapshot."""

    hour: datetime  # snapshot hour start, Asia/Shanghai
    rank: int | None
    title: str
    heat: int
    ads: bool
    pinned: bool


def load_hourly(path: Path | None = None) -> dict[datetime, list[Row]]:
    """Hourly snapshots keyed by hour start (CST). Hour 08 is missing every day in the source."""

    path = path or trending_dir() / "weibo_hot_hourly_2025-01.csv"
    snapshots: dict[datetime, list[Row]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as f:
        for rec in csv.DictReader(f):
            hour = datetime.fromisoformat(rec["snapshot_date"]).replace(
                hour=int(rec["snapshot_hour"]), tzinfo=CST
            )
            snapshots[hour].append(
                Row(
                    hour=hour,
                    rank=int(rec["band_rank"]) if rec["band_rank"] else None,
                    title=rec["title"],
                    heat=int(rec["hot"] or 0),
                    ads=rec["ads"] == "1",
                    pinned=rec["pinned"] == "1",
                )
            )
    return dict(snapshots)


def hour_grid(start: datetime = JAN_START, hours: int = JAN_HOURS) -> list[datetime]:
    return [start + i * HOUR for i in range(hours)]


def filled(snapshots: dict[datetime, list[Row]], grid: Sequence[datetime]) -> list[list[Row]]:
    """Rows per grid hour, forward-filling missing snapshots (the daily 08h gap) with the previous one."""

    out: list[list[Row]] = []
    last: list[Row] = []
    for hour in grid:
        last = snapshots.get(hour, last)
        out.append(last)
    return out


def keyword_series(rows_by_hour: Sequence[list[Row]], pattern: str) -> list[list[Row]]:
    """Per hour, the non-ad entries whose title matches the regex (one keyword series)."""

    rx = re.compile(pattern, re.IGNORECASE)
    return [[r for r in rows if not r.ads and rx.search(r.title)] for rows in rows_by_hour]


def heat_units(rows: Iterable[Row]) -> int:
    """Pseudo-volume of one hour: summed heat in units of 10k (rank 50 ~ 10 units, rank 1 ~ 118)."""

    return round(sum(r.heat for r in rows) / 10_000)


def activity_profile(rows_by_hour: Sequence[list[Row]]) -> list[float]:
    """Relative platform activity per hour, mean 1: summed heat of ranks 11-50 (the top 10 is
    dominated by single giant topics such as 新年快乐 at 10M heat)."""

    totals = [
        sum(r.heat for r in rows if not r.ads and r.rank and 11 <= r.rank <= 50) for rows in rows_by_hour
    ]
    mean = statistics.fmean(totals)
    return [t / mean for t in totals]


def typical_profile(profile: Sequence[float], grid: Sequence[datetime]) -> list[float]:
    """The median of each hour-of-week slot: real daily and weekly rhythm without one-off surges."""

    slots: dict[int, list[float]] = defaultdict(list)
    for t, x in zip(grid, profile, strict=True):
        slots[t.weekday() * 24 + t.hour].append(x)
    medians = {k: statistics.median(v) for k, v in slots.items()}
    return [medians[t.weekday() * 24 + t.hour] for t in grid]


def load_events(path: Path | None = None) -> list[dict[str, str]]:
    path = path or trending_dir() / "reference_events_2025-01.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --- the episode rule ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    at: datetime
    key: str
    level: Level
    escalation: bool
    detection: Detection


def episode_alerts(
    detections: Iterable[Detection],
    cooldown: timedelta = timedelta(hours=6),
    story: timedelta = timedelta(hours=24),
) -> list[Alert]:
    """Alerts left after the cooldown/escalation rule, per (kind, key, subject); volume and
    sentiment incidents stay open for `story` (bot/alerts.py RuleSettings.story_hours)."""

    open_until: dict[tuple[str, str, str], tuple[datetime, Level]] = {}
    out: list[Alert] = []
    for d in sorted(detections, key=lambda d: d.bucket_start):
        # One incident per watch on the hot list (many titles, one story); per subject otherwise.
        ident = (d.kind, d.key, "" if d.kind == HOT_LIST else d.subject)
        level = level_for(d)
        prev = open_until.get(ident)
        gap = max(cooldown, story) if d.kind in (VOLUME_SPIKE, SENTIMENT_SHIFT) else cooldown
        if prev is None or d.bucket_start - prev[0] > gap:
            out.append(Alert(d.bucket_start, d.key, level, False, d))
            open_until[ident] = (d.bucket_start, level)
        else:
            if level > prev[1]:
                out.append(Alert(d.bucket_start, d.key, level, True, d))
            open_until[ident] = (d.bucket_start, max(level, prev[1]))
    return out


# --- synthetic streams -----------------------------------------------------------------------


def overdispersed(rng: random.Random, mean: float, shape: float = 20.0) -> int:
    """Poisson-gamma (negative binomial) draw: social counts vary more than Poisson."""

    if mean <= 0:
        return 0
    return poisson(rng, rng.gammavariate(shape, mean / shape))


def poisson(rng: random.Random, lam: float) -> int:
    # Knuth for small means, normal approximation for large ones (exact enough for an eval).
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


# How the posts of an hour fall into its twelve 5-minute buckets: "even" spreads them uniformly
# (multinomial, what eval_replay did before), "bunched" gives each bucket its own gamma factor of
# shape 8 (coefficient of variation 0.35: replies and reposts come in clumps). No per-minute data
# was available to measure this; the goals are checked under both.
WITHIN_HOUR: dict[str, float | None] = {"even": None, "bunched": 8.0}


def five_minute_counts(
    rng: random.Random, hourly_means: Sequence[float], *, within: float | None, shape: float = 20.0
) -> list[int]:
    """12 counts per hour: an hourly rate drawn from gamma(shape) around the mean (overdispersed
    hours), then spread over the hour as `within` says (see WITHIN_HOUR)."""

    out: list[int] = []
    for mean in hourly_means:
        lam = rng.gammavariate(shape, mean / shape) if mean > 0 else 0.0
        if within is None:
            sub = [0] * 12
            for _ in range(poisson(rng, lam)):
                sub[rng.randrange(12)] += 1
        else:
            sub = [poisson(rng, rng.gammavariate(within, lam / 12 / within)) for _ in range(12)]
        out.extend(sub)
    return out


def hourly(counts5: Sequence[int]) -> list[int]:
    return [sum(counts5[i : i + 12]) for i in range(0, len(counts5), 12)]


def run_volume(
    counts: Sequence[int], grid: Sequence[datetime], key: str, settings: DetectorSettings
) -> list[Detection]:
    """The hourly path alone (real-incident heat series have no 5-minute resolution)."""

    state = VolumeState.new(3600)
    out: list[Detection] = []
    for t, c in zip(grid, counts, strict=True):
        state, d = update_volume(state, key, t, c, settings)
        if d is not None:
            out.append(d)
    return out


@dataclass(frozen=True, slots=True)
class Fired:
    known_at: datetime  # when the bucket closed (what a user waits for)
    bucket_s: int
    detection: Detection


def run_job_volume(
    counts5: Sequence[int],
    grid: Sequence[datetime],
    key: str,
    settings: DetectorSettings,
    *,
    fast: bool = True,
) -> list[Fired]:
    """Both volume paths as kolwatch.jobs runs them: every 5-minute bucket against the hourly model
    as it stands after the hours before it (update_fast), then each hour (update_volume), in order
    of bucket end."""

    hour_state, fast_state = VolumeState.new(3600), FastState.new(300)
    out: list[Fired] = []
    five = timedelta(minutes=5)
    for i, t in enumerate(grid):
        if fast:
            for j in range(12):
                start = t + j * five
                fast_state, d = update_fast(fast_state, hour_state, key, start, counts5[12 * i + j], settings)
                if d is not None:
                    out.append(Fired(start + five, 300, d))
        hour_state, d = update_volume(hour_state, key, t, sum(counts5[12 * i : 12 * i + 12]), settings)
        if d is not None:
            out.append(Fired(t + HOUR, 3600, d))
    return out


def job_episodes(fired: Iterable[Fired], story: timedelta = timedelta(hours=24)) -> list[tuple[Fired, bool]]:
    """The rules' incident rule for volume (both paths feed one incident): (alert, is escalation)."""

    out: list[tuple[Fired, bool]] = []
    last: Fired | None = None
    level = Level.BLUE
    for f in sorted(fired, key=lambda f: f.known_at):
        lv = level_for(f.detection)
        if last is None or f.detection.bucket_start - last.detection.bucket_start > story:
            out.append((f, False))
            level = lv
        elif lv > level:
            out.append((f, True))
            level = lv
        last = f
    return out


BURST_SHAPE = (1.0, 1.0, 0.8, 0.6, 0.4, 0.25)  # multiplier share per hour after onset


def synthetic_volume(
    profile: Sequence[float],
    settings: DetectorSettings,
    *,
    bases: Sequence[float] = (5, 20, 40, 100, 300),
    multipliers: Sequence[float] = (3, 5, 10),
    within: Sequence[str] = tuple(WITHIN_HOUR),
    keys_per_base: int = 8,
    repeats: int = 3,
    warmup_days: int = 14,
    fast: bool = True,
    seed: int = 7,
) -> tuple[list[tuple], list[tuple], dict[str, float], list[float]]:
    """False alerts on quiet keys and delays on injected bursts, both volume paths as the job runs
    them. Returns (quiet rows, burst rows, false alerts per key per 30 days by within-hour model,
    all delays in hours from the onset hour's start to the alert)."""

    rng = random.Random(seed)
    intensity = list(profile) * repeats
    grid = hour_grid(JAN_START - timedelta(days=31 * (repeats - 1)), len(intensity))
    eval_from = grid[warmup_days * 24]
    eval_days = (len(grid) - warmup_days * 24) / 24
    quiet_rows: list[tuple] = []
    burst_rows: list[tuple] = []
    overall: dict[str, float] = {}
    all_delays: list[float] = []
    for mode in within:
        shape5 = WITHIN_HOUR[mode]
        total = 0
        for base in bases:
            false = fast_false = 0
            for _ in range(keys_per_base):
                counts = five_minute_counts(rng, [base * x for x in intensity], within=shape5)
                alerts = [
                    f
                    for f, esc in job_episodes(run_job_volume(counts, grid, "quiet", settings, fast=fast))
                    if not esc and f.detection.bucket_start >= eval_from
                ]
                false += len(alerts)
                fast_false += sum(1 for f in alerts if f.bucket_s == 300)
            total += false
            per30 = false / keys_per_base / eval_days * 30
            quiet_rows.append(
                (mode, base, keys_per_base, round(eval_days), false, fast_false, f"{per30:.2f}")
            )
            for m in multipliers:
                delays: list[float] = []
                missed = fast_first = 0
                episodes: list[int] = []
                for _ in range(keys_per_base):
                    onset = rng.randrange(warmup_days * 24 + 48, len(grid) - 48)
                    means = [base * x for x in intensity]
                    for i, share in enumerate(BURST_SHAPE):
                        means[onset + i] *= 1 + (m - 1) * share
                    counts = five_minute_counts(rng, means, within=shape5)
                    start = grid[onset]
                    alerts = [
                        (f, esc)
                        for f, esc in job_episodes(run_job_volume(counts, grid, "burst", settings, fast=fast))
                        if start <= f.detection.bucket_start < start + (len(BURST_SHAPE) + 6) * HOUR
                    ]
                    if alerts:
                        first = alerts[0][0]
                        delays.append((first.known_at - start).total_seconds() / 3600)
                        fast_first += first.bucket_s == 300
                        episodes.append(sum(1 for _, esc in alerts if not esc))
                    else:
                        missed += 1
                all_delays.extend(delays)
                burst_rows.append(
                    (
                        mode,
                        base,
                        m,
                        keys_per_base,
                        keys_per_base - missed,
                        f"{statistics.median(delays):.2f}" if delays else "-",
                        f"{max(delays):.2f}" if delays else "-",
                        fast_first,
                        max(episodes) if episodes else "-",
                    )
                )
        overall[mode] = total / (len(bases) * keys_per_base) / eval_days * 30
    return quiet_rows, burst_rows, overall, all_delays


def synthetic_sentiment(
    profile: Sequence[float],
    settings: DetectorSettings,
    *,
    bases: Sequence[float] = (10, 40, 150),
    baseline_share: float = 0.15,
    rises: Sequence[float] = (0.2, 0.3),
    keys_per_base: int = 8,
    repeats: int = 3,
    warmup_days: int = 14,
    seed: int = 11,
) -> tuple[list[tuple], list[tuple]]:
    rng = random.Random(seed)
    intensity = list(profile) * repeats
    grid = hour_grid(JAN_START - timedelta(days=31 * (repeats - 1)), len(intensity))
    eval_from = warmup_days * 24
    eval_days = (len(grid) - eval_from) / 24

    index = {t: i for i, t in enumerate(grid)}

    def run(shares: Sequence[float], base: float) -> list[int]:
        """Bucket indexes of the alerts (the detector reports every bucket of a shift; the
        episode rule keeps the first of each incident, as bot/alerts.py does)."""

        state = SentimentState()
        found: list[Detection] = []
        for i, (t, x) in enumerate(zip(grid, intensity, strict=True)):
            n = overdispersed(rng, base * x)
            # Topic mix makes the real negative share wobble from hour to hour (beta noise).
            p = min(0.99, max(0.0, rng.betavariate(40 * shares[i], 40 * (1 - shares[i]))))
            neg = sum(1 for _ in range(n) if rng.random() < p)
            state, d = update_sentiment(state, "s", t, neg, n, settings)
            if d is not None:
                found.append(d)
        return [index[a.at] for a in episode_alerts(found) if not a.escalation]

    quiet_rows, shift_rows = [], []
    for base in bases:
        false = 0
        for _ in range(keys_per_base):
            fired = run([baseline_share] * len(grid), base)
            false += sum(1 for i in fired if i >= eval_from)
        quiet_rows.append((base, keys_per_base, false, round(false / keys_per_base / eval_days * 30, 2)))
        for rise in rises:
            delays, missed = [], 0
            for _ in range(keys_per_base):
                onset = rng.randrange(eval_from + 48, len(grid) - 72)
                shares = [
                    baseline_share + (rise if onset <= i < onset + 48 else 0.0) for i in range(len(grid))
                ]
                hits = [i - onset for i in run(shares, base) if onset <= i < onset + 48]
                if hits:
                    delays.append(hits[0])
                else:
                    missed += 1
            shift_rows.append(
                (
                    base,
                    rise,
                    keys_per_base,
                    keys_per_base - missed,
                    statistics.median(delays) if delays else "-",
                )
            )
    return quiet_rows, shift_rows


# --- real incidents --------------------------------------------------------------------------


def real_incidents(
    rows_by_hour: Sequence[list[Row]], grid: Sequence[datetime], settings: DetectorSettings
) -> list[tuple]:
    out = []
    for ev in load_events():
        series = keyword_series(rows_by_hour, ev["title_regex"])
        first = datetime.fromisoformat(ev["first_snapshot_date"]).replace(
            hour=int(ev["first_snapshot_hour"]), tzinfo=CST
        )
        first_i = grid.index(first)
        try:
            outside_i: int | None = grid.index(
                datetime.fromisoformat(ev["external_time_cst_unverified"]).replace(minute=0)
            )
        except ValueError:
            outside_i = None  # a range such as DeepSeek's "2025-01-20/2025-01-27"
        volume = run_volume([heat_units(r) for r in series], grid, ev["event"], settings)
        hot = run_hotlist(series, grid, ev["event"], settings)
        window = (first_i - 6, first_i + 72)
        for name, detections in (("volume", volume), ("hot list", hot)):
            alerts = [a for a in episode_alerts(detections) if window[0] <= grid.index(a.at) < window[1]]
            new = [a for a in alerts if not a.escalation]
            delay = grid.index(new[0].at) - first_i if new else "-"
            delay_outside = grid.index(new[0].at) - outside_i if new and outside_i is not None else "-"
            out.append(
                (
                    ev["event"][:34],
                    name,
                    delay,
                    delay_outside,
                    len(new),
                    len(alerts) - len(new),
                    max((a.level for a in alerts), default=None),
                )
            )
    return out


def run_hotlist(
    series: Sequence[list[Row]], grid: Sequence[datetime], key: str, settings: DetectorSettings
) -> list[Detection]:
    state = HotlistState()
    out: list[Detection] = []
    for t, rows in zip(grid, series, strict=True):
        entries = [
            HotEntry("weibo", "realtime", r.rank, r.title, r.heat, "", t, is_ad=r.ads, pinned=r.pinned)
            for r in rows
        ]
        state, found = update_hotlist(state, key, t, entries, settings)
        out.extend(found)
    return out


KEYWORDS = {
    "小米": "小米|雷军",
    "华为": "华为|鸿蒙",
    "比亚迪": "比亚迪",
    "蜜雪冰城": "蜜雪",
    "瑞幸": "瑞幸",
    "苹果": "苹果|iPhone",
    "特斯拉": "特斯拉|马斯克",
    "DeepSeek": "DeepSeek",
    "春晚": "春晚",
    "哪吒": "哪吒",
}


def keyword_alert_rates(
    rows_by_hour: Sequence[list[Row]], grid: Sequence[datetime], settings: DetectorSettings
) -> list[tuple]:
    out = []
    for name, pattern in KEYWORDS.items():
        series = keyword_series(rows_by_hour, pattern)
        present = sum(1 for r in series if r)
        volume = episode_alerts(run_volume([heat_units(r) for r in series], grid, name, settings))
        hot = episode_alerts(run_hotlist(series, grid, name, settings))
        out.append(
            (
                name,
                present,
                sum(1 for a in volume if not a.escalation),
                sum(1 for a in hot if not a.escalation),
                sum(1 for a in hot if a.escalation),
            )
        )
    return out


# --- output ----------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[("" if c is None else _fmt(c)) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(c: object) -> str:
    if isinstance(c, Level):
        return c.label
    if isinstance(c, float):
        return f"{c:g}"
    return str(c)


def _median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def main(argv: Sequence[str] | None = None, *, emit: Callable[[str], None] = print) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write benchmarks/RESULTS-detectors.md")
    ap.add_argument("--quick", action="store_true", help="3 keys per volume level, 2 months (iterating)")
    ap.add_argument("--volume-only", action="store_true", help="only the synthetic volume sections")
    ap.add_argument("--no-fast", action="store_true", help="hourly volume path only (fast_volume off)")
    args = ap.parse_args(argv)
    if not (trending_dir() / "weibo_hot_hourly_2025-01.csv").exists():
        emit(f"skipped: no hot-search data under {trending_dir()} (set KOLWATCH_SHARED)")
        return 0
    settings = DetectorSettings()
    snapshots = load_hourly()
    grid = hour_grid()
    rows_by_hour = filled(snapshots, grid)
    profile = activity_profile(rows_by_hour)
    size = {"keys_per_base": 3, "repeats": 2} if args.quick else {}
    fast = not args.no_fast

    sections: list[str] = []
    typical = typical_profile(profile, grid)
    quiet, bursts, false30, delays = synthetic_volume(typical, settings, fast=fast, **size)
    quiet_real, _, false30_real, _ = synthetic_volume(
        profile, settings, multipliers=(), within=("even",), fast=fast, **size
    )
    paths = "the 5-minute and the hourly path" if fast else "the hourly path only"
    sections.append(
        "### Volume spike, synthetic quiet keys (false alerts per key per 30 days; goal <= 1)\n\n"
        f"Both volume paths as the alert job runs them ({paths}; one incident per 24 h story "
        "window). Hourly counts: gamma(20)-Poisson around base x the real hour-of-week rhythm of "
        "the list (median of each slot over January; 4-5 am at 0.14x, afternoons and evenings "
        "1.2-1.4x); within the hour posts fall evenly or bunched (5-minute gamma(8) factors). "
        f"{size.get('repeats', 3)} months, the first 14 days of warm-up not counted.\n\n"
        + table(
            (
                "within hour",
                "base posts/h",
                "keys",
                "days",
                "false alerts",
                "of which 5-min",
                "per key per 30 d",
            ),
            quiet,
        )
        + "\n\nAll quiet keys: "
        + ", ".join(f"{mode} **{v:.2f}**" for mode, v in false30.items())
        + " false alerts per key per 30 days.\n\n"
        "Background: the real hour-by-hour activity including one-off platform-wide surges (New Year's "
        "midnight, 01-05, 除夕 evening): every key whose volume follows the platform surges with it.\n\n"
        + table(
            ("within hour", "base posts/h", "keys", "days", "alerts", "of which 5-min", "per key per 30 d"),
            quiet_real,
        )
        + f"\n\nAll keys: **{false30_real['even']:.2f}** alerts per key per 30 days, nearly all at those "
        "surge hours."
    )
    sections.append(
        "### Volume spike, injected bursts (delay in hours from the onset hour's start; "
        "goal: median <= 1)\n\n"
        "1.00 is the hourly bucket closing; less is the 5-minute path firing inside the first hour.\n\n"
        + table(
            (
                "within hour",
                "base posts/h",
                "burst x",
                "trials",
                "detected",
                "median delay h",
                "max delay h",
                "first alert 5-min",
                "max episodes",
            ),
            bursts,
        )
        + f"\n\nMedian delay over all detected bursts: **{_median(delays)}** h ({len(delays)} detected)."
        f" Bursts that never reach the minimum of "
        f"{settings.volume.min_count} posts/hour are not detected by design."
    )
    if args.volume_only:
        emit("\n\n".join(sections))
        return 0
    s_quiet, s_shift = synthetic_sentiment(profile, settings)
    sections.append(
        "### Negative-sentiment shift (CUSUM), synthetic\n\n"
        + table(("base posts/h", "keys", "false alarms", "per key per 30 d"), s_quiet)
        + "\n\nShift: the negative share rises from 15% by the given amount for 48 h (hourly beta noise "
        "on the share); delay in buckets from onset.\n\n"
        + table(("base posts/h", "share rise", "trials", "detected", "median delay"), s_shift)
    )
    sections.append(
        "### Real incidents (reference_events_2025-01.csv), hourly keyword series\n\n"
        "Delays are in hour buckets from the first hot-list appearance and from the outside event "
        "time (unverified, hour resolution); negative = alerted before. Episodes and escalations are "
        "counted from 6 h before to 72 h after the first appearance. Volume here is summed heat in "
        "units of 10k, so the minimum count of 20 means 200k heat (about rank 20).\n\n"
        + table(
            ("event", "detector", "delay (list)", "delay (event)", "episodes", "escalations", "top level"),
            real_incidents(rows_by_hour, grid, settings),
        )
    )
    sections.append(
        "### Keyword series, January 2025 (alerts after the episode rule)\n\n"
        + table(
            ("keyword", "hours on list", "volume episodes", "hot-list episodes", "hot-list escalations"),
            keyword_alert_rates(rows_by_hour, grid, settings),
        )
    )
    report = "\n\n".join(sections)
    emit(report)
    if args.write:
        header = (
            "# Detector evaluation\n\nGenerated by `python benchmarks/eval_detectors.py --write` with "
            "default `DetectorSettings` on Weibo hot-search history (January 2025, hourly; read from "
            "$KOLWATCH_SHARED, not in the repository). Synthetic streams follow the real hourly "
            "activity profile of the list, repeated three times, with 14 days of warm-up.\n\n"
        )
        (REPO / "benchmarks" / "RESULTS-detectors.md").write_text(header + report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
