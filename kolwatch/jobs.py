"""Periodic jobs of the service. This part: `run_alert_rules`, the alert job (counters -> detectors
-> rules -> outbox).

For every active watch, in one transaction per watch, the job feeds the detectors every closed
bucket since the last one it processed, turns detections into alerts with bot/alerts.py, enqueues
them with their deliveries and stores the new detector states and cursors. A crash before the
commit repeats the watch's buckets (the same alerts, same keys: enqueue is idempotent); after it,
nothing is repeated. So no alert is lost or doubled between detection and the outbox.

Which detector runs on which series (research/scoring.md 7b):
- volume spike on the RAW volume (copies included; why: bot/alerts.py) of 1-hour buckets (the
  research's primary design: hour-of-week seasonality, >= 20 posts/hour) and, when
  `[alerts.rules] fast_volume` is on, of 5-minute buckets judged against the hourly model's rate
  (nlp.trends.update_fast: a negative-binomial tail test, >= 10 posts per 5 min), so a sharp
  burst alerts within minutes instead of at the end of the hour. Buckets are fed in order of
  their end, a 5-minute bucket before the hour it closes, whatever the job's cadence. Both feed
  one incident, so a burst seen by both alerts once. The coordination check compares raw and
  collapsed volume of the bucket (the 水军 tag).
- emerging terms and the negative-sentiment shift on 1-hour buckets: term shares and negative
  shares need the posts of an hour to mean anything (7b.2 uses 1 h / 24 h windows, 7b.3 hourly).
  Terms count each near-duplicate cluster once (copies of one text are not a topic); the
  sentiment shift judges the raw negative share, what readers see.
- KOL involvement on every closed 5-minute bucket's new mentions (stateless; an author at or above
  the platform's 腰部 band of scoring's tiers and the watch's kol.waist_followers), one event per
  author. By default the rules keep only those inside a story (bot/alerts.py), except 头部 ones
  (kol_alone_followers) of accounts that are not organisations, which alert on their own; when
  another detector opens a new activity window, the KOL posts of the `kol_lookback_hours` before
  it are read again and judged then, with the window's own time as their "known at".
- the rules (bot/alerts.py decide_story) keep one incident per story: it opens, escalates, and
  each new kind of signal updates it once.
- hot list on every hot-list capture since the last one processed whose titles match the watch's
  query (nlp.matcher).
A bucket counts as closed `settle_minutes` after its end, because collectors deliver late posts.
Detections older than `max_age_hours` when the job sees them (catch-up) teach the detectors and
the activity window but are neither sent nor recorded as incidents.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from bot import alerts as rules
from collectors.base import is_organisation
from kolwatch.settings import Secrets, Settings, first_error, scoring_settings, settings_error
from nlp import trends
from nlp.matcher import WatchMatcher
from nlp.query import QuerySyntaxError, parse
from nlp.types import NEGATIVE
from scoring.settings import ScoringSettings
from scoring.tiers import bands_for, tier_for
from storage import alert_queries, repos
from storage.alert_queries import MentionFact
from storage.db import Database

log = logging.getLogger(__name__)

FIVE_MIN, HOUR, DAY = 300, 3600, 86400
WAIST_TIER = "腰部"
CURSOR_VERSION = 1

TargetsFn = Callable[[Any, int, int], list[tuple[str, str]]]


# --- settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertConfig:
    """Validated `[alerts]` defaults: detector settings (as a dict, merged per watch) and rules."""

    detector_defaults: dict[str, Any]
    rules: rules.RuleSettings
    scoring: ScoringSettings


def alert_config(settings: Settings) -> AlertConfig:
    """Validate `[alerts]` (DetectorSettings keys plus a `rules` table) and `[scoring]` tiers."""

    section = dict(settings.alerts)
    rule_part = section.pop("rules", {})
    try:
        trends.DetectorSettings.model_validate(section)
    except ValidationError as exc:
        raise settings_error(settings, ("alerts",), exc) from None
    try:
        rule_settings = rules.RuleSettings.model_validate(rule_part)
    except ValidationError as exc:
        raise settings_error(settings, ("alerts", "rules"), exc) from None
    return AlertConfig(section, rule_settings, scoring_settings(settings))


def watch_settings(
    config: AlertConfig, overrides: Mapping[str, Any]
) -> tuple[trends.DetectorSettings, rules.RuleSettings]:
    """A watch's detector_settings over the `[alerts]` defaults, section by section; raises
    ValueError naming the key when the watch's overrides are invalid."""

    merged: dict[str, Any] = {
        k: dict(v) if isinstance(v, Mapping) else v for k, v in config.detector_defaults.items()
    }
    rule_over: Mapping[str, Any] = {}
    for key, value in overrides.items():
        if key == "rules":
            if not isinstance(value, Mapping):
                raise ValueError("rules: must be a table")
            rule_over = value
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    try:
        detector = trends.DetectorSettings.model_validate(merged)
        rule = rules.RuleSettings.model_validate({**config.rules.model_dump(), **rule_over})
    except ValidationError as exc:
        raise ValueError(first_error(exc)) from None
    return detector, rule


# --- the job ---------------------------------------------------------------------------------


def run_alert_rules(
    db: Database,
    settings: Settings,
    secrets: Secrets,
    *,
    now: datetime,
    deliver: bool = True,
) -> int:
    """Detectors and rules for every active watch; returns the number of alerts enqueued.

    `deliver=False` (replay) stores alerts without deliveries, so nothing is ever sent.
    """

    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    config = alert_config(settings)
    timezones = {ws.name: ws.timezone for ws in settings.workspaces}
    with db.read() as session:
        watches = repos.active_watches(session)

    def targets(session: Any, workspace_id: int, level: int) -> list[tuple[str, str]]:
        if not deliver:
            return []
        # Imported here: the outbox pulls in every notifier (aiogram), which replay never needs.
        from kolwatch.outbox import alert_targets

        return alert_targets(session, settings, secrets, workspace_id=workspace_id, level=level)

    total = 0
    for watch in watches:
        try:
            detector, rule = watch_settings(config, watch.detector_settings)
        except ValueError as exc:
            log.error("watch %s (%s): invalid detector settings, skipped: %s", watch.id, watch.name, exc)
            continue
        with db.write() as session:
            total += process_watch(
                session,
                watch,
                detector=detector,
                rule=rule,
                scoring=config.scoring,
                timezone=timezones.get(watch.workspace, "Asia/Shanghai"),
                now=now,
                targets=targets,
            )
    return total


@dataclass
class _Cursor:
    next_5m: int
    next_1h: int
    hot_after: int

    def to_json(self) -> dict[str, Any]:
        return {
            "v": CURSOR_VERSION,
            "next_5m": self.next_5m,
            "next_1h": self.next_1h,
            "hot_after": self.hot_after,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Cursor:
        if data.get("v") != CURSOR_VERSION:
            raise ValueError(f"cursor version {data.get('v')!r}")
        values = [data.get(k) for k in ("next_5m", "next_1h", "hot_after")]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError("cursor fields must be ints")
        if values[0] % FIVE_MIN or values[1] % HOUR:
            raise ValueError("cursor is not aligned to its buckets")
        return cls(*values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Event:
    """A detection with what the rules need to judge and explain it."""

    known_at: int  # epoch seconds the detection became possible (bucket end, capture time)
    order: int
    detection: trends.Detection
    bucket_s: int | None
    base: trends.Level
    level: trends.Level
    posts_from: int  # evidence window [posts_from, posts_until)
    posts_until: int
    kols: tuple[rules.KolRef, ...] = ()
    sockpuppet: rules.Sockpuppet | None = None
    subject: str = ""  # the incident's subject when not the detection's own
    related: tuple[trends.Detection, ...] = ()  # detections grouped into this one (more terms)
    alone: bool = False  # a KOL detection that alerts without a story (rules.kol_alone)

    @property
    def incident_subject(self) -> str:
        return self.subject or self.detection.subject


class _States:
    """Detector states of one watch, loaded lazily and written back at the end."""

    def __init__(self, session: Any, watch: repos.WatchInfo) -> None:
        self.session = session
        self.watch = watch
        self.loaded: dict[tuple[str, str], Any] = {}

    def get(
        self, detector: str, key: str, parse_fn: Callable[[Mapping[str, Any]], Any], fresh: Callable[[], Any]
    ) -> Any:
        ident = (detector, key)
        if ident not in self.loaded:
            raw = repos.get_detector_state(self.session, watch_id=self.watch.id, detector=detector, key=key)
            state = fresh()
            if raw is not None:
                try:
                    state = parse_fn(raw)
                except (ValueError, TypeError) as exc:
                    # A state we cannot read (hand-edited, older format) must not block alerts
                    # forever: start that detector afresh, loudly.
                    log.error(
                        "watch %s (%s): %s/%s state unreadable, restarting it: %s",
                        self.watch.id,
                        self.watch.name,
                        detector,
                        key,
                        exc,
                    )
            self.loaded[ident] = state
        return self.loaded[ident]

    def set(self, detector: str, key: str, state: Any) -> None:
        self.loaded[(detector, key)] = state

    def save(self, now: datetime) -> None:
        for (detector, key), state in self.loaded.items():
            repos.put_detector_state(
                self.session,
                watch_id=self.watch.id,
                detector=detector,
                key=key,
                state=state.to_json(),
                now=now,
            )


def process_watch(
    session: Any,
    watch: repos.WatchInfo,
    *,
    detector: trends.DetectorSettings,
    rule: rules.RuleSettings,
    scoring: ScoringSettings,
    timezone: str,
    now: datetime,
    targets: TargetsFn,
) -> int:
    """One watch: closed buckets since its cursor -> detections -> alerts; returns alerts enqueued."""

    now_t = int(now.timestamp())
    limit = _floor(now_t - int(rule.settle_minutes * 60), FIVE_MIN)
    states = _States(session, watch)
    cursor = states.get("cursor", "", _Cursor.from_json, lambda: None)
    if cursor is None:
        first = alert_queries.first_counter_bucket(session, watch_id=watch.id, bucket_s=FIVE_MIN)
        begin = _floor(limit, HOUR) if first is None else _floor(int(first.timestamp()), HOUR)
        begin = max(begin, _floor(limit - rule.max_backfill_days * DAY, HOUR))
        cursor = _Cursor(next_5m=begin, next_1h=begin, hot_after=begin)
    matcher = _title_matcher(watch)
    rule_state = states.get("rules", "", rules.RuleState.from_json, rules.RuleState)
    ref = rules.WatchRef(id=watch.id, workspace_id=watch.workspace_id, name=watch.name, timezone=timezone)
    scope = f"w{watch.id}"
    enqueued = 0
    stale_before = now_t - rule.max_age_hours * 3600

    def send(
        event: _Event, facts: Sequence[MentionFact], *, alone: bool = False, quiet: bool = False
    ) -> None:
        """Dedup/cooldown and the outbox for one detection the job may still send. `alone`: an
        incident of its own (a 头部 KOL posting outside any story), never the watch's story;
        `quiet`: join the story without an alert (a post that already alerted on its own)."""

        nonlocal rule_state, enqueued
        if event.known_at < stale_before:
            return  # catch-up: never sent, so it must not open or extend an incident either
        rule_state, decision = rules.decide_story(
            rule_state,
            scope=scope,
            kind=event.detection.kind,
            subject=event.incident_subject,
            level=event.level,
            at=event.detection.bucket_start,
            signal=rules.signal_line(event.detection, timezone),
            settings=rule,
            signal_kind=rules.signal_kind(event.detection),
            alone=alone,
        )
        if decision is None or quiet:
            return
        alert = rules.build_alert(
            watch=ref,
            detection=event.detection,
            decision=decision,
            base=event.base,
            bucket_s=event.bucket_s,
            created_at=_dt(min(now_t, event.known_at + int(rule.settle_minutes * 60))),
            posts=_evidence(event, facts, rule.top_posts),
            kols=event.kols,
            sockpuppet=event.sockpuppet,
            related=event.related,
        )
        alert_id = repos.enqueue_alert(
            session, alert=alert, targets=targets(session, watch.workspace_id, alert.level)
        )
        enqueued += alert_id is not None

    start = min(cursor.next_5m, cursor.next_1h)
    while True:
        chunk_end = min(start + DAY, limit)
        last_chunk = chunk_end >= limit
        hot_until = now_t if last_chunk else chunk_end
        if chunk_end <= start and not (last_chunk and hot_until > cursor.hot_after):
            break
        # An hour before the chunk too: a hot-list alert shows the posts of the hour before it.
        facts = alert_queries.mention_facts(
            session, watch_id=watch.id, start=_dt(start - HOUR), end=_dt(max(hot_until, chunk_end))
        )
        events = _detect(session, states, watch, cursor, facts, start, chunk_end, detector, rule, scoring)
        if matcher is not None and hot_until > cursor.hot_after:
            # Up to `now` itself on the last chunk: a capture stored in the same second as the job
            # starts (the demo's run_once) is after the floored second. The cursor keeps whole
            # seconds, so the next run reads (floor(now), now] again; the hot-list detector does
            # not fire twice for a sighting it already holds.
            until = now if last_chunk else _dt(hot_until)
            events += _detect_hot(session, states, watch, matcher, cursor.hot_after, until, detector)
            cursor.hot_after = hot_until
        events.sort(key=lambda e: (e.known_at, e.order))
        for event in events:
            detection = event.detection
            if detection.kind == trends.KOL_INVOLVED:
                if rules.kol_in_story(rule_state, at=detection.bucket_start, settings=rule):
                    send(event, facts)
                elif event.alone:
                    send(event, facts, alone=True)
                continue
            rule_state, opened = rules.note_activity(rule_state, at=detection.bucket_start, settings=rule)
            send(event, facts)
            if opened and rule.kol_needs_incident:
                # The KOL posts just before the story began (often what started it) were judged
                # when nothing was going on; judge them again now, as part of it.
                at = int(detection.bucket_start.timestamp())
                backfill, backfill_facts = _kol_backfill(
                    session,
                    watch,
                    at - int(rule.kol_lookback_hours * 3600),
                    min(event.known_at, limit),
                    event.known_at,
                    detector,
                    rule,
                    scoring,
                )
                for kol_event in backfill:
                    if rules.kol_in_story(rule_state, at=kol_event.detection.bucket_start, settings=rule):
                        send(kol_event, backfill_facts, quiet=kol_event.alone)
        if last_chunk:
            break
        start = chunk_end

    states.set("rules", "", rule_state)
    states.set("cursor", "", cursor)
    states.save(now)
    return enqueued


def _detect(
    session: Any,
    states: _States,
    watch: repos.WatchInfo,
    cursor: _Cursor,
    facts: Sequence[MentionFact],
    start: int,
    end: int,
    cfg: trends.DetectorSettings,
    rule: rules.RuleSettings,
    scoring: ScoringSettings,
) -> list[_Event]:
    """Volume, terms, sentiment and KOL detections of the closed buckets in [start, end)."""

    events: list[_Event] = []
    if end <= start:
        return events
    key = f"w{watch.id}"
    times = [int(f.created_at.timestamp()) for f in facts]
    counters = {
        size: {
            int(p.bucket_start.timestamp()): p
            for p in repos.counter_series(
                session, watch_id=watch.id, bucket_s=size, start=_dt(start), end=_dt(end)
            )
        }
        for size in (FIVE_MIN, HOUR)
    }

    def window(a: int, b: int) -> Sequence[MentionFact]:
        return facts[bisect.bisect_left(times, a) : bisect.bisect_left(times, b)]

    baselines: dict[int, tuple[float, float]] = {}  # hour -> usual copy / throwaway shares

    def volume(size: int, bucket: int, point: repos.CounterPoint | None, order: int) -> None:
        hourly = states.get(
            "volume", "1h", trends.VolumeState.from_json, lambda: trends.VolumeState.new(HOUR)
        )
        raw = point.raw_volume if point else 0
        unique = min(point.volume, raw) if point else 0
        neg_share = None
        if point is not None and point.scored >= cfg.sentiment.min_bucket_posts:
            neg_share = point.negative / point.scored
        found: trends.Detection | None
        if size == HOUR:
            hourly, found = trends.update_volume(
                hourly, key, _dt(bucket), raw, cfg, neg_share=neg_share, unique=unique
            )
            states.set("volume", "1h", hourly)
        else:
            # Judged against the hourly model as it stands after the hours before this bucket's
            # (the loop below feeds buckets in order of their end).
            fast = states.get(
                "volume", "fast", trends.FastState.from_json, lambda: trends.FastState.new(size)
            )
            fast, found = trends.update_fast(
                fast, hourly, key, _dt(bucket), raw, cfg, neg_share=neg_share, unique=unique
            )
            states.set("volume", "fast", fast)
        if found is None:
            return
        rows = window(bucket, bucket + size)
        hour = _floor(bucket, HOUR)
        if hour not in baselines:
            baselines[hour] = _baseline_shares(session, watch.id, hour, rule)
        copy_base, suspicious_base = baselines[hour]
        sock = rules.assess_sockpuppets(
            raw,
            unique,
            _accounts(rows),
            rule,
            expected=found.numbers["expected"],
            baseline_copy_share=copy_base,
            baseline_suspicious_share=suspicious_base,
        )
        kols = _kol_refs(rows, cfg, rule, scoring)
        base, level = rules.alert_level(found, cfg.levels, sockpuppet=sock, kols=kols)
        events.append(
            _Event(bucket + size, order, found, size, base, level, bucket, bucket + size, kols, sock)
        )

    def hour_step(bucket: int, order: int) -> None:
        point = counters[HOUR].get(bucket)
        volume(HOUR, bucket, point, order)
        rows = window(bucket, bucket + HOUR)
        negative, scored = (point.negative, point.scored) if point else (0, 0)
        sent = states.get("sentiment", "1h", trends.SentimentState.from_json, trends.SentimentState)
        sent, found = trends.update_sentiment(sent, key, _dt(bucket), negative, scored, cfg)
        states.set("sentiment", "1h", sent)
        if found is not None:
            base = trends.level_for(found, cfg.levels)
            events.append(_Event(bucket + HOUR, order + 1, found, HOUR, base, base, bucket, bucket + HOUR))
        # Terms from the hour's posts themselves, not the counter's top-30 list: a steady term that
        # drops out of a busy hour's top 30 would read as absent, decay, and later look "new".
        # Counted once per near-duplicate cluster: five pasted copies of one ordinary post are
        # one text, not a topic (the demo's background week alerted on 「燕麦」 from 3 posts + 3
        # copies); a copy wave is the volume detector's, with its 水军 tag.
        clusters: dict[str, set[int]] = defaultdict(set)
        authors: dict[str, set[int]] = defaultdict(set)
        for f in rows:
            for term in set(f.keywords):
                if term:
                    clusters[term].add(f.cluster)
                    authors[term].add(f.author_pk)
        term_posts = {t: len(c) for t, c in clusters.items()}
        term_state = states.get("terms", "1h", trends.TermState.from_json, trends.TermState)
        total = len({f.cluster for f in rows})
        term_state, terms_found = trends.update_terms(
            term_state,
            key,
            _dt(bucket),
            total,
            term_posts,
            {t: len(a) for t, a in authors.items()},
            cfg,
        )
        states.set("terms", "1h", term_state)
        if terms_found:
            # One topic per watch and hour (7b.2 groups co-occurring bursty terms, GroupBurst-style):
            # a story brings a handful of new words at once, and each must not be an alert of its own.
            top = terms_found[0]
            base = trends.level_for(top, cfg.levels)
            events.append(
                _Event(
                    bucket + HOUR,
                    order + 2,
                    top,
                    HOUR,
                    base,
                    base,
                    bucket,
                    bucket + HOUR,
                    subject="terms",
                    related=tuple(terms_found[1:]),
                )
            )
        cursor.next_1h = bucket + HOUR

    def five_step(bucket: int, order: int) -> None:
        nonlocal events
        point = counters[FIVE_MIN].get(bucket)
        if rule.fast_volume:
            volume(FIVE_MIN, bucket, point, order)
        events += _kol_events(key, bucket, window(bucket, bucket + FIVE_MIN), order + 1, cfg, rule, scoring)
        cursor.next_5m = bucket + FIVE_MIN

    # Every closed bucket in order of its end, a 5-minute bucket before the hour it closes: the
    # 5-minute path reads the hourly model as it stands after the hours before its own, whatever
    # the job's cadence or chunking (replay output must not depend on them).
    steps = [(b + FIVE_MIN, 0, b) for b in range(max(start, cursor.next_5m), end, FIVE_MIN)]
    steps += [(b + HOUR, 1, b) for b in range(max(_ceil(start, HOUR), cursor.next_1h), end - HOUR + 1, HOUR)]
    steps.sort()
    order = 0
    for _, is_hour, bucket in steps:
        if is_hour:
            hour_step(bucket, order)
        else:
            five_step(bucket, order)
        order += 3
    return events


def _kol_events(
    key: str,
    bucket: int,
    rows: Sequence[MentionFact],
    order: int,
    cfg: trends.DetectorSettings,
    rule: rules.RuleSettings,
    scoring: ScoringSettings,
) -> list[_Event]:
    """One event per KOL author among the mentions of one 5-minute bucket (its own incident)."""

    mentions = [
        trends.KolMention(
            platform=f.platform,
            author_id=f.author_id,
            author_name=f.author_name,
            followers=f.followers,
            post_id=f.post_id,
            negative=f.label == NEGATIVE,
        )
        for f in rows
        if _is_kol(f, cfg, scoring)
    ]
    found = trends.detect_kol(key, _dt(bucket), mentions, cfg)
    if not found:
        return []
    kols = _kol_refs(rows, cfg, rule, scoring)
    organisations = {f"{f.platform}:{f.author_id}" for f in rows if _is_organisation(f)}
    out = []
    for detection in found:
        level = trends.level_for(detection, cfg.levels)
        alone = rules.kol_alone(detection, rule) and detection.subject not in organisations
        out.append(
            _Event(
                bucket + FIVE_MIN,
                order,
                detection,
                FIVE_MIN,
                level,
                level,
                bucket,
                bucket + FIVE_MIN,
                kols,
                alone=alone,
            )
        )
    return out


def _is_organisation(fact: MentionFact) -> bool:
    # A company's, a media outlet's or the brand's own official account is not a KOL whose post is
    # news on its own (the demo's 青禾手机 official account, 1.96M followers, posts about its phones).
    return is_organisation(fact.platform, fact.verified_type)


def _kol_backfill(
    session: Any,
    watch: repos.WatchInfo,
    start: int,
    until: int,
    known_at: int,
    cfg: trends.DetectorSettings,
    rule: rules.RuleSettings,
    scoring: ScoringSettings,
) -> tuple[list[_Event], list[MentionFact]]:
    """KOL events of the closed 5-minute buckets in [start, until), known at `known_at`."""

    start = _floor(start, FIVE_MIN)
    facts = alert_queries.mention_facts(session, watch_id=watch.id, start=_dt(start), end=_dt(until))
    by_bucket: dict[int, list[MentionFact]] = defaultdict(list)
    for f in facts:
        by_bucket[_floor(int(f.created_at.timestamp()), FIVE_MIN)].append(f)
    events: list[_Event] = []
    for bucket in sorted(by_bucket):
        if bucket + FIVE_MIN > until:
            continue  # not closed yet: the normal pass will see it
        for event in _kol_events(f"w{watch.id}", bucket, by_bucket[bucket], 0, cfg, rule, scoring):
            events.append(replace(event, known_at=known_at))
    return events, facts


def _kol_refs(
    rows: Sequence[MentionFact],
    cfg: trends.DetectorSettings,
    rule: rules.RuleSettings,
    scoring: ScoringSettings,
) -> tuple[rules.KolRef, ...]:
    by_author: dict[tuple[str, str], list[MentionFact]] = defaultdict(list)
    for f in rows:
        if _is_kol(f, cfg, scoring):
            by_author[(f.platform, f.author_id)].append(f)
    refs = [
        rules.KolRef(
            platform=p,
            author_id=a,
            name=posts[-1].author_name or a,
            followers=max(x.followers or 0 for x in posts),
            tier=tier_for(max(x.followers or 0 for x in posts), p, scoring),
            posts=len(posts),
            negative_posts=sum(x.label == NEGATIVE for x in posts),
        )
        for (p, a), posts in by_author.items()
    ]
    refs.sort(key=lambda k: (-k.followers, k.platform, k.author_id))
    return tuple(refs[: rule.max_kols])


def _detect_hot(
    session: Any,
    states: _States,
    watch: repos.WatchInfo,
    matcher: WatchMatcher[int],
    after: int,
    until: datetime,
    cfg: trends.DetectorSettings,
) -> list[_Event]:
    entries = alert_queries.hot_entries_between(session, after=_dt(after), until=until)
    captures: dict[datetime, list[Any]] = defaultdict(list)
    for entry in entries:
        if matcher.match(entry.title, platform=entry.platform):
            captures[entry.captured_at].append(entry)
    events: list[_Event] = []
    state = states.get("hotlist", "", trends.HotlistState.from_json, trends.HotlistState)
    for captured_at in sorted(captures):
        state, found = trends.update_hotlist(state, f"w{watch.id}", captured_at, captures[captured_at], cfg)
        t = int(captured_at.timestamp())
        for i, detection in enumerate(found):
            base = trends.level_for(detection, cfg.levels)
            events.append(_Event(t, i, detection, None, base, base, t - HOUR, t))
    states.set("hotlist", "", state)
    return events


def _evidence(event: _Event, facts: Sequence[MentionFact], limit: int) -> list[rules.PostRef]:
    """The posts an alert shows: those of its window that explain it, most engaging first."""

    if limit <= 0:
        return []
    d = event.detection
    rows = [f for f in facts if event.posts_from <= f.created_at.timestamp() < event.posts_until]
    if d.kind == trends.KOL_INVOLVED:
        platform, _, author_id = d.subject.partition(":")
        rows = [f for f in rows if f.platform == platform and f.author_id == author_id]
    elif d.kind == trends.EMERGING_TERM:
        wanted = {d.subject, *(r.subject for r in event.related)}
        rows = [f for f in rows if wanted.intersection(f.keywords)]
    if d.kind == trends.SENTIMENT_SHIFT:
        rows.sort(key=lambda f: (f.label != NEGATIVE, -f.engagement, f.post_pk))
    else:
        rows.sort(key=lambda f: (-f.engagement, f.post_pk))
    out: list[rules.PostRef] = []
    clusters: set[int] = set()
    for f in rows:
        if f.cluster in clusters:
            continue  # one copy of a copy-paste wave is enough evidence
        clusters.add(f.cluster)
        out.append(
            rules.PostRef(
                post_pk=f.post_pk,
                platform=f.platform,
                post_id=f.post_id,
                url=f.url,
                author_name=f.author_name,
                followers=f.followers,
                text=f.text,
                engagement=f.engagement,
                label=f.label,
            )
        )
        if len(out) >= limit:
            break
    return out


def _accounts(rows: Sequence[MentionFact]) -> list[rules.Account]:
    posts: dict[int, int] = defaultdict(int)
    last: dict[int, MentionFact] = {}
    for f in rows:
        posts[f.author_pk] += 1
        last[f.author_pk] = f
    return [
        rules.Account(f.author_name, f.followers, f.posts_count, posts=posts[pk]) for pk, f in last.items()
    ]


def _baseline_shares(
    session: Any, watch_id: int, before: int, rule: rules.RuleSettings
) -> tuple[float, float]:
    """The watch's usual share of near-duplicate copies and of posts by throwaway accounts: the
    day of hourly buckets before `before` (the 水军 check takes them off a spike's excess)."""

    start, end = _dt(before - DAY), _dt(before)
    points = repos.counter_series(session, watch_id=watch_id, bucket_s=HOUR, start=start, end=end)
    raw = sum(p.raw_volume for p in points)
    copies = sum(p.raw_volume - min(p.volume, p.raw_volume) for p in points)
    authors = alert_queries.mention_authors(session, watch_id=watch_id, start=start, end=end)
    suspicious = sum(
        rules.is_suspicious_account(rules.Account(name, followers, posts_count), rule)
        for name, followers, posts_count in authors
    )
    return (copies / raw if raw else 0.0, suspicious / len(authors) if authors else 0.0)


def _is_kol(fact: MentionFact, cfg: trends.DetectorSettings, scoring: ScoringSettings) -> bool:
    if fact.followers is None or fact.followers < cfg.kol.waist_followers:
        return False
    bands = bands_for(fact.platform, scoring)
    waist = next((b.min_followers for b in bands if b.name == WAIST_TIER), None)
    return waist is None or fact.followers >= waist


def _title_matcher(watch: repos.WatchInfo) -> WatchMatcher[int] | None:
    try:
        return WatchMatcher.build([(watch.id, parse(watch.query))])
    except (QuerySyntaxError, ValueError) as exc:
        log.error("watch %s (%s): query unusable for hot-list matching: %s", watch.id, watch.name, exc)
        return None


def _floor(t: int, size: int) -> int:
    return t - t % size


def _ceil(t: int, size: int) -> int:
    return -(-t // size) * size


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)
