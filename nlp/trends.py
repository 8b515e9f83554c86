"""Trend and spike detectors: pure functions over per-bucket counters with small fixed state per key.

Each detector is `update_x(state, ..., settings) -> (new_state, detections)`. States are frozen
dataclasses with `to_json()` / `from_json()` (plain JSON dicts, validated on load) so the caller
stores one row per (watch, key, detector). Nothing here reads a clock, a database or our other
modules: the caller feeds buckets in time order (zeros for empty buckets; a detector cannot tell
"no posts" from "no data") and turns detections into alerts (bot/alerts.py: dedup, cooldown).

Detectors (designs and defaults from research/scoring.md section 7b):

- volume spike: Holt-Winters-style EWMA on log1p(count) with an hour-of-day profile, refined by
  an hour-of-week profile after two weeks (shrunk towards the day profile while its slots have
  few visits); alarm when z >= 3 and count >= 20/hour and count >= 2x the expected count, after
  24 buckets of warm-up (sigma floor 0.35, measured); also when two buckets in a row reach
  z >= 2 with the same count conditions (sustained rise). Updates are winsorised at
  +-`update_clip` sigma so one burst does not teach the baseline that bursts are normal.
- volume spike, 5-minute path (`update_fast`): a 5-minute count against the hourly model's rate
  for its hour, by a negative-binomial upper tail (p <= 1e-7, >= 10 posts, >= 3x) with the
  dispersion learned from the watch's own 5-minute counts. The hourly z test run on 5-minute
  buckets alarmed on noise: twelve tests an hour at 1-5 posts each.
- emerging terms: per-term EW share of the watch's posts (half-life 24 buckets) in a bounded table
  (Space-Saving-style eviction; a newcomer inherits the evicted baseline, so eviction errs towards
  silence); alarm on Poisson z >= 4 and a Poisson tail p <= 1e-7 with >= 5 distinct authors.
- negative-sentiment shift: one-sided CUSUM (k = 0.5, h = 5, ARL0 ~ 465 buckets, capped at 2h) on
  the standardised negative share, with >= 30 scored posts in the run and a rise of >= 15 points;
  it reports every bucket of a shift (the rules keep one incident).
- KOL involvement: stateless; an author at or above the 腰部 follower threshold posting about the watch.
- hot list: hot-list entries matching the watch (the caller matches titles with nlp.matcher); alarm
  when the watch appears on a list and when it rises into a higher level band (top 10 / heat >= 1M,
  top 50); one incident per watch, not per title.

`level_for(detection, levels)` maps a detection to 蓝 IV / 黄 III / 橙 II / 红 I (section 4.6, 7b.6).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from collectors.base import HotEntry

VOLUME_SPIKE = "volume_spike"
EMERGING_TERM = "emerging_term"
SENTIMENT_SHIFT = "sentiment_shift"
KOL_INVOLVED = "kol_involved"
HOT_LIST = "hot_list"
KINDS: tuple[str, ...] = (VOLUME_SPIKE, EMERGING_TERM, SENTIMENT_SHIFT, KOL_INVOLVED, HOT_LIST)

STATE_VERSION = 1


# --- levels ----------------------------------------------------------------------------------


class Level(IntEnum):
    """Early-warning levels of the Emergency Response Law scheme; a larger value is more severe."""

    BLUE = 1  # 蓝 IV  一般
    YELLOW = 2  # 黄 III 较大
    ORANGE = 3  # 橙 II  重大
    RED = 4  # 红 I   特别重大

    @property
    def colour_zh(self) -> str:
        return {1: "蓝", 2: "黄", 3: "橙", 4: "红"}[self.value]

    @property
    def roman(self) -> str:
        return {1: "IV", 2: "III", 3: "II", 4: "I"}[self.value]

    @property
    def label(self) -> str:
        """E.g. "橙色预警 II"."""

        return f"{self.colour_zh}色预警 {self.roman}"


# --- settings --------------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VolumeSettings(_Section):
    alpha: float = Field(default=0.1, gt=0, lt=1)  # level memory ~ 1/alpha buckets
    # Variance memory: longer than the level's, so the first hours of an incident (z ~ 2, under
    # learn_z) cannot double sigma before its peak hour arrives.
    var_alpha: float = Field(default=0.03, gt=0, lt=1)
    season_alpha: float = Field(default=0.2, gt=0, le=1)  # per seasonal slot, per visit
    # Floor in log1p space. The research suggests 0.5; benchmarks/eval_detectors.py measured 0.35 to
    # catch 3x bursts at >= 80 posts/h with 0.14 false alerts per key per 30 days on real rhythm.
    sigma_min: float = Field(default=0.35, gt=0)
    z: float = Field(default=3.0, gt=0)
    min_count: int = Field(default=20, ge=0)  # per hour bucket
    min_count_5min: int = Field(default=10, ge=0)  # used when buckets are 5 minutes or shorter
    min_ratio: float = Field(default=2.0, ge=1)
    warmup: int = Field(default=24, ge=1)  # buckets before any alarm
    seasonality: Literal["none", "day", "week"] = "week"  # "week" uses the day profile until week_after_days
    week_after_days: int = Field(default=14, ge=7)
    # How hard an hour-of-week slot's difference from the day profile is shrunk by its noise
    # (0 = used as is, 1 = James-Stein; see _season). 2 measured in benchmarks/eval_detectors.py:
    # 0.11 false alerts per quiet key per 30 days against 0.17 at 1 and 0.18 at 0, same bursts.
    week_shrink: float = Field(default=2.0, ge=0)
    timezone: str = "Asia/Shanghai"
    update_clip: float = Field(default=3.0, gt=0)  # winsorise baseline updates at this many sigma
    # Buckets at or above this z do not update the variance (see update_volume).
    learn_z: float = Field(default=2.0, gt=0)
    # Two buckets in a row at or above this z alarm too (see update_volume); >= z turns it off.
    sustain_z: float = Field(default=2.0, gt=0)
    # The 5-minute path (update_fast): a 5-minute count judged against the hourly model's rate for
    # that hour, by the upper tail of a negative binomial with the dispersion learned from the
    # watch's own 5-minute counts. A normal z in log space at 1-5 posts per 5 minutes, twelve
    # tests an hour, gave 1.8-6 false alerts per quiet key per 30 days at 100-300 posts/h
    # (benchmarks/eval_detectors.py). fast_p is per bucket: 8,640 buckets in 30 days.
    fast_p: float = Field(default=1e-7, gt=0, lt=1)
    min_ratio_5min: float = Field(default=3.0, ge=1)
    fast_half_life: float = Field(default=2016.0, gt=0)  # buckets (a week of 5-minute buckets)
    fast_warmup: int = Field(default=288, ge=1)  # 5-minute buckets (a day) before any alarm
    fast_learn_p: float = Field(default=1e-3, gt=0, lt=1)  # rarer buckets do not teach dispersion

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown timezone {value!r}") from e
        return value

    def min_count_for(self, bucket_seconds: int) -> int:
        return self.min_count_5min if bucket_seconds <= 300 else self.min_count


class TermSettings(_Section):
    half_life: float = Field(default=24.0, gt=0)  # buckets; the research's 24 h long window
    z: float = Field(default=4.0, gt=0)
    min_authors: int = Field(default=5, ge=1)
    min_count: int = Field(default=5, ge=1)
    min_ratio: float = Field(default=3.0, ge=1)  # share now vs baseline share
    capacity: int = Field(default=200, ge=1, le=5000)  # tracked terms per key
    warmup: int = Field(default=24, ge=1)
    max_per_bucket: int = Field(default=5, ge=1)
    # Also a Poisson upper tail at most this: up to `capacity` terms are tested every hour, and
    # z >= 4 alone let everyday words of a quiet watch (有人, 东西 at a 5% share reaching 15-20%)
    # alert about twice a month (benchmarks/eval_replay.py). A new word (baseline ~0) passes at 5.
    p: float = Field(default=1e-7, gt=0, le=1)


class SentimentSettings(_Section):
    k: float = Field(default=0.5, ge=0)  # CUSUM allowance, in sigma
    h: float = Field(default=5.0, gt=0)  # CUSUM decision interval, in sigma (ARL0 ~ 465)
    half_life: float = Field(default=72.0, gt=0)  # baseline negative share memory, buckets
    sigma_min: float = Field(default=0.05, gt=0)  # share units
    min_posts: int = Field(default=30, ge=1)  # scored posts in the shifted run
    min_bucket_posts: int = Field(default=5, ge=1)  # buckets with fewer scored posts are skipped
    min_rise: float = Field(default=0.15, ge=0, le=1)  # share points above baseline
    warmup: int = Field(default=24, ge=1)  # valid buckets
    update_clip: float = Field(default=3.0, gt=0)
    # Ceiling of the CUSUM in units of h: a long shift must not pile up a sum that takes days of
    # normal buckets to drain (the alarm, and the incident it keeps open, would outlive the shift).
    cap: float = Field(default=2.0, ge=1)
    learn_z: float = Field(default=3.0, gt=0)  # buckets at or above this do not update the variance


class KolSettings(_Section):
    # research 1.5: no standard; generic CN glossary 腰部 100k-1M, 头部 >= 1M. Per platform in practice.
    waist_followers: int = Field(default=100_000, ge=1)
    head_followers: int = Field(default=1_000_000, ge=1)


class HotlistSettings(_Section):
    # Absent this long -> the next sighting is a new incident. A day, because topics drop off the
    # list overnight and return (median stay 2 snapshots, research 5.1).
    reentry_hours: float = Field(default=24.0, gt=0)
    include_ads: bool = False  # a paid 商业推广 slot is the brand's own doing, not news
    max_entries: int = Field(default=100, ge=1)


class LevelSettings(_Section):
    volume_yellow_z: float = 4.0
    volume_orange_z: float = 5.0
    volume_orange_ratio: float = 5.0
    volume_red_z: float = 6.0
    volume_red_neg_share: float = 0.5
    sentiment_yellow_neg_share: float = 0.4
    hot_red_rank: int = 10
    hot_red_heat: int = 1_000_000  # median heat of Weibo rank 1 ~ 1.18M, rank 10 ~ 307k (Jan 2025)
    hot_orange_rank: int = 50


class DetectorSettings(_Section):
    """Everything the detectors read; the lead mounts one per watch from settings.toml."""

    volume: VolumeSettings = VolumeSettings()
    terms: TermSettings = TermSettings()
    sentiment: SentimentSettings = SentimentSettings()
    kol: KolSettings = KolSettings()
    hotlist: HotlistSettings = HotlistSettings()
    levels: LevelSettings = LevelSettings()


# --- detections ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Detection:
    """One detector firing. `severity` is 1.0 at the detector's threshold and grows with strength
    (z / z-threshold, CUSUM / h, followers / 腰部 threshold, ...); `numbers` are the figures an alert
    shows to explain itself; `subject` names what fired inside the key (term, author, title)."""

    kind: str
    key: str
    subject: str
    severity: float
    bucket_start: datetime
    numbers: Mapping[str, float] = field(hash=False)
    reason_zh: str
    reason_en: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "subject": self.subject,
            "severity": self.severity,
            "bucket_start": self.bucket_start.isoformat(),
            "numbers": dict(self.numbers),
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Detection:
        _need_mapping(data, "detection")
        numbers = data.get("numbers")
        _need_mapping(numbers, "detection numbers")
        return cls(
            kind=_str(data, "kind"),
            key=_str(data, "key"),
            subject=_str(data, "subject"),
            severity=_float(data, "severity"),
            bucket_start=_aware(datetime.fromisoformat(_str(data, "bucket_start"))),
            numbers={str(k): _finite(v, f"numbers.{k}") for k, v in numbers.items()},
            reason_zh=_str(data, "reason_zh"),
            reason_en=_str(data, "reason_en"),
        )


def level_for(detection: Detection, levels: LevelSettings | None = None) -> Level:
    """The warning level of one detection (research 7b.6); combining signals is the rules' job."""

    lv = levels or LevelSettings()
    n = detection.numbers
    if detection.kind == VOLUME_SPIKE:
        z, ratio = n["z"], n["ratio"]
        if z >= lv.volume_red_z and n.get("neg_share", 0.0) >= lv.volume_red_neg_share:
            return Level.RED
        if z >= lv.volume_orange_z and ratio >= lv.volume_orange_ratio:
            return Level.ORANGE
        return Level.YELLOW if z >= lv.volume_yellow_z else Level.BLUE
    if detection.kind == EMERGING_TERM:
        return Level.BLUE
    if detection.kind == SENTIMENT_SHIFT:
        return Level.YELLOW if n["neg_share"] >= lv.sentiment_yellow_neg_share else Level.BLUE
    if detection.kind == KOL_INVOLVED:
        if n["tier"] >= 2:
            return Level.ORANGE
        return Level.YELLOW if n["negative_posts"] > 0 else Level.BLUE
    if detection.kind == HOT_LIST:
        return _hot_level(int(n["rank"]), int(n["heat"]), lv)
    raise ValueError(f"unknown detection kind {detection.kind!r}")


def _hot_level(rank: int, heat: int, lv: LevelSettings) -> Level:
    if rank <= lv.hot_red_rank or heat >= lv.hot_red_heat:
        return Level.RED
    return Level.ORANGE if rank <= lv.hot_orange_rank else Level.YELLOW


# --- volume spike ----------------------------------------------------------------------------

_DAY, _WEEK = 24, 168


@dataclass(frozen=True, slots=True)
class VolumeState:
    """~400 numbers per key: level, variance, 24 + 168 seasonal offsets and their visit counts."""

    bucket_seconds: int
    n: int = 0
    first_bucket: int | None = None  # epoch seconds
    last_bucket: int | None = None
    level: float = 0.0
    var: float = 0.0
    day: tuple[float, ...] = (0.0,) * _DAY
    day_n: tuple[int, ...] = (0,) * _DAY
    week: tuple[float, ...] = (0.0,) * _WEEK
    week_n: tuple[int, ...] = (0,) * _WEEK
    prev_z: float = 0.0  # z of the previous bucket (the sustained rule)

    @classmethod
    def new(cls, bucket_seconds: int) -> VolumeState:
        if not isinstance(bucket_seconds, int) or bucket_seconds <= 0:
            raise ValueError(f"bucket_seconds must be a positive int, got {bucket_seconds!r}")
        return cls(bucket_seconds=bucket_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "type": "volume",
            "bucket_seconds": self.bucket_seconds,
            "n": self.n,
            "first_bucket": self.first_bucket,
            "last_bucket": self.last_bucket,
            "level": self.level,
            "var": self.var,
            "day": list(self.day),
            "day_n": list(self.day_n),
            "week": list(self.week),
            "week_n": list(self.week_n),
            "prev_z": self.prev_z,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VolumeState:
        _check_header(data, "volume")
        state = cls(
            bucket_seconds=_int(data, "bucket_seconds", minimum=1),
            n=_int(data, "n"),
            first_bucket=_opt_int(data, "first_bucket"),
            last_bucket=_opt_int(data, "last_bucket"),
            level=_float(data, "level"),
            var=_float(data, "var", minimum=0.0),
            day=_floats(data, "day", _DAY),
            day_n=_ints(data, "day_n", _DAY),
            week=_floats(data, "week", _WEEK),
            week_n=_ints(data, "week_n", _WEEK),
            # Absent in states written before the sustained rule: no previous excursion.
            prev_z=_finite(data.get("prev_z", 0.0), "prev_z"),
        )
        return state


def update_volume(
    state: VolumeState,
    key: str,
    bucket_start: datetime,
    count: int,
    settings: DetectorSettings | None = None,
    *,
    neg_share: float | None = None,
    unique: int | None = None,
) -> tuple[VolumeState, Detection | None]:
    """Feed one bucket's count; maybe a spike detection.

    Which count is the caller's choice (the alert job feeds raw volume, copies included, so that a
    copy-paste wave can make a spike the rules then tag; see bot/alerts.py). `unique` (optional,
    <= count) is the same bucket after near-duplicate collapsing and `neg_share` (0..1, optional)
    its negative share: both are only carried into the detection's numbers, for the explanation
    and for level_for's red rule (volume z >= 6 with negative share >= 50%).
    """

    cfg = (settings or DetectorSettings()).volume
    t = _epoch(bucket_start)
    _check_order(state.last_bucket, t)
    _check_bucket_counts(count, neg_share, unique)

    y = math.log1p(count)
    hs, ws = _slots(bucket_start, cfg)
    if state.n == 0:
        # The first bucket defines the level; nothing to compare it with.
        new = replace(state, n=1, first_bucket=t, last_bucket=t, level=y, var=0.0)
        return _with_season(new, hs, ws, y - new.level, cfg), None

    expected_log, sigma, poisson = _expectation(state, bucket_start, cfg)
    expected = max(math.expm1(expected_log), 0.0)
    err = y - expected_log
    z = err / sigma
    ratio = (count + 1.0) / (expected + 1.0)

    detection: Detection | None = None
    # Sustained: two buckets in a row at >= sustain_z (Western Electric's "2 of 3 beyond 2 sigma",
    # here 2 of 2; Gaussian rate 5e-4 per bucket against 1.3e-3 for one z >= 3). At a few posts
    # an hour the log-space noise is large and an incident of 18, 24, 25 posts/h against ~4
    # scores z = 2.1-2.8 hour after hour without ever reaching 3 (the demo at some minutes).
    sustained = cfg.sustain_z < cfg.z and z >= cfg.sustain_z and state.prev_z >= cfg.sustain_z
    if (
        state.n >= cfg.warmup
        and (z >= cfg.z or sustained)
        and count >= cfg.min_count_for(state.bucket_seconds)
        and ratio >= cfg.min_ratio
    ):
        numbers = {"observed": float(count), "expected": expected, "z": z, "ratio": ratio, "sigma": sigma}
        if z < cfg.z:
            numbers["previous_z"] = state.prev_z
        distinct_zh, distinct_en = _carry(numbers, neg_share, unique)
        detection = Detection(
            kind=VOLUME_SPIKE,
            key=key,
            subject=key,
            severity=z / cfg.z,
            bucket_start=bucket_start,
            numbers=numbers,
            reason_zh=f"声量激增：本时段 {count} 条{distinct_zh}，基线约 {expected:.1f} 条"
            f"（{ratio:.1f} 倍，z={z:.1f}{'，连续两个时段偏高' if z < cfg.z else ''}）",
            reason_en=f"Volume spike: {count} posts{distinct_en} vs ~{expected:.1f} expected "
            f"({ratio:.1f}x, z={z:.1f}{', second elevated bucket in a row' if z < cfg.z else ''})",
        )

    clipped = max(-cfg.update_clip * sigma, min(cfg.update_clip * sigma, err))
    level = state.level + cfg.alpha * clipped
    var = state.var
    if z < cfg.learn_z or state.n < cfg.warmup:
        # A bucket well above expectation nudges the level (winsorised) but does not teach the
        # variance: a clipped 3-sigma residual still grew sigma by 30%, so the first hours of a
        # burst hid the next ones (the demo incident: 14, 18, 37 posts/h against ~3 scored
        # z = 2.6, 2.3, 2.6 as sigma grew from 0.53 to 0.77).
        var = max(0.0, state.var + cfg.var_alpha * (clipped * clipped - poisson - state.var))
    new = replace(state, n=state.n + 1, last_bucket=t, level=level, var=var, prev_z=z)
    return _with_season(new, hs, ws, expected_log + clipped - level, cfg), detection


def _carry(numbers: dict[str, float], neg_share: float | None, unique: int | None) -> tuple[str, str]:
    """Put the caller's negative share and collapsed count into a volume detection's numbers;
    returns the (zh, en) phrases naming the collapsed count in its reasons ("" without one)."""

    if neg_share is not None:
        numbers["neg_share"] = neg_share
    if unique is None:
        return "", ""
    numbers["unique"] = float(unique)
    return f"（去重后 {unique} 条）", f" ({unique} after collapsing copies)"


def _slots(moment: datetime, cfg: VolumeSettings) -> tuple[int, int]:
    local = moment.astimezone(ZoneInfo(cfg.timezone))
    return local.hour, local.weekday() * _DAY + local.hour


def _expectation(state: VolumeState, moment: datetime, cfg: VolumeSettings) -> tuple[float, float, float]:
    """(expected log1p count, sigma in log space, its Poisson part) of a bucket starting at `moment`."""

    hs, ws = _slots(moment, cfg)
    expected_log = state.level + _season(state, hs, ws, _epoch(moment), cfg)
    expected = max(math.expm1(expected_log), 0.0)
    # Noise of this bucket in log1p space: Poisson counting noise at the expected count (delta
    # method, m / (1 + m)^2) plus the learned excess (topic mix, copy waves, overdispersion).
    # One variance for all hours let the night's 0-2 posts/h set sigma for a busy afternoon.
    poisson = expected / (1.0 + expected) ** 2
    return expected_log, max(math.sqrt(state.var + poisson), cfg.sigma_min), poisson


def _season(state: VolumeState, hs: int, ws: int, t: int, cfg: VolumeSettings) -> float:
    if cfg.seasonality == "none":
        return 0.0
    assert state.first_bucket is not None
    day = state.day[hs] if state.day_n[hs] > 0 else 0.0
    weeks_ready = t - state.first_bucket >= cfg.week_after_days * 86400
    visits = state.week_n[ws]
    if cfg.seasonality == "week" and weeks_ready and visits > 0:
        # An hour-of-week slot has seen only two or three buckets when the week profile takes
        # over, against ~20 for the hour-of-day slot. Used raw, its noise entered every
        # expectation and the variance: a x10 burst at 51 posts/h (expected ~7) scored z = 2.6
        # (eval_replay, 白鹭航空 01-17). So its difference from the day profile is shrunk
        # (positive-part James-Stein): by the noise of a mean of `visits` buckets against the
        # size of the difference. A real weekly pattern (busy weekends) is kept almost whole, a
        # difference within the noise is dropped.
        diff = state.week[ws] - day
        noise = state.var / min(visits, 2.0 / cfg.season_alpha - 1.0)
        weight = max(0.0, 1.0 - cfg.week_shrink * noise / diff**2) if diff else 0.0
        return day + weight * diff
    return day


def _with_season(state: VolumeState, hs: int, ws: int, deviation: float, cfg: VolumeSettings) -> VolumeState:
    if cfg.seasonality == "none":
        return state

    def blend(
        values: tuple[float, ...], counts: tuple[int, ...], i: int
    ) -> tuple[tuple[float, ...], tuple[int, ...]]:
        # A running mean over the first visits (the first takes the deviation as is), then an
        # EWMA: the second visit of a slot must not weigh only season_alpha against one sample.
        old = values[i]
        rate = max(cfg.season_alpha, 1.0 / (counts[i] + 1))
        value = old + rate * (deviation - old)
        return (*values[:i], value, *values[i + 1 :]), (*counts[:i], counts[i] + 1, *counts[i + 1 :])

    day, day_n = blend(state.day, state.day_n, hs)
    week, week_n = blend(state.week, state.week_n, ws)
    return replace(state, day=day, day_n=day_n, week=week, week_n=week_n)


# --- volume spike, 5-minute path ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FastState:
    """What the 5-minute path learns itself: how its counts scatter around the hourly model's rate.

    `calib_obs` / `calib_exp`: exponentially weighted sums of 5-minute counts and of the rate the
    hourly model gave for them (their ratio corrects the model's bias at small counts: a mean of
    log1p(count) turned back into a count is below the mean count). `excess` / `weight`: weighted
    sums of (count - mean)^2 - mean and of mean^2 (their ratio is the negative-binomial
    dispersion, 0 for Poisson). Buckets rarer than fast_learn_p teach neither."""

    bucket_seconds: int
    n: int = 0
    last_bucket: int | None = None
    calib_obs: float = 0.0
    calib_exp: float = 0.0
    excess: float = 0.0
    weight: float = 0.0

    @classmethod
    def new(cls, bucket_seconds: int = 300) -> FastState:
        if not isinstance(bucket_seconds, int) or bucket_seconds <= 0:
            raise ValueError(f"bucket_seconds must be a positive int, got {bucket_seconds!r}")
        return cls(bucket_seconds=bucket_seconds)

    @property
    def calibration(self) -> float:
        """Observed over modelled 5-minute counts; 1 until there is evidence either way."""

        if self.calib_exp < 5.0:
            return 1.0
        return min(4.0, max(0.25, self.calib_obs / self.calib_exp))

    @property
    def dispersion(self) -> float:
        return max(0.0, self.excess / self.weight) if self.weight > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "type": "fast_volume",
            "bucket_seconds": self.bucket_seconds,
            "n": self.n,
            "last_bucket": self.last_bucket,
            "calib_obs": self.calib_obs,
            "calib_exp": self.calib_exp,
            "excess": self.excess,
            "weight": self.weight,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FastState:
        _check_header(data, "fast_volume")
        return cls(
            bucket_seconds=_int(data, "bucket_seconds", minimum=1),
            n=_int(data, "n"),
            last_bucket=_opt_int(data, "last_bucket"),
            calib_obs=_float(data, "calib_obs", minimum=0.0),
            calib_exp=_float(data, "calib_exp", minimum=0.0),
            excess=_float(data, "excess"),
            weight=_float(data, "weight", minimum=0.0),
        )


def update_fast(
    state: FastState,
    hourly: VolumeState,
    key: str,
    bucket_start: datetime,
    count: int,
    settings: DetectorSettings | None = None,
    *,
    neg_share: float | None = None,
    unique: int | None = None,
) -> tuple[FastState, Detection | None]:
    """Feed one short bucket (5 minutes); maybe a spike detection, known when the bucket closes.

    The expected count is the hourly model's (`hourly`, fed up to the hour before this bucket's)
    rate for this hour, scaled to the bucket and by the learned calibration. The bucket alarms
    when its count is at least min_count_5min and min_ratio_5min times the expected count and its
    upper-tail probability under a negative binomial with the learned dispersion is at most
    fast_p. Twelve such tests an hour, each on a few posts, need this much stricter test than the
    hourly z: a normal approximation in log space at 1-5 posts per bucket alarmed on noise. The
    detection's `z` is the hourly model's z of the bucket's rate (count scaled to an hour), so
    levels mean the same on both paths; `p` is the tail probability.
    """

    cfg = (settings or DetectorSettings()).volume
    t = _epoch(bucket_start)
    _check_order(state.last_bucket, t)
    _check_bucket_counts(count, neg_share, unique)
    if hourly.bucket_seconds % state.bucket_seconds:
        raise ValueError("the hourly model's buckets must be a multiple of the short buckets")
    if hourly.n == 0:
        return replace(state, last_bucket=t), None

    share = state.bucket_seconds / hourly.bucket_seconds
    hour_start = datetime.fromtimestamp(t - t % hourly.bucket_seconds, UTC)
    expected_log, sigma, _ = _expectation(hourly, hour_start, cfg)
    modelled = max(math.expm1(expected_log), 0.0) * share
    mean = modelled * state.calibration
    phi = state.dispersion
    p = nb_tail(count, mean, phi)
    ratio = (count + 1.0) / (mean + 1.0)

    detection: Detection | None = None
    if (
        hourly.n >= cfg.warmup
        and state.n >= cfg.fast_warmup
        and count >= cfg.min_count_5min
        and ratio >= cfg.min_ratio_5min
        and p <= cfg.fast_p
    ):
        z = (math.log1p(count / share) - expected_log) / sigma
        numbers = {
            "observed": float(count),
            "expected": mean,
            "z": z,
            "ratio": ratio,
            "sigma": sigma,
            "p": max(p, 1e-300),
            "dispersion": phi,
        }
        distinct_zh, distinct_en = _carry(numbers, neg_share, unique)
        minutes = state.bucket_seconds // 60
        detection = Detection(
            kind=VOLUME_SPIKE,
            key=key,
            subject=key,
            severity=max(z / cfg.z, 1.0),
            bucket_start=bucket_start,
            numbers=numbers,
            reason_zh=f"声量激增：{minutes} 分钟内 {count} 条{distinct_zh}，通常约 {mean:.1f} 条"
            f"（{ratio:.1f} 倍，按小时折算 z={z:.1f}）",
            reason_en=f"Volume spike: {count} posts in {minutes} minutes{distinct_en} vs ~{mean:.1f} usual "
            f"({ratio:.1f}x, z={z:.1f} as an hourly rate)",
        )

    n = state.n + 1
    if p >= cfg.fast_learn_p:
        decay = 0.5 ** (1.0 / cfg.fast_half_life)
        state = replace(
            state,
            calib_obs=state.calib_obs * decay + count,
            calib_exp=state.calib_exp * decay + modelled,
            excess=state.excess * decay + (count - mean) ** 2 - mean,
            weight=state.weight * decay + mean * mean,
        )
    return replace(state, n=n, last_bucket=t), detection


def nb_tail(count: int, mean: float, dispersion: float = 0.0) -> float:
    """P(X >= count) for X negative binomial with this mean and variance mean + dispersion * mean^2
    (Poisson when dispersion is 0), summed from the pmf in log space (no scipy)."""

    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if dispersion < 1e-9:
        log_pmf = count * math.log(mean) - mean - math.lgamma(count + 1)

        def step(k: int) -> float:  # pmf(k + 1) / pmf(k)
            return mean / (k + 1)
    else:
        r = 1.0 / dispersion
        q = mean / (mean + r)
        log_pmf = (
            math.lgamma(count + r)
            - math.lgamma(r)
            - math.lgamma(count + 1)
            + r * math.log1p(-q)
            + count * math.log(q)
        )

        def step(k: int) -> float:
            return (k + r) / (k + 1) * q

    if count > mean:
        # The upper tail: terms from `count` on shrink towards a geometric ratio below 1.
        total, term, k = 1.0, 1.0, count
        while k < count + 1_000_000:
            term *= step(k)
            k += 1
            total += term
            if term < 1e-17 * total:
                break
        return min(1.0, math.exp(log_pmf + math.log(total)))
    # At or below the mean the tail is not small: one minus the sum below `count`.
    lower, term = 0.0, math.exp(log_pmf)
    for k in range(count - 1, -1, -1):
        term /= step(k)
        lower += term
        if term < 1e-17 * lower:
            break
    return min(1.0, max(0.0, 1.0 - lower))


# --- emerging terms --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TermState:
    """Baseline share per tracked term (at most `capacity`), plus how many buckets were seen."""

    n: int = 0
    last_bucket: int | None = None
    shares: Mapping[str, float] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "type": "terms",
            "n": self.n,
            "last_bucket": self.last_bucket,
            "shares": dict(self.shares),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TermState:
        _check_header(data, "terms")
        shares = data.get("shares")
        _need_mapping(shares, "terms.shares")
        checked = {}
        for term, share in shares.items():
            if not isinstance(term, str) or not term:
                raise ValueError("terms.shares: keys must be non-empty strings")
            value = _finite(share, f"terms.shares[{term!r}]")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"terms.shares[{term!r}] must be within 0..1")
            checked[term] = value
        return cls(n=_int(data, "n"), last_bucket=_opt_int(data, "last_bucket"), shares=checked)


def update_terms(
    state: TermState,
    key: str,
    bucket_start: datetime,
    total_posts: int,
    term_posts: Mapping[str, int],
    term_authors: Mapping[str, int],
    settings: DetectorSettings | None = None,
) -> tuple[TermState, list[Detection]]:
    """Feed one bucket: the watch's post count, posts per term and distinct authors per term.

    A term's share is posts-with-term / total_posts. Detections are sorted by z, at most
    `max_per_bucket`. A bucket with no posts leaves the state untouched (shares are undefined).
    """

    cfg = (settings or DetectorSettings()).terms
    t = _epoch(bucket_start)
    _check_order(state.last_bucket, t)
    if not isinstance(total_posts, int) or total_posts < 0:
        raise ValueError(f"total_posts must be a non-negative int, got {total_posts!r}")
    for name, mapping in (("term_posts", term_posts), ("term_authors", term_authors)):
        for term, value in mapping.items():
            if not isinstance(term, str) or not term:
                raise ValueError(f"{name}: terms must be non-empty strings")
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}[{term!r}] must be a non-negative int")
            if name == "term_posts" and value > total_posts:
                raise ValueError(f"term_posts[{term!r}] = {value} exceeds total_posts = {total_posts}")
    if total_posts == 0:
        return replace(state, last_bucket=t), []

    alpha = 1.0 - 0.5 ** (1.0 / cfg.half_life)
    shares = dict(state.shares)
    # Newcomers: the most frequent ones first, bounded so a flood of junk tokens stays O(capacity).
    newcomers = sorted((c, term) for term, c in term_posts.items() if term not in shares and c > 0)
    newcomers = [term for _, term in sorted(newcomers, key=lambda p: (-p[0], p[1]))[: cfg.capacity]]
    evict_order = sorted(shares, key=lambda term: (shares[term], term))
    inherited: dict[str, float] = {}
    for term in newcomers:
        floor = 0.0
        if len(shares) >= cfg.capacity:
            victim = next((v for v in evict_order if v in shares and v not in term_posts), None)
            if victim is None:
                break  # every tracked term is active this bucket; the rest wait for a later one
            floor = shares.pop(victim)
        shares[term] = floor
        inherited[term] = floor

    found: list[Detection] = []
    for term, base in shares.items():
        c = term_posts.get(term, 0)
        expected = base * total_posts
        z = (c - expected) / math.sqrt(expected + 1.0)
        share_now = c / total_posts
        ratio = share_now / base if base > 0 else math.inf
        authors = term_authors.get(term, 0)
        if (
            state.n >= cfg.warmup
            and c >= cfg.min_count
            and authors >= cfg.min_authors
            and z >= cfg.z
            and ratio >= cfg.min_ratio
            and nb_tail(c, expected) <= cfg.p
        ):
            shown_ratio = min(ratio, 999.0)
            found.append(
                Detection(
                    kind=EMERGING_TERM,
                    key=key,
                    subject=term,
                    severity=z / cfg.z,
                    bucket_start=bucket_start,
                    numbers={
                        "posts": float(c),
                        "authors": float(authors),
                        "share": share_now,
                        "baseline_share": base,
                        "z": z,
                        "ratio": shown_ratio,
                    },
                    reason_zh=f"新兴词「{term}」：{c} 条/{authors} 位作者，"
                    f"占比 {share_now:.0%}（基线 {base:.1%}，z={z:.1f}）",
                    reason_en=f"Emerging term '{term}': {c} posts by {authors} authors, "
                    f"share {share_now:.0%} (baseline {base:.1%}, z={z:.1f})",
                )
            )
    for term in shares:
        shares[term] += alpha * (term_posts.get(term, 0) / total_posts - shares[term])
    found.sort(key=lambda d: -d.severity)
    return TermState(n=state.n + 1, last_bucket=t, shares=shares), found[: cfg.max_per_bucket]


# --- negative-sentiment shift ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentimentState:
    n: int = 0  # valid buckets seen
    last_bucket: int | None = None
    baseline: float = 0.0  # EW negative share
    # EW variance of the share beyond binomial sampling noise (topic mix, copy clusters, model
    # noise): the noise of one bucket is p(1-p)/n + var, so a 26-post hour is judged by its own
    # size, not by the spread of the 5-post hours that dominate a small key's history.
    var: float = 0.0
    cusum: float = 0.0
    run_posts: int = 0  # scored posts since the CUSUM left zero
    run_negative: int = 0
    alarmed: bool = False  # the current run has alarmed; cleared when the CUSUM returns to zero

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "type": "sentiment",
            "n": self.n,
            "last_bucket": self.last_bucket,
            "baseline": self.baseline,
            "var": self.var,
            "cusum": self.cusum,
            "run_posts": self.run_posts,
            "run_negative": self.run_negative,
            "alarmed": self.alarmed,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SentimentState:
        _check_header(data, "sentiment")
        alarmed = data.get("alarmed")
        if not isinstance(alarmed, bool):
            raise ValueError("sentiment.alarmed must be a boolean")
        state = cls(
            n=_int(data, "n"),
            last_bucket=_opt_int(data, "last_bucket"),
            baseline=_float(data, "baseline", minimum=0.0, maximum=1.0),
            var=_float(data, "var", minimum=0.0),
            cusum=_float(data, "cusum", minimum=0.0),
            run_posts=_int(data, "run_posts"),
            run_negative=_int(data, "run_negative"),
            alarmed=alarmed,
        )
        if state.run_negative > state.run_posts:
            raise ValueError("sentiment.run_negative exceeds run_posts")
        return state


def update_sentiment(
    state: SentimentState,
    key: str,
    bucket_start: datetime,
    negative: int,
    scored: int,
    settings: DetectorSettings | None = None,
) -> tuple[SentimentState, Detection | None]:
    """Feed one bucket's negative and scored (not "unscored") post counts; maybe a shift detection.

    A detection for every valid bucket while the shift lasts (CUSUM above h with the run's volume
    and rise conditions met); `numbers["first"]` is 1 on the first of a run. Deduplicating is the
    alert rules' job (one incident while detections keep coming): a one-shot detector would let a
    shift first seen while catching up (never sent) silence the same shift when it is live.
    Baseline and variance are running means over the warm-up (the first bucket alone is no
    baseline), then EWMAs; the CUSUM starts after the warm-up.
    """

    cfg = (settings or DetectorSettings()).sentiment
    t = _epoch(bucket_start)
    _check_order(state.last_bucket, t)
    for name, value in (("negative", negative), ("scored", scored)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if negative > scored:
        raise ValueError(f"negative ({negative}) exceeds scored ({scored})")
    if scored < cfg.min_bucket_posts:
        return replace(state, last_bucket=t), None

    share = negative / scored
    if state.n == 0:
        return replace(state, n=1, last_bucket=t, baseline=share, var=0.0), None

    p0 = state.baseline
    binomial = max(p0 * (1 - p0), 0.0) / scored
    sigma = max(math.sqrt(binomial + state.var), cfg.sigma_min)
    x = (share - p0) / sigma
    warm = state.n >= cfg.warmup
    cusum = min(cfg.cap * cfg.h, max(0.0, state.cusum + x - cfg.k)) if warm else 0.0
    if cusum == 0.0:
        run_posts, run_negative, alarmed = 0, 0, False
    else:
        run_posts, run_negative, alarmed = (
            state.run_posts + scored,
            state.run_negative + negative,
            state.alarmed,
        )

    detection: Detection | None = None
    run_share = run_negative / run_posts if run_posts else 0.0
    if warm and cusum > cfg.h and run_posts >= cfg.min_posts and run_share - p0 >= cfg.min_rise:
        first = not alarmed
        alarmed = True
        detection = Detection(
            kind=SENTIMENT_SHIFT,
            key=key,
            subject=key,
            severity=cusum / cfg.h,
            bucket_start=bucket_start,
            numbers={
                "neg_share": run_share,
                "baseline": p0,
                "rise": run_share - p0,
                "cusum": cusum,
                "posts": float(run_posts),
                "negative_posts": float(run_negative),
                "first": 1.0 if first else 0.0,
            },
            reason_zh=f"负面情绪上升：负面占比 {run_share:.0%}（基线 {p0:.0%}，{run_posts} 条已评分）",
            reason_en=f"Negative sentiment shift: negative share {run_share:.0%} vs baseline {p0:.0%} "
            f"({run_posts} scored posts)",
        )

    # A running mean while warming up, so the baseline is not the first bucket's share decaying
    # over days (the demo's baseline sat at 4% for a week of 25% negative talk, and its CUSUM
    # alarmed on ordinary hours).
    alpha = max(1.0 - 0.5 ** (1.0 / cfg.half_life), 1.0 / (state.n + 1))
    err = share - p0
    clipped = max(-cfg.update_clip * sigma, min(cfg.update_clip * sigma, err))
    baseline = min(1.0, max(0.0, p0 + alpha * clipped))
    var = state.var
    if x < cfg.learn_z or state.n < cfg.warmup:
        # As for volume: the hours of a shift must not teach the noise that hides them.
        var = max(0.0, state.var + alpha * (clipped * clipped - binomial - state.var))
    new = SentimentState(
        n=state.n + 1,
        last_bucket=t,
        baseline=baseline,
        var=var,
        cusum=cusum,
        run_posts=run_posts,
        run_negative=run_negative,
        alarmed=alarmed,
    )
    return new, detection


# --- KOL involvement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KolMention:
    """One post of the bucket that matched the watch, with what we know of its author."""

    platform: str
    author_id: str
    author_name: str
    followers: int | None  # None: unknown, never treated as a KOL
    post_id: str
    negative: bool = False


def detect_kol(
    key: str,
    bucket_start: datetime,
    mentions: Iterable[KolMention],
    settings: DetectorSettings | None = None,
) -> list[Detection]:
    """One detection per author at or above the 腰部 threshold, largest accounts first."""

    cfg = (settings or DetectorSettings()).kol
    _epoch(bucket_start)
    if cfg.head_followers < cfg.waist_followers:
        raise ValueError("kol.head_followers must be >= kol.waist_followers")
    authors: dict[tuple[str, str], list[KolMention]] = {}
    for m in mentions:
        if m.followers is not None and m.followers < 0:
            raise ValueError(f"negative follower count for {m.platform}:{m.author_id}")
        if m.followers is not None and m.followers >= cfg.waist_followers:
            authors.setdefault((m.platform, m.author_id), []).append(m)
    out: list[Detection] = []
    for (platform, author_id), posts in authors.items():
        followers = max(p.followers or 0 for p in posts)
        name = posts[-1].author_name or author_id
        tier = 2 if followers >= cfg.head_followers else 1
        tier_zh, tier_en = ("头部", "head") if tier == 2 else ("腰部", "mid-tier")
        negative = sum(p.negative for p in posts)
        neg_zh = f"，其中 {negative} 条负面" if negative else ""
        neg_en = f", {negative} negative" if negative else ""
        out.append(
            Detection(
                kind=KOL_INVOLVED,
                key=key,
                subject=f"{platform}:{author_id}",
                severity=followers / cfg.waist_followers,
                bucket_start=bucket_start,
                numbers={
                    "followers": float(followers),
                    "tier": float(tier),
                    "posts": float(len(posts)),
                    "negative_posts": float(negative),
                },
                reason_zh=f"{tier_zh} KOL「{name}」（{platform}，粉丝 {followers:,}）"
                f"发布 {len(posts)} 条相关内容{neg_zh}",
                reason_en=f"{tier_en} KOL '{name}' ({platform}, {followers:,} followers) posted "
                f"{len(posts)} related posts{neg_en}",
            )
        )
    out.sort(key=lambda d: (-d.severity, d.subject))
    return out


# --- hot list --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HotSighting:
    """What the hot-list detector remembers of one title on one board."""

    platform: str
    board: str
    title: str
    first_seen: int  # epoch seconds
    last_seen: int
    best_rank: int
    peak_heat: int


@dataclass(frozen=True, slots=True)
class HotlistState:
    sightings: tuple[HotSighting, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "type": "hotlist",
            "sightings": [
                [s.platform, s.board, s.title, s.first_seen, s.last_seen, s.best_rank, s.peak_heat]
                for s in self.sightings
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HotlistState:
        _check_header(data, "hotlist")
        rows = data.get("sightings")
        if not isinstance(rows, list):
            raise ValueError("hotlist.sightings must be a list")
        out = []
        for row in rows:
            if (
                not isinstance(row, list)
                or len(row) != 7
                or not all(isinstance(v, str) for v in row[:3])
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in row[3:])
            ):
                raise ValueError(f"hotlist.sightings: malformed row {row!r:.80}")
            out.append(HotSighting(*row))
        return cls(tuple(out))


def update_hotlist(
    state: HotlistState,
    key: str,
    captured_at: datetime,
    entries: Iterable[HotEntry],
    settings: DetectorSettings | None = None,
) -> tuple[HotlistState, list[Detection]]:
    """Feed the hot-list entries (of one capture) whose title matched the watch.

    One incident per watch: fires when the watch appears on a list after `reentry_hours` without
    any matching entry, and again only when an entry reaches a higher level band than any seen in
    the current appearance (top-10 or heat >= 1M is red, top-50 orange). New titles of an ongoing
    appearance are remembered but do not fire. A pinned entry (rank None) counts as rank 1.
    """

    s = settings or DetectorSettings()
    cfg, lv = s.hotlist, s.levels
    t = _epoch(captured_at)
    window = int(cfg.reentry_hours * 3600)
    known = {(h.platform, h.board, h.title): h for h in state.sightings if t - h.last_seen <= window}
    ongoing = bool(known)
    top = max((_hot_level(h.best_rank, h.peak_heat, lv) for h in known.values()), default=None)
    usable = []
    for e in entries:
        if e.rank is not None and e.rank < 1:
            raise ValueError(f"hot-list rank must be >= 1, got {e.rank}")
        if e.is_ad and not cfg.include_ads:
            continue
        rank = 1 if e.rank is None else e.rank
        usable.append((e, rank, max(e.heat or 0, 0)))
    usable.sort(key=lambda u: (u[1], -u[2]))  # best rank first: it is the one that fires
    found: list[Detection] = []
    for e, rank, heat in usable:
        ident = (e.platform, e.board, e.title)
        prev = known.get(ident)
        level = _hot_level(rank, heat, lv)
        fire = top is None or level > top
        if prev is None:
            known[ident] = HotSighting(e.platform, e.board, e.title, t, t, rank, heat)
        else:
            known[ident] = replace(
                prev,
                last_seen=max(prev.last_seen, t),
                best_rank=min(prev.best_rank, rank),
                peak_heat=max(prev.peak_heat, heat),
            )
        if fire:
            top = level
            new = not ongoing
            what_zh = "登上" if new else "升至"
            what_en = "entered" if new else "rose to"
            found.append(
                Detection(
                    kind=HOT_LIST,
                    key=key,
                    subject=f"{e.platform}:{e.board}:{e.title}",
                    severity=float(level),
                    bucket_start=captured_at,
                    numbers={"rank": float(rank), "heat": float(heat), "new": 1.0 if new else 0.0},
                    reason_zh=f"「{e.title}」{what_zh}{e.platform} 热榜第 {rank} 位（热度 {heat:,}）",
                    reason_en=f"'{e.title}' {what_en} #{rank} on the {e.platform} {e.board} list "
                    f"(heat {heat:,})",
                )
            )
            ongoing = True
    kept = sorted(known.values(), key=lambda h: -h.last_seen)[: cfg.max_entries]
    return HotlistState(tuple(kept)), found


# --- helpers ---------------------------------------------------------------------------------


def _aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got {dt.isoformat()}")
    return dt


def _epoch(dt: datetime) -> int:
    if not isinstance(dt, datetime):
        raise TypeError(f"bucket start must be a datetime, got {type(dt).__name__}")
    return int(_aware(dt).astimezone(UTC).timestamp())


def _check_bucket_counts(count: int, neg_share: float | None, unique: int | None) -> None:
    """One bucket's inputs to a volume detector; ValueError naming the bad one."""

    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    if neg_share is not None and not (0.0 <= neg_share <= 1.0):
        raise ValueError(f"neg_share must be within 0..1, got {neg_share!r}")
    if unique is not None and (
        not isinstance(unique, int) or isinstance(unique, bool) or not 0 <= unique <= count
    ):
        raise ValueError(f"unique must be an int within 0..count ({count}), got {unique!r}")


def _check_order(last: int | None, t: int) -> None:
    if last is not None and t <= last:
        raise ValueError(
            f"buckets must arrive in time order: {datetime.fromtimestamp(t, UTC).isoformat()} "
            f"is not after {datetime.fromtimestamp(last, UTC).isoformat()}"
        )


def _need_mapping(value: object, what: str) -> None:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a JSON object")


def _check_header(data: Mapping[str, Any], kind: str) -> None:
    _need_mapping(data, f"{kind} state")
    if data.get("type") != kind:
        raise ValueError(f"not a {kind} state (type={data.get('type')!r})")
    if data.get("v") != STATE_VERSION:
        raise ValueError(f"{kind} state version {data.get('v')!r} is not {STATE_VERSION}")


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r:.40}")
    return float(value)


def _float(
    data: Mapping[str, Any], name: str, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    value = _finite(data.get(name), name)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} = {value} is out of range")
    return value


def _int(data: Mapping[str, Any], name: str, *, minimum: int = 0) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r:.40}")
    return value


def _opt_int(data: Mapping[str, Any], name: str) -> int | None:
    return None if data.get(name) is None else _int(data, name, minimum=-(2**62))


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _floats(data: Mapping[str, Any], name: str, length: int) -> tuple[float, ...]:
    values = data.get(name)
    if not isinstance(values, list) or len(values) != length:
        raise ValueError(f"{name} must be a list of {length} numbers")
    return tuple(_finite(v, name) for v in values)


def _ints(data: Mapping[str, Any], name: str, length: int) -> tuple[int, ...]:
    values = data.get(name)
    if not isinstance(values, list) or len(values) != length:
        raise ValueError(f"{name} must be a list of {length} ints")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ValueError(f"{name} must hold non-negative ints")
    return tuple(values)
