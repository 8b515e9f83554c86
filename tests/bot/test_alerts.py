"""Alert rules (bot/alerts.py) and the alert job (kolwatch.jobs.run_alert_rules) on a small database."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import delete, select

from bot import alerts as rules
from collectors.base import Author, HotEntry, Post
from kolwatch.errors import SettingsError
from kolwatch.jobs import alert_config, run_alert_rules, watch_settings
from kolwatch.matching import MatcherCache
from kolwatch.pipeline import match_and_count
from kolwatch.settings import Secrets, Settings, WatchSettings, WorkspaceSettings
from nlp import trends
from nlp.types import Analysis
from storage import repos
from storage.db import Database
from storage.models import AlertRow, DeliveryRow, DetectorStateRow, PostRow

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday, 08:00 in Shanghai
SETTINGS = rules.RuleSettings()


def spike(z: float = 3.5, ratio: float = 3.0, observed: float = 40, expected: float = 12.0, **extra: float):
    numbers = {"observed": observed, "expected": expected, "z": z, "ratio": ratio, "sigma": 0.5, **extra}
    return trends.Detection(
        kind=trends.VOLUME_SPIKE,
        key="w1",
        subject="w1",
        severity=z / 3,
        bucket_start=T0,
        numbers=numbers,
        reason_zh=f"声量激增：本时段 {observed:.0f} 条",
        reason_en="Volume spike",
    )


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# --- decide: dedup, cooldown, escalation --------------------------------------------------


def test_first_detection_opens_an_incident_and_alerts() -> None:
    state, decision = rules.decide(
        rules.RuleState(),
        scope="w1",
        kind="volume_spike",
        subject="w1",
        level=trends.Level.BLUE,
        at=T0,
        settings=SETTINGS,
    )
    assert decision is not None
    assert decision.previous is None
    assert decision.key == f"{decision.incident}:L1"
    assert decision.incident.startswith("w1:volume_spike:") and decision.incident.endswith("20260302T0000Z")
    assert len(state.incidents) == 1


def test_repeats_within_cooldown_are_silent_and_extend_the_incident() -> None:
    state, first = rules.decide(
        rules.RuleState(),
        scope="w1",
        kind="volume_spike",
        subject="w1",
        level=trends.Level.YELLOW,
        at=T0,
        settings=SETTINGS,
    )
    # Fires every 5 hours for a day: each repeat is within 6 h of the previous one.
    for h in (5, 10, 15, 20):
        state, again = rules.decide(
            state,
            scope="w1",
            kind="volume_spike",
            subject="w1",
            level=trends.Level.BLUE,
            at=at(h),
            settings=SETTINGS,
        )
        assert again is None
    assert state.incidents[0].last == int(at(20).timestamp())
    # A volume incident stays open for story_hours (24 h): the next day's resurgence at the same
    # level is the same story; a day and 5 minutes after the last detection a new one alerts.
    state, next_day = rules.decide(
        state,
        scope="w1",
        kind="volume_spike",
        subject="w1",
        level=trends.Level.BLUE,
        at=at(40),
        settings=SETTINGS,
    )
    assert next_day is None
    state, later = rules.decide(
        state,
        scope="w1",
        kind="volume_spike",
        subject="w1",
        level=trends.Level.BLUE,
        at=at(64 + 1 / 12),
        settings=SETTINGS,
    )
    assert later is not None and first is not None
    assert later.incident != first.incident
    # Other kinds keep the 6 h cooldown: 6 h 5 min later an emerging topic alerts again.
    state, term = rules.decide(
        state,
        scope="w1",
        kind="emerging_term",
        subject="terms",
        level=trends.Level.BLUE,
        at=at(70),
        settings=SETTINGS,
    )
    state, term_again = rules.decide(
        state,
        scope="w1",
        kind="emerging_term",
        subject="terms",
        level=trends.Level.BLUE,
        at=at(76 + 1 / 12),
        settings=SETTINGS,
    )
    assert term is not None and term_again is not None and term_again.incident != term.incident


def test_escalation_is_a_new_alert_of_the_same_incident() -> None:
    state, first = rules.decide(
        rules.RuleState(),
        scope="w1",
        kind="volume_spike",
        subject="w1",
        level=trends.Level.BLUE,
        at=T0,
        settings=SETTINGS,
    )
    state, same = rules.decide(
        state,
        scope="w1",
        kind="volume_spike",
        subject="w1",
        level=trends.Level.BLUE,
        at=at(1),
        settings=SETTINGS,
    )
    state, up = rules.decide(
        state,
        scope="w1",
        kind="volume_spike",
        subject="w1",
        level=trends.Level.ORANGE,
        at=at(2),
        settings=SETTINGS,
    )
    state, down = rules.decide(
        state,
        scope="w1",
        kind="volume_spike",
        subject="w1",
        level=trends.Level.YELLOW,
        at=at(3),
        settings=SETTINGS,
    )
    assert first is not None and same is None and down is None
    assert up is not None
    assert up.incident == first.incident
    assert up.key != first.key and up.key.endswith(":L3")
    assert up.previous == trends.Level.BLUE


def test_a_story_alerts_when_it_opens_escalates_or_gains_a_kind_then_closes() -> None:
    def step(
        state: rules.RuleState, kind: str, level: trends.Level, hours: float, signal: str
    ) -> tuple[rules.RuleState, rules.Decision | None]:
        return rules.decide_story(
            state,
            scope="w1",
            kind=kind,
            subject=kind,
            level=level,
            at=at(hours),
            signal=signal,
            settings=SETTINGS,
        )

    blue, orange = trends.Level.BLUE, trends.Level.ORANGE
    state, opened = step(rules.RuleState(), trends.VOLUME_SPIKE, blue, 0, "s0")
    assert opened is not None and opened.previous is None and not opened.update
    assert opened.incident == "w1:story:20260302T0000Z"
    state, same = step(state, trends.VOLUME_SPIKE, blue, 1, "s1")
    assert same is None  # a kind the story has, at its level: attached quietly
    state, term = step(state, trends.EMERGING_TERM, blue, 2, "s2")
    assert term is not None and term.update and term.incident == opened.incident
    assert term.key != opened.key and term.signals == ("s0", "s1")
    state, up = step(state, trends.VOLUME_SPIKE, orange, 3, "s3")
    assert up is not None and up.previous == blue and up.level == orange and not up.update
    state, hot = step(state, trends.HOT_LIST, blue, 4, "s4")
    assert hot is not None and hot.update and hot.level == orange  # at the story's level
    # The story keeps its latest MAX_SIGNALS signal lines.
    last = 4 + rules.MAX_SIGNALS
    for h in range(5, last + 1):
        state, quiet = step(state, trends.VOLUME_SPIKE, blue, h, f"s{h}")
        assert quiet is None
    assert state.story is not None
    assert state.story.signals == tuple(f"s{h}" for h in range(last + 1 - rules.MAX_SIGNALS, last + 1))
    # Open while detections come less than story_hours apart; after that a new story opens.
    state, within = step(state, trends.VOLUME_SPIKE, blue, last + 24, "late")
    assert within is None
    state, again = step(state, trends.VOLUME_SPIKE, blue, last + 48 + 1 / 12, "next")
    assert again is not None and again.incident != opened.incident and again.previous is None
    assert again.signals == () and state.story is not None and state.story.signals == ("next",)


def test_incidents_are_separate_per_kind_and_subject() -> None:
    state = rules.RuleState()
    keys = set()
    for kind, subject in (("volume_spike", "w1"), ("emerging_term", "断货"), ("emerging_term", "涨价")):
        state, decision = rules.decide(
            state, scope="w1", kind=kind, subject=subject, level=trends.Level.BLUE, at=T0, settings=SETTINGS
        )
        assert decision is not None
        keys.add(decision.key)
    assert len(keys) == 3 and len(state.incidents) == 3


def test_cooldown_is_configurable() -> None:
    short = rules.RuleSettings(cooldown_hours=1)
    state, _ = rules.decide(
        rules.RuleState(), scope="w1", kind="k", subject="s", level=trends.Level.BLUE, at=T0, settings=short
    )
    state, again = rules.decide(
        state, scope="w1", kind="k", subject="s", level=trends.Level.BLUE, at=at(2), settings=short
    )
    assert again is not None


def test_rule_state_round_trips_and_rejects_malformed_json() -> None:
    state, _ = rules.decide(
        rules.RuleState(),
        scope="w1",
        kind="emerging_term",
        subject="「断货」\u200b",
        level=trends.Level.BLUE,
        at=T0,
        settings=SETTINGS,
    )
    assert rules.RuleState.from_json(state.to_json()) == state
    state, _ = rules.note_activity(state, at=T0, settings=SETTINGS)
    assert rules.RuleState.from_json(json.loads(json.dumps(state.to_json()))) == state
    state, _ = rules.decide_story(
        state,
        scope="w1",
        kind="k",
        subject="s",
        level=trends.Level.BLUE,
        at=T0,
        signal="信号",
        settings=SETTINGS,
    )
    assert state.story is not None
    assert rules.RuleState.from_json(json.loads(json.dumps(state.to_json()))) == state
    # A state written before the activity window existed (v1) is still read.
    v1 = {"v": 1, "type": "rules", "incidents": [["k", "s", 1, 2, 1]]}
    assert rules.RuleState.from_json(v1) == rules.RuleState((rules.Incident("k", "s", 1, 2, 1),))
    for bad in (
        {},
        {"v": 1, "type": "volume", "incidents": []},
        {"v": 4, "type": "rules", "incidents": []},
        {"v": 3, "type": "rules", "incidents": [], "story": [5, 1, 1, [], []]},
        {"v": 3, "type": "rules", "incidents": [], "story": [1, 2, 7, [], []]},
        {"v": 3, "type": "rules", "incidents": [], "story": [1, 2, 1, ["k"], [3]]},
        {"v": 2, "type": "rules", "incidents": [], "activity": [5, 1]},
        {"v": 2, "type": "rules", "incidents": [], "activity": [1, "2"]},
        {"v": 2, "type": "rules", "incidents": [], "activity": [1, 2, 3]},
        {"v": 2, "type": "rules", "incidents": [], "activity": {"start": 1}},
        {"v": 1, "type": "rules", "incidents": {}},
        {"v": 1, "type": "rules", "incidents": [["k", "s", 1, 2]]},
        {"v": 1, "type": "rules", "incidents": [["k", "s", 1, 2, 9]]},
        {"v": 1, "type": "rules", "incidents": [["k", "s", "1", 2, 1]]},
        {"v": 1, "type": "rules", "incidents": [["k", "s", True, 2, 1]]},
    ):
        with pytest.raises(ValueError):
            rules.RuleState.from_json(bad)


def test_naive_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rules.decide(
            rules.RuleState(),
            scope="w1",
            kind="k",
            subject="s",
            level=trends.Level.BLUE,
            at=datetime(2026, 3, 2),
            settings=SETTINGS,
        )


# --- 水军 and levels -------------------------------------------------------------------------


def test_mostly_copies_is_tagged_and_downgraded() -> None:
    sock = rules.assess_sockpuppets(100, 30, [rules.Account("小鹿", 1000, 300)] * 3, SETTINGS)
    assert sock.tagged and sock.copy_share == pytest.approx(0.7)
    base, level = rules.alert_level(spike(z=4.5), trends.LevelSettings(), sockpuppet=sock)
    assert base == trends.Level.YELLOW and level == trends.Level.BLUE


def test_default_nickname_and_new_accounts_are_tagged() -> None:
    accounts = [
        rules.Account("用户5843920145", None, None, posts=10),
        rules.Account("bili_39281743", 10, 2, posts=10),
        rules.Account("手机用户3920145", None, None, posts=10),
        rules.Account("刚注册的", 0, 1, posts=5),  # new: both counts tiny
        rules.Account("老用户", 2000, 900, posts=5),
    ]
    sock = rules.assess_sockpuppets(40, 40, accounts, SETTINGS)
    assert sock.suspicious_accounts == 4 and sock.tagged
    assert sock.suspicious_share == pytest.approx(35 / 40)


def test_shares_are_of_the_excess_over_the_expected_count() -> None:
    # A day of 100 distinct posts an hour, then 100 copies of one text on top: the wave is the
    # whole excess, though only half of the bucket (the whole-bucket share read 49.5%).
    whole = rules.assess_sockpuppets(200, 101, [], SETTINGS)
    assert whole.copy_share == pytest.approx(0.495) and not whole.tagged
    sock = rules.assess_sockpuppets(200, 101, [], SETTINGS, expected=100.0)
    assert sock.copy_share == pytest.approx(0.99) and sock.tagged and sock.excess == 100
    # The copies a normal bucket holds are not the spike's: a watch that is half copies anyway.
    usual = rules.assess_sockpuppets(200, 101, [], SETTINGS, expected=100.0, baseline_copy_share=0.5)
    assert usual.copy_share == pytest.approx(0.49) and not usual.tagged
    # Distinct posts of a throwaway-account army on top of ordinary talk.
    army = [rules.Account(f"用户{10**6 + i}", 0, 1) for i in range(90)]
    genuine = [rules.Account(f"咖啡爱好者{i}", 300 + i, 50) for i in range(110)]
    assert not rules.assess_sockpuppets(200, 200, army + genuine, SETTINGS).tagged  # 45% of the bucket
    sock = rules.assess_sockpuppets(200, 200, army + genuine, SETTINGS, expected=100.0)
    assert sock.suspicious_share == pytest.approx(0.9) and sock.tagged
    # ... but not when default nicknames are a third of the watch's ordinary posters.
    assert not rules.assess_sockpuppets(
        200, 200, army + genuine, SETTINGS, expected=100.0, baseline_suspicious_share=0.45
    ).tagged
    # A bucket not above its expected count is judged as a whole.
    assert rules.assess_sockpuppets(50, 10, [], SETTINGS, expected=80.0).copy_share == pytest.approx(0.8)
    with pytest.raises(ValueError, match="baseline_copy_share"):
        rules.assess_sockpuppets(50, 10, [], SETTINGS, expected=20.0, baseline_copy_share=1.5)


def test_genuine_spike_is_not_tagged_and_small_ones_never() -> None:
    genuine = [rules.Account(f"咖啡爱好者{i}", 300 + i, 50) for i in range(30)]
    assert not rules.assess_sockpuppets(60, 55, genuine, SETTINGS).tagged
    # Below sockpuppet_min_posts nothing is tagged, however it looks.
    assert not rules.assess_sockpuppets(5, 1, [rules.Account("用户1234567", 0, 0)], SETTINGS).tagged
    with pytest.raises(ValueError):
        rules.assess_sockpuppets(5, 6, [], SETTINGS)


def test_kols_raise_the_level_unless_tagged() -> None:
    kol = rules.KolRef("weibo", "1", "大V", 2_000_000, "头部", 1, 0)
    assert rules.adjust_level(trends.Level.BLUE, sockpuppet=None, kols=[kol]) == trends.Level.YELLOW
    assert rules.adjust_level(trends.Level.RED, sockpuppet=None, kols=[kol]) == trends.Level.RED
    tagged = rules.assess_sockpuppets(100, 10, [], SETTINGS)
    assert rules.adjust_level(trends.Level.YELLOW, sockpuppet=tagged, kols=[kol]) == trends.Level.BLUE
    assert rules.adjust_level(trends.Level.BLUE, sockpuppet=tagged, kols=()) == trends.Level.BLUE


# --- the alert text --------------------------------------------------------------------------


def test_alert_explains_with_the_numbers_and_links_the_posts() -> None:
    detection = spike(z=5.6, ratio=7.5, observed=150, expected=19.2, neg_share=0.62)
    _, decision = rules.decide(
        rules.RuleState(),
        scope="w7",
        kind=detection.kind,
        subject=detection.subject,
        level=trends.Level.ORANGE,
        at=T0,
        settings=SETTINGS,
    )
    assert decision is not None
    posts = [
        rules.PostRef(
            11,
            "weibo",
            "P11",
            "https://m.weibo.cn/status/P11",
            "小鹿",
            5200,
            "鹿角咖啡 <b>翻车</b>" * 9,
            80,
            "negative",
        ),
        rules.PostRef(
            12, "weibo", "P12", "https://m.weibo.cn/status/P12", "", None, "鹿角咖啡 还行", 3, "neutral"
        ),
    ]
    kols = [rules.KolRef("weibo", "9", "咖啡大V", 1_200_000, "头部", 2, 1)]
    sock = rules.assess_sockpuppets(150, 40, [], SETTINGS)
    alert = rules.build_alert(
        watch=rules.WatchRef(7, 3, "鹿角"),
        detection=detection,
        decision=decision,
        base=trends.Level.ORANGE,
        bucket_s=3600,
        created_at=at(1),
        posts=posts,
        kols=kols,
        sockpuppet=sock,
    )
    assert alert.workspace_id == 3 and alert.watch_id == 7 and alert.level == 3
    assert alert.key == decision.key and alert.incident == decision.incident
    assert "鹿角" in alert.title and "橙色预警 II" in alert.title and "疑似水军" in alert.title
    body = alert.body
    for figure in ("150 条", "19.2", "7.5×", "z = 5.6", "62%", "110 条为近似重复", "73%"):
        assert figure in body, figure
    assert "咖啡大V（weibo，粉丝 1,200,000，头部，1 条负面）" in body
    assert "https://m.weibo.cn/status/P11" in body and "匿名" in body
    assert "2026-03-02 08:00" in body  # the bucket in the workspace's timezone
    assert alert.post_urls == ("https://m.weibo.cn/status/P11", "https://m.weibo.cn/status/P12")
    assert alert.post_ids == (11, 12)
    assert alert.details["posts"][0] == {
        "platform": "weibo",
        "post_id": "P11",
        "url": "https://m.weibo.cn/status/P11",
    }
    assert alert.details["kols"][0]["tier"] == "头部"
    assert alert.details["sockpuppet"]["tagged"] is True


def test_notice_numbers_links_and_buttons_as_the_body_lists_the_posts() -> None:
    # A post without a URL (a pseudonymised author's, a source without permalinks) is still
    # evidence: the link of the body's post 3 must say 帖子 3, like its feedback buttons.
    from kolwatch.outbox import alert_notice

    posts = [
        rules.PostRef(pk, "weibo", f"P{pk}", url, "作者", 100, "鹿角咖啡", 10 - pk, "neutral")
        for pk, url in ((1, "https://m.weibo.cn/status/P1"), (2, ""), (3, "https://m.weibo.cn/status/P3"))
    ]
    decision = rules.Decision("w1:story:x", "w1:story:x:L2", trends.Level.YELLOW, None, T0)
    spec = rules.build_alert(
        watch=rules.WatchRef(1, 1, "鹿角", "UTC"),
        detection=spike(),
        decision=decision,
        base=trends.Level.YELLOW,
        bucket_s=3600,
        created_at=at(1),
        posts=posts,
    )
    assert spec.post_ids == (1, 2, 3) and len(spec.post_urls) == 3
    body = spec.body.splitlines()
    assert body[body.index("代表帖子：") + 3].startswith("3. ") and body[-1].endswith("/P3")
    row = AlertRow(
        workspace_id=1,
        kind=spec.kind,
        level=spec.level,
        key=spec.key,
        title=spec.title,
        body=spec.body,
        post_urls=list(spec.post_urls),
        post_ids=list(spec.post_ids),
    )
    notice = alert_notice(row)
    assert notice.links == (("帖子 1", "https://m.weibo.cn/status/P1"), ("帖子 3", "https://m.weibo.cn/status/P3"))
    assert notice.feedback == (("帖子 1", 1), ("帖子 2", 2), ("帖子 3", 3))


def test_sentiment_and_escalation_explanations() -> None:
    detection = trends.Detection(
        kind=trends.SENTIMENT_SHIFT,
        key="w1",
        subject="w1",
        severity=1.3,
        bucket_start=T0,
        numbers={
            "neg_share": 0.48,
            "baseline": 0.12,
            "rise": 0.36,
            "cusum": 6.5,
            "posts": 60.0,
            "negative_posts": 29.0,
        },
        reason_zh="负面情绪上升",
        reason_en="shift",
    )
    decision = rules.Decision(
        "w1:sentiment_shift:x:y", "w1:sentiment_shift:x:y:L2", trends.Level.YELLOW, trends.Level.BLUE, T0
    )
    alert = rules.build_alert(
        watch=rules.WatchRef(1, 1, "鹿角", "UTC"),
        detection=detection,
        decision=decision,
        base=trends.Level.YELLOW,
        bucket_s=3600,
        created_at=at(1),
    )
    assert "12% → 48%" in alert.body and "36 个百分点" in alert.body and "29/60" in alert.body
    assert "升级：蓝色预警 IV → 黄色预警 III" in alert.body
    assert alert.details["escalated_from"] == 1
    assert alert.post_urls == () and "代表帖子" not in alert.body


# --- the job on a small database ------------------------------------------------------------


def _analysis(text: str, label: str) -> Analysis:
    return Analysis(
        text=text,
        lang="zh",
        tokens=tuple(text.split()),
        keywords=tuple(text.split()[1:]),
        hashtags=(),
        emoticons=(),
        mentions=(),
        urls=(),
        sentiment={"negative": 0.1, "positive": 0.9}.get(label, 0.5),
        label=label,
    )


def _settings(**alerts: object) -> Settings:
    return Settings(
        workspaces=(
            WorkspaceSettings(
                name="acme", channels=("console",), watches=(WatchSettings(name="鹿角", query="鹿角咖啡"),)
            ),
        ),
        alerts=dict(alerts),
    )


def _setup(db: Database) -> None:
    with db.write() as s:
        repos.sync_config(
            s,
            workspaces=[repos.WorkspaceSpec("acme", watches=(repos.WatchSpec("鹿角", "鹿角咖啡"),))],
            sources=[],
        )


def _store(
    db: Database, posts: list[tuple[Post, str]], dup_of: dict[tuple[str, str], int] | None = None
) -> None:
    with db.write() as s:
        new = repos.upsert_posts(
            s,
            posts=[p for p, _ in posts],
            analyses=[_analysis(p.text, lab) for p, lab in posts],
            now=T0,
            dup_of=dup_of,
        )
        match_and_count(s, MatcherCache(), new, workspace_id=None)


def _quiet_week(rng: random.Random) -> list[tuple[Post, str]]:
    out = []
    for h in range(24 * 7):
        for i in range(rng.randint(1, 4)):
            pid = f"q{h}-{i}"
            who = Author("weibo", f"fan{rng.randint(0, 40)}", f"咖啡粉{i}", followers=rng.randint(50, 3000))
            out.append(
                (
                    Post(
                        "weibo",
                        pid,
                        f"https://m.weibo.cn/status/{pid}",
                        who,
                        "鹿角咖啡 拿铁 日常",
                        at(h + rng.random()),
                        likes=rng.randint(0, 5),
                    ),
                    "neutral",
                )
            )
    return out


def _burst(start_h: float, n: int, *, hours: float, kol: bool = False) -> list[tuple[Post, str]]:
    out = []
    for i in range(n):
        pid = f"b{start_h}-{i}"
        followers = 2_500_000 if kol and i == 0 else 800 + i
        who = Author(
            "weibo",
            f"angry{i}",
            "咖啡大V" if kol and i == 0 else f"顾客{i}",
            followers=followers,
            posts_count=400,
        )
        out.append(
            (
                Post(
                    "weibo",
                    pid,
                    f"https://m.weibo.cn/status/{pid}",
                    who,
                    f"鹿角咖啡 断货 退款 第{i}次",
                    at(start_h + hours * i / n),
                    likes=i,
                ),
                "negative" if i % 2 else "neutral",
            )
        )
    return out


def _after_quiet_week(db: Database) -> int:
    """One job run over the whole week; max_age is lifted so any detection in it would alert."""

    return run_alert_rules(
        db, _settings(rules={"max_age_hours": 1000}), Secrets({}), now=at(24 * 7) + timedelta(minutes=12)
    )


def _run_hourly(db: Database, settings: Settings, hours: range, secrets: Secrets | None = None) -> int:
    total = 0
    for h in hours:
        total += run_alert_rules(db, settings, secrets or Secrets({}), now=at(h) + timedelta(minutes=12))
    return total


def test_quiet_week_then_a_burst_is_one_alert_episode(sqlite_db: Database) -> None:
    _setup(sqlite_db)
    settings = _settings()
    _store(sqlite_db, _quiet_week(random.Random(4)))
    assert _after_quiet_week(sqlite_db) == 0
    _store(sqlite_db, _burst(24 * 7, 240, hours=3))
    sent = _run_hourly(sqlite_db, settings, range(24 * 7 + 1, 24 * 7 + 10))
    with sqlite_db.read() as s:
        rows = list(s.exec(select(AlertRow).order_by(AlertRow.id)))
        deliveries = list(s.exec(select(DeliveryRow)))
    assert sent == len(rows) > 0
    spikes = [a for a in rows if a.kind == trends.VOLUME_SPIKE]
    assert spikes, [a.title for a in rows]
    # One incident, escalations only upward, the first alert within the burst's first hour bucket.
    assert len({a.incident for a in spikes}) == 1
    levels = [a.level for a in spikes]
    assert levels == sorted(set(levels))
    assert repos.as_utc(spikes[0].created_at) <= at(24 * 7 + 1) + timedelta(minutes=10)
    # Nothing else in the quiet week, every alert has its evidence and a console delivery.
    assert all(repos.as_utc(a.created_at) >= at(24 * 7) for a in rows)
    assert all(a.post_urls and len(a.post_ids) == len(a.post_urls) for a in rows)
    assert {d.channel for d in deliveries} == {"console"}
    assert len(deliveries) == len(rows)
    # Two new words of one story are one emerging-topic alert that names both.
    terms = [a for a in rows if a.kind == trends.EMERGING_TERM]
    assert len(terms) == 1
    assert "「断货」" in terms[0].body and "「退款」" in terms[0].body and "同时出现" in terms[0].body


def test_rerunning_the_job_for_the_same_time_adds_nothing(sqlite_db: Database) -> None:
    _setup(sqlite_db)
    settings = _settings()
    _store(sqlite_db, _quiet_week(random.Random(5)) + _burst(24 * 7, 200, hours=1))
    first = run_alert_rules(sqlite_db, settings, Secrets({}), now=at(24 * 7 + 1.5))
    again = run_alert_rules(sqlite_db, settings, Secrets({}), now=at(24 * 7 + 1.5))
    assert again == 0
    # Detections older than max_age (the backlog of a new watch) teach state but are not sent.
    assert first >= 1
    with sqlite_db.read() as s:
        states = {r.detector for r in s.exec(select(DetectorStateRow))}
    assert {"cursor", "rules", "volume", "sentiment", "terms"} <= states


def test_copy_paste_wave_is_tagged_and_downgraded_in_the_job(sqlite_db: Database) -> None:
    _setup(sqlite_db)
    settings = _settings()
    _store(sqlite_db, _quiet_week(random.Random(6)))
    assert _after_quiet_week(sqlite_db) == 0
    # 60 distinct posts in an hour (a real spike after collapsing) carried by 180 pasted copies.
    wave = _burst(24 * 7, 240, hours=0.9)
    originals, copies = wave[::4], [w for i, w in enumerate(wave) if i % 4]
    _store(sqlite_db, originals)
    with sqlite_db.read() as s:
        pk = s.exec(select(PostRow.id).where(PostRow.post_id == originals[0][0].post_id)).one()
    _store(sqlite_db, copies, dup_of={("weibo", p.post_id): pk for p, _ in copies})
    _run_hourly(sqlite_db, settings, range(24 * 7 + 1, 24 * 7 + 3))
    with sqlite_db.read() as s:
        spikes = [a for a in s.exec(select(AlertRow)) if a.kind == trends.VOLUME_SPIKE]
    assert spikes
    first = spikes[0]
    # Detected on raw volume, so the wave alerts from its first 5-minute bucket, tagged with the
    # copy share of that bucket.
    sp = first.details["sockpuppet"]
    assert first.details["bucket_s"] == 300 and sp["tagged"] is True
    assert sp["volume"] * 2 < sp["raw_volume"]
    # Judged on the excess over the detector's expected count (the job passes it on).
    assert 0 < sp["expected"] < sp["raw_volume"] and sp["copy_share"] > 0.5
    copies = sp["raw_volume"] - sp["volume"]
    assert "疑似水军" in first.title and f"{sp['raw_volume']} 条中 {copies} 条为近似重复" in first.body
    assert f"（去重后 {sp['volume']} 条）" in first.body
    assert first.level == first.details["base_level"] - 1
    # The evidence shows one post per copy cluster, not five copies of the same text.
    assert len(first.post_ids) == len(set(first.post_ids))
    assert sum(1 for pid in first.post_ids if pid == pk) <= 1


def _hour_of_posts(hour: int, n: int, throwaway: int, tag: str) -> list[tuple[Post, str]]:
    """`n` distinct posts spread over one hour, the first `throwaway` of them by default-nickname
    accounts (one account per post), the rest by ordinary fans."""

    out = []
    for i in range(n):
        pid = f"{tag}{hour}-{i}"
        if i < throwaway:
            who = Author("weibo", f"t{pid}", f"用户{7_000_000 + hour * 100 + i}", followers=0, posts_count=1)
        else:
            who = Author("weibo", f"f{pid}", f"咖啡粉{pid}", followers=500 + i, posts_count=300)
        text = f"鹿角咖啡 拿铁 {pid}"
        post = Post("weibo", pid, f"https://m.weibo.cn/status/{pid}", who, text, at(hour + i / n))
        out.append((post, "neutral"))
    return out


def test_the_sockpuppet_tag_discounts_the_watch_usual_throwaway_share(sqlite_db: Database) -> None:
    # A brand whose ordinary chatter is 80% default-nickname accounts (a day of it is the job's
    # baseline), then a burst that is only half theirs: not a 水军 wave, though half of the bucket
    # is more than half of the excess over the expected count.
    _setup(sqlite_db)
    _store(sqlite_db, [p for h in range(48) for p in _hour_of_posts(h, 20, 16, "q")])
    assert run_alert_rules(
        sqlite_db, _settings(rules={"max_age_hours": 1000}), Secrets({}), now=at(48) + timedelta(minutes=12)
    ) == 0
    _store(sqlite_db, _hour_of_posts(48, 80, 40, "b"))
    _run_hourly(sqlite_db, _settings(), range(49, 51))
    with sqlite_db.read() as s:
        spikes = [a for a in s.exec(select(AlertRow)) if a.kind == trends.VOLUME_SPIKE]
    assert spikes
    assert all(not a.details["sockpuppet"]["tagged"] for a in spikes), [a.body for a in spikes]


def test_the_sockpuppet_tag_counts_posts_not_accounts(sqlite_db: Database) -> None:
    # Five throwaway accounts posting 40 times each carry a burst: five of 45 accounts, but most
    # of the posts.
    _setup(sqlite_db)
    _store(sqlite_db, _quiet_week(random.Random(12)))
    assert _after_quiet_week(sqlite_db) == 0
    burst = _burst(24 * 7, 240, hours=3)
    army = [Author("weibo", f"army{k}", f"用户{8_000_000 + k}", followers=0, posts_count=2) for k in range(5)]
    # Five of every six posts are the army's (200 of 240), the rest ordinary customers.
    _store(
        sqlite_db,
        [(replace(p, author=army[i % 6]) if i % 6 < 5 else p, lab) for i, (p, lab) in enumerate(burst)],
    )
    _run_hourly(sqlite_db, _settings(), range(24 * 7 + 1, 24 * 7 + 4))
    with sqlite_db.read() as s:
        spikes = [a for a in s.exec(select(AlertRow)) if a.kind == trends.VOLUME_SPIKE]
    assert spikes
    sp = spikes[0].details["sockpuppet"]
    assert sp["tagged"] and sp["suspicious_share"] > 0.5 and sp["copy_share"] == 0
    assert "疑似水军" in spikes[0].title


def test_kol_and_hot_list_alerts(sqlite_db: Database) -> None:
    _setup(sqlite_db)
    settings = _settings()
    _store(sqlite_db, _quiet_week(random.Random(7)))
    assert _after_quiet_week(sqlite_db) == 0
    _store(sqlite_db, _burst(24 * 7 + 0.1, 3, hours=0.1, kol=True))
    with sqlite_db.write() as s:
        repos.store_hot_entries(
            s,
            entries=[
                HotEntry(
                    "weibo",
                    "realtime",
                    30,
                    "鹿角咖啡断货",
                    150_000,
                    "https://s.weibo.com/1",
                    at(24 * 7 + 0.5),
                ),
                HotEntry(
                    "weibo", "realtime", 4, "鹿角咖啡断货", 900_000, "https://s.weibo.com/1", at(24 * 7 + 1.5)
                ),
                HotEntry(
                    "weibo", "realtime", 2, "别的新闻", 1_900_000, "https://s.weibo.com/2", at(24 * 7 + 1.5)
                ),
            ],
        )
    _run_hourly(sqlite_db, settings, range(24 * 7 + 1, 24 * 7 + 3))
    with sqlite_db.read() as s:
        rows = list(s.exec(select(AlertRow).order_by(AlertRow.id)))
    kol = [a for a in rows if a.kind == trends.KOL_INVOLVED]
    assert len(kol) == 1 and kol[0].level == trends.Level.ORANGE  # a 头部 account
    assert "咖啡大V" in kol[0].body and "2,500,000" in kol[0].body and "头部" in kol[0].body
    hot = [a for a in rows if a.kind == trends.HOT_LIST]
    assert [a.level for a in hot] == [trends.Level.ORANGE, trends.Level.RED]  # entered at 30, rose to 4
    assert len({a.incident for a in hot}) == 1
    assert all("别的新闻" not in a.title for a in rows)


def test_alert_settings_validation() -> None:
    with pytest.raises(SettingsError, match=r"alerts\.volume\.z"):
        alert_config(_settings(volume={"z": -1}))
    with pytest.raises(SettingsError, match=r"alerts\.rules\.cooldown_hours"):
        alert_config(_settings(rules={"cooldown_hours": 0}))
    with pytest.raises(SettingsError, match="unknown key"):
        alert_config(_settings(volum={"z": 3}))
    config = alert_config(_settings(volume={"z": 3.5, "min_count": 30}, rules={"cooldown_hours": 12}))
    detector, rule = watch_settings(config, {"volume": {"z": 4.0}, "rules": {"top_posts": 2}})
    assert detector.volume.z == 4.0 and detector.volume.min_count == 30  # merged per key
    assert rule.cooldown_hours == 12 and rule.top_posts == 2
    with pytest.raises(ValueError, match=r"volume\.z"):
        watch_settings(config, {"volume": {"z": "high"}})
    with pytest.raises(ValueError, match="rules"):
        watch_settings(config, {"rules": 3})


def test_a_watch_with_bad_settings_is_skipped_not_the_others(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with sqlite_db.write() as s:
        repos.sync_config(
            s,
            workspaces=[
                repos.WorkspaceSpec(
                    "acme",
                    watches=(
                        repos.WatchSpec("坏", "鹿角咖啡", detector_settings={"volume": {"z": "x"}}),
                        repos.WatchSpec("好", "鹿角咖啡"),
                    ),
                )
            ],
            sources=[],
        )
    assert run_alert_rules(sqlite_db, _settings(), Secrets({}), now=at(1)) == 0
    assert "invalid detector settings" in caplog.text
    with sqlite_db.read() as s:
        watched = {r.watch_id for r in s.exec(select(DetectorStateRow))}
    assert len(watched) == 1


def test_unreadable_state_restarts_that_detector_loudly(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    _setup(sqlite_db)
    with sqlite_db.write() as s:
        watch = repos.active_watches(s)[0]
        repos.put_detector_state(
            s, watch_id=watch.id, detector="rules", state={"v": 1, "type": "rules", "incidents": "x"}, now=T0
        )
    run_alert_rules(sqlite_db, _settings(), Secrets({}), now=at(1))
    assert "state unreadable" in caplog.text
    with sqlite_db.read() as s:
        assert repos.get_detector_state(s, watch_id=watch.id, detector="rules") == rules.RuleState().to_json()


# --- KOL involvement, catch-up and copies (issue 4 fixes) ------------------------------------


def test_activity_window_decides_which_kol_posts_belong_to_a_story() -> None:
    assert not rules.kol_in_story(rules.RuleState(), at=T0, settings=SETTINGS)
    state, opened = rules.note_activity(rules.RuleState(), at=at(10), settings=SETTINGS)
    assert opened and state.activity == (int(at(10).timestamp()), int(at(10).timestamp()))
    state, opened = rules.note_activity(state, at=at(14), settings=SETTINGS)
    assert not opened and state.activity == (int(at(10).timestamp()), int(at(14).timestamp()))
    # From kol_lookback_hours (1 h) before the first detection to a cooldown (6 h) after the last.
    inside = [at(9), at(12), at(20)]
    outside = [at(8.9), at(20.1)]
    assert all(rules.kol_in_story(state, at=t, settings=SETTINGS) for t in inside)
    assert not any(rules.kol_in_story(state, at=t, settings=SETTINGS) for t in outside)
    # More than a cooldown of quiet: the next detection opens a new window.
    state, opened = rules.note_activity(state, at=at(21), settings=SETTINGS)
    assert opened and state.activity == (int(at(21).timestamp()), int(at(21).timestamp()))
    anyway = rules.RuleSettings(kol_needs_incident=False)
    assert rules.kol_in_story(rules.RuleState(), at=T0, settings=anyway)


def _kol_post(
    pid: str, hours: float, author: str, name: str, followers: int, label: str = "neutral"
) -> tuple[Post, str]:
    who = Author("weibo", author, name, followers=followers, posts_count=900)
    post = Post("weibo", pid, f"https://m.weibo.cn/status/{pid}", who, f"鹿角咖啡 {pid} 测评", at(hours))
    return post, label


def _clear_alerts(db: Database) -> None:
    with db.write() as s:
        s.exec(delete(DeliveryRow))
        s.exec(delete(AlertRow))
        s.exec(delete(DetectorStateRow))


def test_a_mid_tier_kol_post_in_a_quiet_week_is_not_an_alert(sqlite_db: Database) -> None:
    _setup(sqlite_db)
    _store(sqlite_db, _quiet_week(random.Random(8)))
    _store(sqlite_db, [_kol_post("k1", 24 * 7 + 0.2, "mid", "咖啡博主", 300_000, "negative")])
    assert _run_hourly(sqlite_db, _settings(), range(24 * 7 - 2, 24 * 7 + 3)) == 0
    # A team that wants every 腰部+ post can have it.
    loud = _settings(rules={"kol_needs_incident": False})
    assert _run_hourly(sqlite_db, loud, range(24 * 7 + 3, 24 * 7 + 4)) == 0  # already past
    with sqlite_db.write() as s:
        s.exec(delete(DetectorStateRow))
    assert _run_hourly(sqlite_db, loud, range(24 * 7 + 1, 24 * 7 + 2)) == 1


def test_a_head_kol_post_alerts_on_its_own_once_per_author(sqlite_db: Database) -> None:
    # research 7b.6: "a 头部 KOL involved" is 橙 II by itself; the developer guide lists a big KOL
    # mentioning the brand among the alerts a brand team must get, story or not.
    _setup(sqlite_db)
    _store(sqlite_db, _quiet_week(random.Random(8)))
    _store(
        sqlite_db,
        [
            _kol_post("k1", 24 * 7 + 0.2, "big", "咖啡大V", 2_500_000, "negative"),
            _kol_post("k2", 24 * 7 + 2.2, "big", "咖啡大V", 2_500_000),  # the same author again
        ],
    )
    assert _run_hourly(sqlite_db, _settings(), range(24 * 7 - 2, 24 * 7 + 4)) == 1
    with sqlite_db.read() as s:
        (alert,) = s.exec(select(AlertRow))
    assert alert.kind == trends.KOL_INVOLVED and alert.level == trends.Level.ORANGE
    assert "story" not in alert.incident  # its own incident: a routine post opens no story
    assert "咖啡大V" in alert.title and list(alert.post_urls) == ["https://m.weibo.cn/status/k1"]
    # A threshold of one's own, or never alone.
    _clear_alerts(sqlite_db)
    higher = _settings(rules={"kol_alone_followers": 5_000_000})
    assert _run_hourly(sqlite_db, higher, range(24 * 7 - 2, 24 * 7 + 4)) == 0
    _clear_alerts(sqlite_db)
    never = _settings(rules={"kol_alone_followers": -1})
    assert _run_hourly(sqlite_db, never, range(24 * 7 - 2, 24 * 7 + 4)) == 0


def test_an_organisation_account_does_not_alert_on_its_own(sqlite_db: Database) -> None:
    # The brand's own official account (a Weibo blue V, verified_type 1-7) posts about its products
    # all the time; a personal 头部 account (orange V, type 0) of the same size is news.
    _setup(sqlite_db)
    _store(sqlite_db, _quiet_week(random.Random(8)))
    posts = []
    for pid, hours, author, name, verified_type in (
        ("o1", 24 * 7 + 0.2, "official", "鹿角咖啡官方", "2"),
        ("p1", 24 * 7 + 2.2, "person", "咖啡大V", "0"),
    ):
        post, label = _kol_post(pid, hours, author, name, 2_500_000)
        who = replace(post.author, verified=True, verified_type=verified_type)
        posts.append((replace(post, author=who), label))
    _store(sqlite_db, posts)
    assert _run_hourly(sqlite_db, _settings(), range(24 * 7 - 2, 24 * 7 + 4)) == 1
    with sqlite_db.read() as s:
        (alert,) = s.exec(select(AlertRow))
    assert alert.details["detection"]["subject"] == "weibo:person"


def _kol_story(db: Database) -> None:
    _setup(db)
    _store(db, _quiet_week(random.Random(9)))
    assert _after_quiet_week(db) == 0
    start = 24 * 7
    _store(db, _burst(start, 240, hours=3))
    _store(
        db,
        [
            # 40 minutes before the story: a 腰部 post judged again when the story opens.
            _kol_post("w1", start - 0.7, "mid1", "探店阿北", 300_000),
            _kol_post("w2", start + 0.3, "mid2", "咖啡日记", 250_000, "negative"),
            _kol_post("w3", start + 0.6, "mid1", "探店阿北", 300_000),  # same author: no second alert
            _kol_post("h1", start + 1.5, "head", "咖啡研究所", 3_000_000, "negative"),
            _kol_post("old", start - 5, "mid3", "老粉", 200_000),  # hours before: not part of it
        ],
    )


def test_kols_join_the_story_once_per_tier(sqlite_db: Database) -> None:
    _kol_story(sqlite_db)
    start = 24 * 7
    _run_hourly(sqlite_db, _settings(), range(start + 1, start + 4))
    with sqlite_db.read() as s:
        alerts = list(s.exec(select(AlertRow).order_by(AlertRow.id)))
    # One incident for the whole story: volume, terms and KOLs are its signals.
    assert len({a.incident for a in alerts}) == 1 and "story" in alerts[0].incident, [a.title for a in alerts]
    kol = [a for a in alerts if a.kind == trends.KOL_INVOLVED]
    by_name = {a.details["detection"]["subject"]: a for a in kol}
    # The first 腰部 KOL joins the story (an update); the second 腰部 one is attached quietly; the
    # 头部 one is news of its own.
    assert sorted(by_name) == ["weibo:head", "weibo:mid1"], [a.title for a in kol]
    assert all(a.details["update"] or a.details["escalated_from"] for a in kol)
    head = by_name["weibo:head"]
    assert head.details["base_level"] == trends.Level.ORANGE and "咖啡研究所" in head.title
    assert head.level == max(a.level for a in alerts)  # alerts carry the story's level
    assert "3,000,000" in head.body and "https://m.weibo.cn/status/h1" in head.body
    assert list(head.post_urls) == ["https://m.weibo.cn/status/h1"]
    # Every alert after the first lists the story's earlier signals, the quiet ones included.
    assert "本事件此前的信号" in head.body and "「咖啡日记」" in head.body
    assert "https://m.weibo.cn/status/w1" in by_name["weibo:mid1"].body  # its own post, not w3


def test_kols_alert_per_author_when_stories_are_off(sqlite_db: Database) -> None:
    _kol_story(sqlite_db)
    start = 24 * 7
    _run_hourly(sqlite_db, _settings(rules={"one_incident_per_story": False}), range(start + 1, start + 4))
    with sqlite_db.read() as s:
        kol = [a for a in s.exec(select(AlertRow).order_by(AlertRow.id)) if a.kind == trends.KOL_INVOLVED]
    by_name = {a.details["detection"]["subject"]: a for a in kol}
    assert sorted(by_name) == ["weibo:head", "weibo:mid1", "weibo:mid2"], [a.title for a in kol]
    assert len(kol) == 3 and len({a.incident for a in kol}) == 3
    assert by_name["weibo:mid1"].level == trends.Level.BLUE
    assert by_name["weibo:mid2"].level == trends.Level.YELLOW  # 腰部, negative
    head = by_name["weibo:head"]
    assert head.level == trends.Level.ORANGE and "咖啡研究所" in head.title
    assert "3,000,000" in head.body and "https://m.weibo.cn/status/h1" in head.body
    assert list(head.post_urls) == ["https://m.weibo.cn/status/h1"]
    assert "https://m.weibo.cn/status/w1" in by_name["weibo:mid1"].body  # its own post, not w3


def test_a_shift_first_seen_while_catching_up_still_alerts_live(sqlite_db: Database) -> None:
    _setup(sqlite_db)
    # Three ordinary days busy enough (6-9 posts/h, ~15% negative) to give sentiment a baseline.
    rng = random.Random(10)
    background = []
    for h in range(24 * 4, 24 * 7):
        for i in range(rng.randint(6, 9)):
            pid = f"q{h}-{i}"
            who = Author("weibo", f"fan{rng.randint(0, 60)}", f"咖啡粉{i}", followers=rng.randint(50, 3000))
            text = f"鹿角咖啡 拿铁 日常 {pid}"
            post = Post("weibo", pid, f"https://m.weibo.cn/status/{pid}", who, text, at(h + rng.random()))
            background.append((post, "negative" if rng.random() < 0.15 else "neutral"))
    _store(sqlite_db, background)
    # A sustained negative surge that began ten hours before the job (re)started: its first hours
    # are older than max_age (6 h) and never sent; that must not silence the live hours.
    onset = 24 * 7 - 10
    surge = []
    for h in range(10):
        for i, (post, _) in enumerate(_burst(onset + h, 60, hours=1)):
            pid = f"s{h}-{i}"
            surge.append((replace(post, post_id=pid, url=f"https://m.weibo.cn/status/{pid}"), "negative"))
    _store(sqlite_db, surge)
    now = at(24 * 7) + timedelta(minutes=12)
    assert run_alert_rules(sqlite_db, _settings(), Secrets({}), now=now) > 0
    with sqlite_db.read() as s:
        rows = list(s.exec(select(AlertRow)))
    kinds = {a.kind for a in rows}
    assert {trends.VOLUME_SPIKE, trends.SENTIMENT_SHIFT} <= kinds, [a.title for a in rows]
    for kind in (trends.VOLUME_SPIKE, trends.SENTIMENT_SHIFT):
        mine = [a for a in rows if a.kind == kind]
        assert len({a.incident for a in mine}) == 1
        assert all(repos.as_utc(a.created_at) >= now - timedelta(hours=6) for a in mine)


def test_pasted_copies_are_not_an_emerging_topic(sqlite_db: Database) -> None:
    _setup(sqlite_db)
    _store(sqlite_db, _quiet_week(random.Random(11)))
    assert _after_quiet_week(sqlite_db) == 0

    def post(pid: str, hours: float, author: str, text: str) -> tuple[Post, str]:
        who = Author("weibo", author, f"网友{author}", followers=300, posts_count=200)
        return Post("weibo", pid, f"https://m.weibo.cn/status/{pid}", who, text, at(hours)), "neutral"

    # Hour 1: one post about a new drink and five pasted copies of it by five accounts.
    original = post("c0", 24 * 7 + 0.1, "u0", "鹿角咖啡 燕麦 拿铁")
    _store(sqlite_db, [original])
    with sqlite_db.read() as s:
        pk = s.exec(select(PostRow.id).where(PostRow.post_id == "c0")).one()
    copies = [post(f"c{i}", 24 * 7 + 0.1 + i / 100, f"u{i}", "鹿角咖啡 燕麦 拿铁") for i in range(1, 6)]
    _store(sqlite_db, copies, dup_of={("weibo", p.post_id): pk for p, _ in copies})
    # Hour 2: six different posts with the same new word by six accounts: a topic.
    distinct = [post(f"d{i}", 24 * 7 + 1.1 + i / 100, f"v{i}", f"鹿角咖啡 桂花 口味{i}") for i in range(6)]
    _store(sqlite_db, distinct)
    _run_hourly(sqlite_db, _settings(), range(24 * 7 + 1, 24 * 7 + 3))
    with sqlite_db.read() as s:
        terms = [a for a in s.exec(select(AlertRow)) if a.kind == trends.EMERGING_TERM]
    assert [a.details["detection"]["subject"] for a in terms] == ["桂花"]


def test_a_hot_list_capture_in_the_same_second_as_the_job_is_not_skipped(sqlite_db: Database) -> None:
    _setup(sqlite_db)
    captured = at(5) + timedelta(milliseconds=300)
    with sqlite_db.write() as s:
        repos.store_hot_entries(
            s,
            entries=[
                HotEntry("weibo", "realtime", 3, "鹿角咖啡断货", 1_500_000, "https://s.weibo.com/3", captured)
            ],
        )
    # The demo collects, then runs the job at once: both within one wall-clock second.
    assert (
        run_alert_rules(sqlite_db, _settings(), Secrets({}), now=captured + timedelta(milliseconds=200)) == 1
    )
    # The next run reads that second again and does not alert twice.
    assert run_alert_rules(sqlite_db, _settings(), Secrets({}), now=captured + timedelta(seconds=30)) == 0
