"""Alert rules: detections -> alerts with a level, an incident, a dedup key, a cooldown and an explanation.

Pure functions over values; the alert job (kolwatch.jobs) feeds them detections in time order with
the evidence it read, and stores what they return through the outbox in one transaction.

- Volume series: the job runs the spike detector on RAW volume (copies included), not on the
  count after near-duplicate collapsing. A copy-paste wave is something a brand team must see,
  and the "possible 水军" tag below only means anything if a wave of copies can make a spike.
  The collapsed count of the same bucket is carried in the detection ("去重后 N 条") and the
  coordination check compares the two. (In the demo's incident hours the collapsed series reads
  7/11/11 posts against raw 18/24/36: a collapsed-only detector stays under the 20/hour minimum.)
- Level: `nlp.trends.level_for` (蓝 IV / 黄 III / 橙 II / 红 I, research/scoring.md 4.6 and 7b.6),
  then the coordination check of 7b.5: a volume spike whose excess over the expected count is
  mostly near-duplicate copies or posts of default-nickname / new accounts (beyond the watch's
  usual share of them) is tagged "possible 水军" and goes down one level; a spike that
  腰部-or-larger KOLs took part in (and that is not tagged) goes up one level.
- Incident: detections of one kind about one subject (the watch's volume, one term group, one
  KOL author, one hot-list appearance) belong to one incident while they keep coming less than
  `cooldown_hours` apart (`story_hours`, a day, for volume and sentiment: a story that resurges
  the next day is the same story). The incident id names the watch, kind, subject and the bucket
  it started in.
- Dedup and cooldown: an incident alerts once at its first level; later detections of the same
  incident stay quiet unless the level rises (an escalation: a new alert, same incident, key ending
  in the new level). The key is therefore unique per (incident, level), so replaying a crashed
  batch can never enqueue the same alert twice (repos.enqueue_alert is idempotent per key).
- Only detections that are sent open or extend incidents: the job does not call `decide` for a
  detection older than `max_age_hours` (catch-up after downtime), so a backlog nobody was told
  about never silences the live alert of the same story.
- KOL involvement is per author (one incident, one cooldown per KOL account; a bigger account
  joining is its own, higher-level alert: 腰部 蓝/黄, 头部 橙). With `kol_needs_incident` (the
  default) a 腰部 account alerts only as part of a story: while the watch has activity from
  another detector (volume, sentiment, emerging topic, hot list; sent or not) or within
  `kol_lookback_hours` before that activity began, since the KOL post is often what starts it. A
  腰部 reviewer's routine post in a quiet week is digest and ranking material, not an alert. A
  头部 account (`kol_alone_followers`; research 7b.6: a 头部 KOL involved is 橙 II) alerts on
  its own, once per author and cooldown (organisations, such as the brand's own official account,
  excepted by the job).
- Stories (`one_incident_per_story`, the default): a brand team gets one incident per story, not
  one per detector kind. While a story is open (detections less than story_hours apart), every
  detection of the watch belongs to it; the story alerts when it opens, when its level rises (an
  escalation), and once for each new kind of signal (an update at the story's level, e.g. the
  hot list or a 头部 KOL joining a volume spike); more signals of a kind it has are attached
  quietly and listed in its next alert (benchmarks/RESULTS-replay.md counts both).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from nlp.trends import (
    EMERGING_TERM,
    HOT_LIST,
    KOL_INVOLVED,
    SENTIMENT_SHIFT,
    VOLUME_SPIKE,
    Detection,
    Level,
    LevelSettings,
    level_for,
)
from storage.repos import AlertSpec

RULES_STATE_VERSION = 3  # v1 (no activity window) and v2 (no story) are still read

KIND_ZH = {
    VOLUME_SPIKE: "声量激增",
    EMERGING_TERM: "新兴话题",
    SENTIMENT_SHIFT: "负面情绪上升",
    KOL_INVOLVED: "KOL 参与",
    HOT_LIST: "登上热榜",
}

# Platform default nicknames: Weibo "用户5843920145" / "手机用户…", Bilibili "bili_39281743", generic
# "user12345678". Mass-registered accounts rarely rename themselves.
_DEFAULT_NICK = re.compile(r"^(用户|手机用户|微博用户|user|bili_?)[_\-]?\d{5,}$", re.IGNORECASE)


class RuleSettings(BaseModel):
    """`[alerts.rules]`: everything the rules and the alert job read besides DetectorSettings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cooldown_hours: float = Field(default=6.0, gt=0)  # research 7b.6: 6 h per key unless escalating
    # Volume and sentiment incidents stay open this long after their last detection: a story that
    # quietens overnight and surges again the next day is the same story (DeepSeek, Ne Zha 2 in
    # benchmarks/eval_replay.py came back daily), as the hot-list detector's reentry_hours holds.
    # A higher level still alerts at once.
    story_hours: float = Field(default=24.0, gt=0)
    # The job treats a bucket as closed this long after its end: collectors poll every few
    # minutes, so a bucket's last posts arrive after it ends.
    settle_minutes: float = Field(default=10.0, ge=0)
    # Catching up after downtime (or a new watch with history): older detections teach the state
    # and open incidents but are not sent, so a restart does not flood chats with stale alerts.
    max_age_hours: float = Field(default=6.0, gt=0)
    max_backfill_days: int = Field(default=35, ge=1, le=400)
    fast_volume: bool = True  # also run the volume detector on 5-minute buckets
    top_posts: int = Field(default=5, ge=0, le=20)
    max_kols: int = Field(default=5, ge=0, le=20)
    # 7b.5: "possible 水军" when more than half of a spike is copies or throwaway accounts.
    sockpuppet_copy_share: float = Field(default=0.5, gt=0, le=1)
    sockpuppet_account_share: float = Field(default=0.5, gt=0, le=1)
    sockpuppet_min_posts: int = Field(default=10, ge=1)
    # A "new" account: both counts known and at most this (a few days old, or bought in bulk).
    new_account_max_followers: int = Field(default=5, ge=0)
    new_account_max_posts: int = Field(default=5, ge=0)
    # KOL posts alert only inside a story (see the module docstring); off: every 腰部+ post alerts.
    kol_needs_incident: bool = True
    kol_lookback_hours: float = Field(default=1.0, ge=0)
    # ... except accounts this big, which alert on their own (research 7b.6: a 头部 KOL involved is
    # 橙 II by itself): 0 = the detector's 头部 threshold (kol.head_followers); -1 = never alone.
    kol_alone_followers: int = Field(default=0, ge=-1)
    # One incident per story: every detection of a watch while a story is open (story_hours since
    # the last one) belongs to that story's incident. It alerts when it opens, when its level
    # rises, and once for each kind of signal that joins it; further signals of a kind it already
    # has (another KOL, more new terms, a re-surge) are attached silently and listed in the next
    # alert. Off: one incident per kind and subject, as before.
    one_incident_per_story: bool = True


# --- rule state ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incident:
    kind: str
    subject: str
    start: int  # epoch seconds of the first detection's bucket
    last: int  # epoch seconds of the latest detection's bucket
    level: int  # highest level alerted so far

    def ident(self, scope: str) -> str:
        digest = hashlib.sha1(self.subject.encode("utf-8")).hexdigest()[:10]
        stamp = datetime.fromtimestamp(self.start, UTC).strftime("%Y%m%dT%H%MZ")
        return f"{scope}:{self.kind}:{digest}:{stamp}"


@dataclass(frozen=True, slots=True)
class Story:
    """The watch's open story incident: when it started, its latest detection, its level, the
    kinds of signal it has, and a short line for each signal (the latest MAX_SIGNALS)."""

    start: int
    last: int
    level: int
    kinds: tuple[str, ...]
    signals: tuple[str, ...] = ()

    def ident(self, scope: str) -> str:
        stamp = datetime.fromtimestamp(self.start, UTC).strftime("%Y%m%dT%H%MZ")
        return f"{scope}:story:{stamp}"

    def to_json(self) -> list[Any]:
        return [self.start, self.last, self.level, list(self.kinds), list(self.signals)]

    @classmethod
    def from_json(cls, row: object) -> Story:
        if (
            not isinstance(row, list)
            or len(row) != 5
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in row[:3])
            or row[2] not in tuple(Level)
            or row[0] > row[1]
            or not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in row[3:])
        ):
            raise ValueError(f"rules.story: malformed {row!r:.80}")
        return cls(row[0], row[1], row[2], tuple(row[3]), tuple(row[4]))


MAX_SIGNALS = 8


@dataclass(frozen=True, slots=True)
class RuleState:
    """Open incidents of one watch (closed ones, quiet for a cooldown, are dropped), its open
    story (one_incident_per_story) and the watch's activity window: first and last bucket (epoch
    seconds) of non-KOL detections that followed each other less than a cooldown apart, whether
    they were sent or not."""

    incidents: tuple[Incident, ...] = ()
    activity: tuple[int, int] | None = None
    story: Story | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "v": RULES_STATE_VERSION,
            "type": "rules",
            "incidents": [[i.kind, i.subject, i.start, i.last, i.level] for i in self.incidents],
            "activity": list(self.activity) if self.activity is not None else None,
            "story": self.story.to_json() if self.story is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RuleState:
        if not isinstance(data, Mapping) or data.get("type") != "rules":
            raise ValueError("not a rules state")
        if data.get("v") not in (1, 2, RULES_STATE_VERSION):
            raise ValueError(f"rules state version {data.get('v')!r} is not {RULES_STATE_VERSION}")
        activity = data.get("activity")
        if activity is not None and (
            not isinstance(activity, list)
            or len(activity) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in activity)
            or activity[0] > activity[1]
        ):
            raise ValueError(f"rules.activity: malformed {activity!r:.80}")
        rows = data.get("incidents")
        if not isinstance(rows, list):
            raise ValueError("rules.incidents must be a list")
        out = []
        for row in rows:
            if (
                not isinstance(row, list)
                or len(row) != 5
                or not all(isinstance(v, str) for v in row[:2])
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in row[2:])
                or row[4] not in tuple(Level)
            ):
                raise ValueError(f"rules.incidents: malformed row {row!r:.80}")
            out.append(Incident(*row))
        story = data.get("story")
        return cls(
            tuple(out),
            (activity[0], activity[1]) if activity is not None else None,
            Story.from_json(story) if story is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """An alert to raise: a new incident, an escalation of an open one, or (stories) a new kind of
    signal joining an open story at its level (`update`)."""

    incident: str
    key: str
    level: Level
    previous: Level | None  # the incident's level before an escalation
    started: datetime
    update: bool = False
    signals: tuple[str, ...] = ()  # the story's earlier signals, for the alert to list


def decide(
    state: RuleState,
    *,
    scope: str,
    kind: str,
    subject: str,
    level: Level,
    at: datetime,
    settings: RuleSettings,
) -> tuple[RuleState, Decision | None]:
    """Apply dedup, cooldown and escalation to one detection (fed in time order).

    `scope` names the watch (e.g. "w12"); `at` is the detection's bucket start.
    """

    t = _epoch(at)
    kept: list[Incident] = []
    current: Incident | None = None
    for inc in state.incidents:
        if t - inc.last > _open_seconds(inc.kind, settings):
            continue  # quiet for a whole cooldown (a story window): that incident is over
        if inc.kind == kind and inc.subject == subject:
            current = inc
        else:
            kept.append(inc)
    if current is None:
        new = Incident(kind=kind, subject=subject, start=t, last=t, level=int(level))
        ident = new.ident(scope)
        decision = Decision(ident, f"{ident}:L{int(level)}", level, None, at)
        return replace(state, incidents=(*kept, new)), decision
    updated = replace(current, last=max(current.last, t), level=max(current.level, int(level)))
    decision = None
    if level > current.level:
        ident = current.ident(scope)
        decision = Decision(
            ident,
            f"{ident}:L{int(level)}",
            level,
            Level(current.level),
            datetime.fromtimestamp(current.start, UTC),
        )
    return replace(state, incidents=(*kept, updated)), decision


def decide_story(
    state: RuleState,
    *,
    scope: str,
    kind: str,
    subject: str,
    level: Level,
    at: datetime,
    signal: str,
    settings: RuleSettings,
    signal_kind: str = "",
    alone: bool = False,
) -> tuple[RuleState, Decision | None]:
    """`decide` for one_incident_per_story (and `decide` itself when that is off).

    The watch's story stays open while detections keep coming less than story_hours apart (at
    least a cooldown). The first detection opens it and alerts; a detection above the story's
    level escalates it (an alert); the first detection of a kind the story does not have yet
    alerts once as an update at the story's level; anything else is attached silently. `signal`
    is the detection's line for the story's list, which every alert of the story shows;
    `signal_kind` the kind of signal when finer than `kind` (see signal_kind: a 头部 KOL joining a
    story that has 腰部 ones is news of its own). `alone`: a signal outside any story that alerts
    on its own (a 头部 KOL's post): `decide`'s incident per subject and cooldown, and no story
    opened (its routine posts are not the watch's story; if one starts, the KOL's post in it joins
    it as a signal of its own).
    """

    if alone or not settings.one_incident_per_story:
        return decide(state, scope=scope, kind=kind, subject=subject, level=level, at=at, settings=settings)
    t = _epoch(at)
    window = int(max(settings.story_hours, settings.cooldown_hours) * 3600)
    story = state.story
    kind = signal_kind or kind
    if story is None or t - story.last > window:
        story = Story(start=t, last=t, level=int(level), kinds=(kind,), signals=(signal,))
        ident = story.ident(scope)
        return replace(state, story=story), Decision(ident, f"{ident}:L{int(level)}", level, None, at)
    ident = story.ident(scope)
    started = datetime.fromtimestamp(story.start, UTC)
    earlier = story.signals
    decision: Decision | None = None
    if level > story.level:
        decision = Decision(
            ident, f"{ident}:L{int(level)}", level, Level(story.level), started, signals=earlier
        )
    elif kind not in story.kinds:
        current = Level(story.level)
        decision = Decision(
            ident, f"{ident}:{kind}:L{int(current)}", current, None, started, update=True, signals=earlier
        )
    story = replace(
        story,
        last=max(story.last, t),
        level=max(story.level, int(level)),
        kinds=story.kinds if kind in story.kinds else (*story.kinds, kind),
        signals=(*story.signals, signal)[-MAX_SIGNALS:],
    )
    return replace(state, story=story), decision


STORY_KINDS = frozenset({VOLUME_SPIKE, SENTIMENT_SHIFT})


def _open_seconds(kind: str, settings: RuleSettings) -> int:
    hours = settings.cooldown_hours
    if kind in STORY_KINDS:
        hours = max(hours, settings.story_hours)
    return int(hours * 3600)


def note_activity(state: RuleState, *, at: datetime, settings: RuleSettings) -> tuple[RuleState, bool]:
    """Record a non-KOL detection of bucket `at` (sent or not) in the watch's activity window;
    True when it opens a new window (nothing for a whole cooldown before it)."""

    t = _epoch(at)
    cooldown = int(settings.cooldown_hours * 3600)
    current = state.activity
    if current is None or t - current[1] > cooldown:
        return replace(state, activity=(t, t)), True
    return replace(state, activity=(min(current[0], t), max(current[1], t))), False


def signal_kind(detection: Detection) -> str:
    """The kind of signal a detection is for a story: its kind, with KOLs split by tier."""

    if detection.kind == KOL_INVOLVED and detection.numbers.get("tier", 0.0) >= 2:
        return f"{KOL_INVOLVED}:head"
    return detection.kind


def kol_alone(detection: Detection, settings: RuleSettings) -> bool:
    """Whether a KOL detection alerts without a story: a 头部 account (or kol_alone_followers)."""

    if settings.kol_alone_followers < 0:
        return False
    if settings.kol_alone_followers == 0:
        return detection.numbers.get("tier", 0.0) >= 2
    return detection.numbers.get("followers", 0.0) >= settings.kol_alone_followers


def signal_line(detection: Detection, tz: str = "Asia/Shanghai") -> str:
    """One short line naming a detection, for a story's list of signals."""

    kind_zh = KIND_ZH.get(detection.kind, detection.kind)
    about = "" if detection.kind in (VOLUME_SPIKE, SENTIMENT_SHIFT) else f"「{_subject_label(detection)}」"
    when = detection.bucket_start.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")
    n = detection.numbers
    figure = ""
    if detection.kind == VOLUME_SPIKE:
        figure = f" {n.get('observed', 0):.0f} 条（{n.get('ratio', 0):.1f}×）"
    elif detection.kind == SENTIMENT_SHIFT:
        figure = f" 负面 {n.get('neg_share', 0):.0%}"
    elif detection.kind == HOT_LIST:
        figure = f" 第 {n.get('rank', 0):.0f} 位"
    return f"{when} {kind_zh}{about}{figure}"


def kol_in_story(state: RuleState, *, at: datetime, settings: RuleSettings) -> bool:
    """Whether a KOL post of bucket `at` belongs to the watch's activity: from
    `kol_lookback_hours` before the window began to a cooldown after its last detection."""

    if not settings.kol_needs_incident:
        return True
    if state.activity is None:
        return False
    t = _epoch(at)
    start, last = state.activity
    return start - settings.kol_lookback_hours * 3600 <= t <= last + settings.cooldown_hours * 3600


# --- evidence --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostRef:
    """A post an alert shows as evidence."""

    post_pk: int
    platform: str
    post_id: str
    url: str
    author_name: str
    followers: int | None
    text: str
    engagement: float
    label: str


@dataclass(frozen=True, slots=True)
class KolRef:
    platform: str
    author_id: str
    name: str
    followers: int
    tier: str  # the scoring tier name (头部, 腰部 ...)
    posts: int
    negative_posts: int


@dataclass(frozen=True, slots=True)
class Account:
    """What the 水军 check knows about one posting account (and how many posts of the bucket)."""

    name: str
    followers: int | None
    posts_count: int | None
    posts: int = 1  # posts of this account in the spike's bucket


@dataclass(frozen=True, slots=True)
class Sockpuppet:
    """The coordination check's figures for one spike; `tagged` when either share is a majority.

    The shares are of the spike's excess over the expected count (when the detector gave one):
    copies (and posts of throwaway accounts) beyond what a normal bucket of the expected size
    holds, divided by the posts beyond the expected count. A share of the whole bucket diluted a
    wave with the baseline: 100 ordinary posts plus 100 copies read 49.5% and went untagged."""

    raw_volume: int
    volume: int
    copy_share: float  # share of the spike's (excess) posts that are near-duplicate copies
    accounts: int
    suspicious_accounts: int  # default nickname, or a new/throwaway footprint
    tagged: bool
    expected: float | None = None  # the detector's expected count; None: shares of the whole bucket
    suspicious_share: float = 0.0  # share of the spike's (excess) posts from suspicious accounts

    @property
    def excess(self) -> float:
        if self.expected is None or self.raw_volume <= self.expected:
            return float(self.raw_volume)
        return self.raw_volume - self.expected


def is_suspicious_account(account: Account, settings: RuleSettings) -> bool:
    if _DEFAULT_NICK.match(account.name.strip()):
        return True
    return (
        account.followers is not None
        and account.posts_count is not None
        and account.followers <= settings.new_account_max_followers
        and account.posts_count <= settings.new_account_max_posts
    )


def assess_sockpuppets(
    raw_volume: int,
    volume: int,
    accounts: Sequence[Account],
    settings: RuleSettings,
    *,
    expected: float | None = None,
    baseline_copy_share: float = 0.0,
    baseline_suspicious_share: float = 0.0,
) -> Sockpuppet:
    """7b.5 on one spike bucket: copies (raw minus collapsed volume) and posts of throwaway accounts.

    With `expected` (the detector's expected count) the shares are of the excess: the copies a
    normal bucket of that size holds (`expected * baseline_copy_share`, the watch's usual share of
    copies) are taken off, and the rest is divided by `raw_volume - expected`; the same for posts
    of suspicious accounts. Without it, or when the bucket is not above it, the shares are of the
    whole bucket."""

    if raw_volume < 0 or volume < 0 or volume > raw_volume:
        raise ValueError(f"volume {volume} must be within 0..raw_volume {raw_volume}")
    for name, share in (
        ("baseline_copy_share", baseline_copy_share),
        ("baseline_suspicious_share", baseline_suspicious_share),
    ):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be within 0..1, got {share!r}")
    copies = raw_volume - volume
    flags = [is_suspicious_account(a, settings) for a in accounts]
    suspicious_posts = sum(a.posts for a, bad in zip(accounts, flags, strict=True) if bad)
    if expected is not None and raw_volume > expected:
        excess = raw_volume - expected
        copy_share = _unit((copies - expected * baseline_copy_share) / excess)
        suspicious_share = _unit((suspicious_posts - expected * baseline_suspicious_share) / excess)
    else:
        expected = None  # not above the expected count: shares of the whole bucket
        copy_share = copies / raw_volume if raw_volume else 0.0
        suspicious_share = _unit(suspicious_posts / raw_volume) if raw_volume else 0.0
    tagged = raw_volume >= settings.sockpuppet_min_posts and (
        copy_share > settings.sockpuppet_copy_share or suspicious_share > settings.sockpuppet_account_share
    )
    return Sockpuppet(
        raw_volume, volume, copy_share, len(accounts), sum(flags), tagged, expected, suspicious_share
    )


def _unit(x: float) -> float:
    return min(1.0, max(0.0, x))


def adjust_level(base: Level, *, sockpuppet: Sockpuppet | None, kols: Sequence[KolRef]) -> Level:
    """7b.5: down one level for a possible 水军 wave, up one when KOLs took part (not both)."""

    if sockpuppet is not None and sockpuppet.tagged:
        return Level(max(int(Level.BLUE), int(base) - 1))
    if kols:
        return Level(min(int(Level.RED), int(base) + 1))
    return base


def alert_level(
    detection: Detection,
    levels: LevelSettings,
    *,
    sockpuppet: Sockpuppet | None = None,
    kols: Sequence[KolRef] = (),
) -> tuple[Level, Level]:
    """(base level from level_for, level after the coordination check) of one detection."""

    base = level_for(detection, levels)
    return base, adjust_level(base, sockpuppet=sockpuppet, kols=kols)


# --- the alert -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchRef:
    id: int
    workspace_id: int
    name: str
    timezone: str = "Asia/Shanghai"


def build_alert(
    *,
    watch: WatchRef,
    detection: Detection,
    decision: Decision,
    base: Level,
    bucket_s: int | None,
    created_at: datetime,
    posts: Sequence[PostRef] = (),
    kols: Sequence[KolRef] = (),
    sockpuppet: Sockpuppet | None = None,
    related: Sequence[Detection] = (),
) -> AlertSpec:
    """The stored alert: title, an explanation with the numbers, top posts with links, KOLs."""

    level = decision.level
    kind_zh = KIND_ZH.get(detection.kind, detection.kind)
    about = "" if detection.kind in (VOLUME_SPIKE, SENTIMENT_SHIFT) else f"「{_subject_label(detection)}」"
    tag = " [疑似水军]" if sockpuppet is not None and sockpuppet.tagged else ""
    news = "（事件更新）" if decision.update else "（事件升级）" if decision.previous is not None else ""
    title = f"{watch.name} {kind_zh}{about} · {level.label}{tag}{news}"
    tz = ZoneInfo(watch.timezone)
    lines = [detection.reason_zh, "依据：" + explain_numbers(detection, bucket_s)]
    when = detection.bucket_start.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    lines.append(f"时段：{when} 起（{_bucket_label(bucket_s)}，{watch.timezone}）")
    if related:
        lines.append(
            "同时出现："
            + "、".join(
                f"「{_subject_label(r)}」（{r.numbers.get('posts', 0):.0f} 条，"
                f"z = {r.numbers.get('z', 0):.1f}）"
                for r in related
            )
        )
    started = decision.started.astimezone(tz).strftime("%m-%d %H:%M")
    if decision.previous is not None:
        lines.append(f"升级：{decision.previous.label} → {level.label}（同一事件，始于 {started}）")
    elif decision.update:
        lines.append(f"同一事件的新信号（事件始于 {started}，当前 {level.label}）")
    if decision.signals:
        lines.append("本事件此前的信号：" + "；".join(decision.signals))
    if sockpuppet is not None and sockpuppet.tagged:
        sp = sockpuppet
        scope = (
            f"超出预期（约 {sp.expected:.0f} 条）的约 {sp.excess:.0f} 条中"
            if sp.expected is not None
            else f"{sp.raw_volume} 条中"
        )
        lines.append(
            f"⚠ 疑似水军：{sp.raw_volume} 条中 {sp.raw_volume - sp.volume} 条为近似重复；{scope}"
            f"近似重复约占 {sp.copy_share:.0%}，默认昵称或新号发帖约占 {sp.suspicious_share:.0%}"
            f"（{sp.suspicious_accounts}/{sp.accounts} 个账号）；级别已下调一级"
        )
    if kols:
        lines.append(
            "涉及 KOL："
            + "；".join(
                f"{k.name}（{k.platform}，粉丝 {k.followers:,}，{k.tier}"
                + (f"，{k.negative_posts} 条负面" if k.negative_posts else "")
                + "）"
                for k in kols
            )
        )
    if posts:
        lines.append("代表帖子：")
        for i, p in enumerate(posts, 1):
            who = p.author_name or "匿名"
            fans = f"，粉丝 {p.followers:,}" if p.followers is not None else ""
            lines.append(f"{i}. {who}{fans}：{_snippet(p.text)}（互动 {p.engagement:,.0f}）{p.url}".rstrip())
    details: dict[str, Any] = {
        "detection": detection.to_json(),
        "level_name": level.label,
        "base_level": int(base),
        "bucket_s": bucket_s,
        "escalated_from": int(decision.previous) if decision.previous is not None else None,
        "update": decision.update,
        "story_signals": list(decision.signals),
        "posts": [{"platform": p.platform, "post_id": p.post_id, "url": p.url} for p in posts],
        "kols": [
            {
                "platform": k.platform,
                "author_id": k.author_id,
                "name": k.name,
                "followers": k.followers,
                "tier": k.tier,
            }
            for k in kols
        ],
        "sockpuppet": None
        if sockpuppet is None
        else {
            "tagged": sockpuppet.tagged,
            "raw_volume": sockpuppet.raw_volume,
            "volume": sockpuppet.volume,
            "copy_share": sockpuppet.copy_share,
            "suspicious_share": sockpuppet.suspicious_share,
            "expected": sockpuppet.expected,
            "accounts": sockpuppet.accounts,
            "suspicious_accounts": sockpuppet.suspicious_accounts,
        },
        "reason_en": detection.reason_en,
        "related": [r.to_json() for r in related],
    }
    return AlertSpec(
        workspace_id=watch.workspace_id,
        watch_id=watch.id,
        kind=detection.kind,
        level=int(level),
        key=decision.key,
        incident=decision.incident,
        title=title,
        body="\n".join(lines),
        # Aligned with post_ids and the body's numbered list ("" for a post without a link), so
        # the notice's links and feedback buttons carry the number the body gives the post.
        post_urls=tuple(p.url for p in posts),
        post_ids=tuple(p.post_pk for p in posts),
        details=details,
        created_at=created_at,
    )


def explain_numbers(detection: Detection, bucket_s: int | None) -> str:
    """The figures behind a detection, in the words an analyst checks them with."""

    n = detection.numbers
    per = f"/{_bucket_label(bucket_s)}" if bucket_s else ""
    if detection.kind == VOLUME_SPIKE:
        distinct = f"（去重后 {n['unique']:.0f} 条）" if "unique" in n else ""
        text = (
            f"观测 {n['observed']:.0f} 条{per}{distinct}，预期 {n['expected']:.1f} 条，"
            f"倍数 {n['ratio']:.1f}×，z = {n['z']:.1f}（σ = {n['sigma']:.2f}，log 空间）"
        )
        if "previous_z" in n:
            text += f"，上一时段 z = {n['previous_z']:.1f}（连续两个时段偏高）"
        if "p" in n:
            text += f"；按平常的发帖率，{_bucket_label(bucket_s)}内达到这么多条的概率约 {n['p']:.0e}"
        if "neg_share" in n:
            text += f"，负面占比 {n['neg_share']:.0%}"
        return text
    if detection.kind == SENTIMENT_SHIFT:
        return (
            f"负面占比 {n['baseline']:.0%} → {n['neg_share']:.0%}（上升 {n['rise'] * 100:.0f} 个百分点），"
            f"{n['negative_posts']:.0f}/{n['posts']:.0f} 条已评分帖子为负面，CUSUM = {n['cusum']:.1f}"
        )
    if detection.kind == EMERGING_TERM:
        return (
            f"含该词 {n['posts']:.0f} 条不同内容（近似重复计一次）、{n['authors']:.0f} 位作者，"
            f"占比 {n['baseline_share']:.1%} → "
            f"{n['share']:.0%}（{n['ratio']:.1f}×），z = {n['z']:.1f}"
        )
    if detection.kind == KOL_INVOLVED:
        return (
            f"粉丝 {n['followers']:,.0f}，相关帖子 {n['posts']:.0f} 条，其中负面 {n['negative_posts']:.0f} 条"
        )
    if detection.kind == HOT_LIST:
        text = f"排名第 {n['rank']:.0f}，热度 {n['heat']:,.0f}"
        if n.get("new", 1.0) == 0.0 and n.get("previous_best_rank"):
            text += f"（此前最高第 {n['previous_best_rank']:.0f} 名）"
        return text
    return "，".join(f"{k} = {v:g}" for k, v in n.items() if math.isfinite(v))


def _subject_label(detection: Detection) -> str:
    if detection.kind == HOT_LIST:
        return detection.subject.split(":", 2)[-1]
    if detection.kind == KOL_INVOLVED:
        return detection.reason_zh.split("「", 1)[-1].split("」", 1)[0]
    return detection.subject


def _bucket_label(bucket_s: int | None) -> str:
    if not bucket_s:
        return "热榜抓取"
    if bucket_s % 3600 == 0:
        return f"{bucket_s // 3600} 小时" if bucket_s > 3600 else "1 小时"
    return f"{bucket_s // 60} 分钟"


def _snippet(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got {moment.isoformat()}")
    return int(moment.timestamp())
