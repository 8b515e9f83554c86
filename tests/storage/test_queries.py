"""Read models (storage.queries) on SQLite and PostgreSQL, against data written by storage.repos."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from collectors.base import Author, Post
from nlp.types import NEGATIVE, NEUTRAL, POSITIVE, UNSCORED, Analysis
from storage import queries, repos
from storage.db import Database
from storage.models import AuthorRow, IgnoredAuthorRow, KolScoreRow

# Monday 2026-03-02 00:00 in Asia/Shanghai is 2026-03-01 16:00 UTC.
WEEK_START = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
WEEK_END = WEEK_START + timedelta(days=7)
HOSTILE = '<script>alert("x")</script> & 鹿角 \u202e 50%_off'


def analysis(label: str, sentiment: float | None, keywords: tuple[str, ...] = ()) -> Analysis:
    return Analysis(
        text="t",
        lang="zh" if label != UNSCORED else "und",
        tokens=(),
        keywords=keywords,
        hashtags=(),
        emoticons=(),
        mentions=(),
        urls=(),
        sentiment=sentiment,
        label=label,
    )


@dataclass(frozen=True)
class Spec:
    pid: str
    at: datetime
    label: str = NEUTRAL
    likes: int = 0
    reposts: int = 0
    comments: int = 0
    competitor: str = ""
    uid: str = "u1"
    keywords: tuple[str, ...] = ()
    text: str = "鹿角咖啡"


SCORE = {POSITIVE: 0.9, NEUTRAL: 0.5, NEGATIVE: 0.1, UNSCORED: None}


def store(db: Database, specs: list[Spec]) -> repos.WatchInfo:
    with db.write() as s:
        repos.sync_config(
            s,
            workspaces=[
                repos.WorkspaceSpec("acme", watches=(repos.WatchSpec("鹿角", "鹿角", ("星巢", "北极熊")),)),
                repos.WorkspaceSpec("other", watches=(repos.WatchSpec("别家", "别家"),)),
            ],
            sources=[],
        )
        watch = next(w for w in repos.active_watches(s) if w.name == "鹿角")
        posts = [
            Post(
                platform="weibo",
                post_id=sp.pid,
                url=f"https://m.weibo.cn/status/{sp.pid}",
                author=Author("weibo", sp.uid, f"作者{sp.uid}", followers=1000),
                text=sp.text,
                created_at=sp.at,
                likes=sp.likes,
                reposts=sp.reposts,
                comments=sp.comments,
            )
            for sp in specs
        ]
        stored = repos.upsert_posts(
            s,
            posts=posts,
            analyses=[analysis(sp.label, SCORE[sp.label], sp.keywords) for sp in specs],
            now=WEEK_END,
        )
        by_pid = {sp.post.post_id: sp.pk for sp in stored}
        touched = repos.add_mentions(
            s,
            mentions=[
                repos.MentionSpec(watch.id, by_pid[sp.pid], sp.at, ("鹿角",), competitor=sp.competitor)
                for sp in specs
            ],
        )
        repos.recompute_counters(s, touched=touched)
    return watch


def at(day: int, hour: int = 3, minute: int = 0) -> datetime:
    return WEEK_START + timedelta(days=day, hours=hour, minutes=minute)


# ------------------------------------------------------------------ mentions


def test_mentions_keyset_pages_cover_everything_once_newest_first(any_db: Database) -> None:
    same = at(2)
    specs = [Spec(f"p{i}", at(i % 7, i % 5)) for i in range(23)]
    specs += [Spec(f"tie{i}", same) for i in range(4)]  # equal timestamps: the id breaks the tie
    specs.append(Spec("old", at(-1)))  # previous week: outside
    specs.append(Spec("rival", at(1), competitor="星巢"))
    watch = store(any_db, specs)
    seen: list[queries.MentionItem] = []
    cursor = None
    with any_db.read() as s:
        for _ in range(20):
            page = queries.mentions(
                s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, limit=5, after=cursor, with_total=True
            )
            assert page.total == 27
            seen += page.items
            if page.next_cursor is None:
                break
            cursor = queries.MentionCursor.decode(page.next_cursor.encode())
    assert len(seen) == 27 and len({m.mention_id for m in seen}) == 27
    keys = [(m.created_at, m.mention_id) for m in seen]
    assert keys == sorted(keys, reverse=True)
    assert {m.post_id for m in seen} == {sp.pid for sp in specs} - {"old", "rival"}
    assert all(m.created_at.tzinfo is not None for m in seen)


def test_mentions_offset_label_competitor_and_ignored_authors(any_db: Database) -> None:
    specs = [
        Spec("a", at(0), NEGATIVE, uid="troll"),
        Spec("b", at(1), NEGATIVE),
        Spec("c", at(2), POSITIVE),
        Spec("d", at(3), competitor="星巢"),
    ]
    watch = store(any_db, specs)
    with any_db.write() as s:
        troll = s.exec(select(AuthorRow).where(AuthorRow.author_id == "troll")).first()
        assert troll is not None
        s.add(IgnoredAuthorRow(workspace_id=watch.workspace_id, author_pk=troll.id))
    with any_db.read() as s:
        neg = queries.mentions(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, label=NEGATIVE)
        assert [m.post_id for m in neg.items] == ["b"]
        shown = queries.mentions(
            s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, label=NEGATIVE, hide_ignored=False
        )
        assert [m.post_id for m in shown.items] == ["b", "a"]
        rival = queries.mentions(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, competitor="星巢")
        assert [(m.post_id, m.competitor) for m in rival.items] == [("d", "星巢")]
        everything = queries.mentions(
            s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, competitor=None, hide_ignored=False
        )
        assert [m.post_id for m in everything.items] == ["d", "c", "b", "a"]
        second = queries.mentions(
            s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, limit=1, offset=1, with_total=True
        )
        assert [m.post_id for m in second.items] == ["b"] and second.total == 2 and second.offset == 1


def test_top_posts_rank_by_current_engagement_within_label_and_subject(any_db: Database) -> None:
    specs = [
        Spec("quiet", at(0), NEGATIVE, likes=1),
        Spec("loud", at(1), NEGATIVE, likes=5, comments=1),  # 5 + 2
        Spec("troll", at(2), NEGATIVE, likes=100, uid="troll"),
        Spec("happy", at(3), POSITIVE, likes=500),
        Spec("rival", at(3), NEGATIVE, likes=900, competitor="星巢"),
    ]
    watch = store(any_db, specs)
    with any_db.write() as s:
        troll = s.exec(select(AuthorRow).where(AuthorRow.author_id == "troll")).first()
        assert troll is not None
        s.add(IgnoredAuthorRow(workspace_id=watch.workspace_id, author_pk=troll.id))

    def top() -> list[str]:
        with any_db.read() as s:
            found = queries.top_posts(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, label=NEGATIVE)
        return [m.post_id for m in found]

    assert top() == ["loud", "quiet"]
    # The quiet post is collected again later with more reposts: it now ranks first.
    quiet = Post(
        platform="weibo",
        post_id="quiet",
        url="https://m.weibo.cn/status/quiet",
        author=Author("weibo", "u1", "作者u1", followers=1000),
        text="鹿角咖啡",
        created_at=at(0),
        likes=1,
        reposts=3,
    )
    with any_db.write() as s:
        assert repos.upsert_posts(s, posts=[quiet], analyses=[analysis(NEGATIVE, 0.1)], now=WEEK_END) == []
    assert top() == ["quiet", "loud"]


def test_mentions_reject_bad_arguments(any_db: Database) -> None:
    watch = store(any_db, [Spec("a", at(0))])
    with any_db.read() as s:
        for kwargs in (
            {"start": WEEK_END, "end": WEEK_START},
            {"start": WEEK_START.replace(tzinfo=None), "end": WEEK_END},
            {"start": WEEK_START, "end": WEEK_END, "limit": 0},
            {"start": WEEK_START, "end": WEEK_END, "limit": 10_000},
            {"start": WEEK_START, "end": WEEK_END, "offset": -1},
            {"start": WEEK_START, "end": WEEK_END, "label": "angry"},
            {
                "start": WEEK_START,
                "end": WEEK_END,
                "offset": 1,
                "after": queries.MentionCursor(WEEK_END, 1),
            },
        ):
            with pytest.raises(ValueError):
                queries.mentions(s, watch_id=watch.id, **kwargs)  # type: ignore[arg-type]
        unknown = queries.mentions(s, watch_id=999_999, start=WEEK_START, end=WEEK_END, with_total=True)
        assert unknown.items == () and unknown.total == 0 and unknown.next_cursor is None


@pytest.mark.parametrize(
    "bad", ["", ".", "abc", "zz.", ".zz", "-1.2", "1.-2", "x" * 60, "1.2.3", "zzzzzzzzzzzzzz.1", "é.1"]
)
def test_cursor_decode_rejects_hostile_callback_data(bad: str) -> None:
    with pytest.raises(ValueError):
        queries.MentionCursor.decode(bad)


def test_cursor_round_trip_is_short_and_exact() -> None:
    cursor = queries.MentionCursor(datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=UTC), 123_456_789)
    text = cursor.encode()
    assert len(text.encode()) < 30
    assert queries.MentionCursor.decode(text) == cursor


def test_hostile_text_comes_back_verbatim(any_db: Database) -> None:
    watch = store(any_db, [Spec("x", at(0), text=HOSTILE)])
    with any_db.read() as s:
        (item,) = queries.mentions(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END).items
    assert item.text == HOSTILE


# ------------------------------------------------------------------ counters


def test_volume_summary_change_and_local_day_series(any_db: Database) -> None:
    specs = [Spec(f"w{i}", at(i % 7, 1)) for i in range(14)]  # 2 per local day this week
    specs += [Spec(f"prev{i}", at(-3)) for i in range(7)]  # 7 in the previous week
    specs.append(Spec("rival", at(0), competitor="星巢"))  # not brand volume
    specs.append(Spec("late", WEEK_START + timedelta(days=6, hours=23, minutes=59)))  # Sunday 23:59 local
    watch = store(any_db, specs)
    with any_db.read() as s:
        vol = queries.volume_summary(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END)
    assert (vol.total, vol.previous_total) == (15, 7)
    assert vol.change == pytest.approx(8 / 7)
    assert len(vol.series) == 7
    assert vol.series[0].start == WEEK_START  # local midnight, as a UTC instant
    assert [p.volume for p in vol.series] == [2, 2, 2, 2, 2, 2, 3]
    assert sum(p.volume for p in vol.series) == vol.total


def test_volume_hourly_series_and_unaligned_bounds(any_db: Database) -> None:
    watch = store(any_db, [Spec("a", at(0, 1, 10)), Spec("b", at(0, 1, 50)), Spec("c", at(0, 3, 0))])
    with any_db.read() as s:
        hours = queries.volume_summary(
            s, watch_id=watch.id, start=at(0, 0), end=at(0, 4), step="hour", tz="UTC"
        )
        assert [p.volume for p in hours.series] == [0, 2, 0, 1]
        odd = queries.volume_summary(s, watch_id=watch.id, start=at(0, 1, 12), end=at(0, 2, 7), step="hour")
        # floored to 5 minutes: [01:10, 02:05) holds "a" and "b"; the window used is reported
        assert (odd.start, odd.end, odd.total) == (at(0, 1, 10), at(0, 2, 5), 2)
        with pytest.raises(ValueError):
            queries.volume_summary(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, step="month")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            queries.volume_summary(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, tz="Mars/Base")
        empty = queries.volume_summary(s, watch_id=watch.id, start=at(-30), end=at(-29))
        assert (empty.total, empty.change) == (0, None)


def test_sentiment_summary_shares_trend_and_top_negative(any_db: Database) -> None:
    specs = [
        Spec("n1", at(0), NEGATIVE, likes=5),
        Spec("n2", at(1), NEGATIVE, reposts=10),  # engagement 30: first
        Spec("n3", at(1), NEGATIVE, comments=1),
        Spec("p1", at(1), POSITIVE),
        Spec("u1", at(2), NEUTRAL),
        Spec("x1", at(2), UNSCORED),
        Spec("rival-neg", at(2), NEGATIVE, likes=999, competitor="星巢"),
        Spec("prev-neg", at(-2), NEGATIVE),
        Spec("prev-pos", at(-2), POSITIVE),
    ]
    watch = store(any_db, specs)
    with any_db.read() as s:
        senti = queries.sentiment_summary(
            s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, top_negative=2
        )
    assert (senti.positive, senti.neutral, senti.negative, senti.unscored) == (1, 1, 3, 1)
    assert senti.share(NEGATIVE) == pytest.approx(3 / 5)
    assert senti.previous_negative_share == pytest.approx(0.5)
    assert [m.post_id for m in senti.top_negative] == ["n2", "n1"]
    assert [(p.negative, p.positive, p.neutral, p.unscored) for p in senti.trend[:3]] == [
        (1, 0, 0, 0),
        (2, 1, 0, 0),
        (0, 0, 1, 1),
    ]
    assert senti.trend[3].share(NEGATIVE) is None


def test_trending_terms_rank_growth_and_exclude_brand(any_db: Database) -> None:
    specs = [Spec(f"a{i}", at(1), keywords=("鹿角", "新品", "排队")) for i in range(4)]
    specs += [Spec(f"b{i}", at(2), keywords=("鹿角", "涨价")) for i in range(3)]
    specs += [Spec(f"old{i}", at(-2), keywords=("鹿角", "排队")) for i in range(3)]
    specs += [Spec("once", at(3), keywords=("偶然",))]
    watch = store(any_db, specs)
    with any_db.read() as s:
        terms = queries.trending_terms(
            s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, exclude=["鹿角"], min_count=2
        )
        evidence = queries.term_posts(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, term="涨价")
        none = queries.term_posts(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, term="涨")
        wild = queries.term_posts(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, term="%")
    assert [(t.term, t.count, t.previous) for t in terms] == [("新品", 4, 0), ("涨价", 3, 0), ("排队", 4, 3)]
    assert terms[0].is_new and not terms[2].is_new
    assert {m.post_id for m in evidence} == {"b0", "b1", "b2"}
    assert none == () and wild == ()  # a substring of a term, or a LIKE wildcard, is no match


# ------------------------------------------------------------------ share of voice, alerts


def test_share_of_voice_lists_every_competitor(any_db: Database) -> None:
    specs = [Spec(f"b{i}", at(1), NEGATIVE if i == 0 else NEUTRAL, likes=1) for i in range(6)]
    specs += [Spec(f"s{i}", at(2), competitor="星巢", reposts=1) for i in range(3)]
    specs += [Spec("gone", at(2), competitor="旧对手")]  # competitor removed from settings since
    specs += [Spec("s-old", at(-1), competitor="星巢")]
    watch = store(any_db, specs)
    with any_db.read() as s:
        sov = queries.share_of_voice(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END)
        with pytest.raises(LookupError):
            queries.share_of_voice(s, watch_id=999_999, start=WEEK_START, end=WEEK_END)
    assert sov.total == 10
    assert [(e.name, e.is_brand, e.mentions) for e in sov.entries] == [
        ("鹿角", True, 6),
        ("星巢", False, 3),
        ("旧对手", False, 1),
        ("北极熊", False, 0),
    ]
    assert sov.entries[0].share == pytest.approx(0.6) and sov.entries[0].negative == 1
    assert sov.entries[1].engagement == pytest.approx(9.0)
    assert sum(e.share for e in sov.entries) == pytest.approx(1.0)


def test_alerts_between_filters_and_delivery_counts(any_db: Database) -> None:
    watch = store(any_db, [Spec("a", at(0))])
    with any_db.write() as s:
        ws_ids = repos.workspace_ids(s)
        other_watch = next(w for w in repos.active_watches(s) if w.name == "别家")

        def alert(key: str, when: datetime, **kw: object) -> None:
            spec = repos.AlertSpec(
                workspace_id=kw.pop("ws", watch.workspace_id),  # type: ignore[arg-type]
                kind=kw.pop("kind", "spike"),  # type: ignore[arg-type]
                level=kw.pop("level", 2),  # type: ignore[arg-type]
                key=key,
                title=f"标题 {key}",
                created_at=when,
                **kw,  # type: ignore[arg-type]
            )
            repos.enqueue_alert(s, alert=spec, targets=[("console", "-"), ("telegram", "1")])

        alert("in", at(1), watch_id=watch.id, post_urls=("https://m.weibo.cn/status/a",))
        alert("health", at(2), kind="source_health", level=1)
        alert("digest", at(3), kind="digest", level=1, watch_id=watch.id)
        alert("before", at(-1), watch_id=watch.id)
        alert("foreign", at(1), ws=ws_ids["other"], watch_id=other_watch.id)
        alert("other-watch-same-ws", at(4), level=4, watch_id=other_watch.id)
    with any_db.read() as s:
        items = queries.alerts_between(s, workspace_id=watch.workspace_id, start=WEEK_START, end=WEEK_END)
        mine = queries.alerts_between(
            s, workspace_id=watch.workspace_id, start=WEEK_START, end=WEEK_END, watch_id=watch.id
        )
        severe = queries.alerts_between(
            s, workspace_id=watch.workspace_id, start=WEEK_START, end=WEEK_END, min_level=3
        )
    assert [a.key for a in items] == ["other-watch-same-ws", "health", "in"]
    assert [a.key for a in mine] == ["health", "in"]
    assert [a.key for a in severe] == ["other-watch-same-ws"]
    assert items[2].deliveries_pending == 2 and items[2].post_urls == ("https://m.weibo.cn/status/a",)


# ------------------------------------------------------------------ KOL


def add_scores(db: Database, watch_id: int, when: datetime, scores: dict[str, float]) -> None:
    with db.write() as s:
        pks = repos.upsert_authors(
            s, authors=[Author("weibo", uid, f"博主{uid}", followers=10_000) for uid in scores], now=when
        )
        for uid, score in scores.items():
            s.add(
                KolScoreRow(
                    watch_id=watch_id,
                    author_pk=pks[("weibo", uid)],
                    computed_at=when,
                    score=score,
                    tier="腰部",
                    components={"reach": 0.5},
                    weights={"reach": 0.3},
                    reasons=["粉丝多"],
                    method_version="t1",
                )
            )


def test_kol_board_top_rising_and_turned_negative(any_db: Database) -> None:
    specs = []
    # "k1" was positive the week before and negative in the last week; "k2" stays positive.
    for i in range(3):
        specs.append(Spec(f"k1-old{i}", at(-4), POSITIVE, uid="k1"))
        specs.append(Spec(f"k1-new{i}", at(5), NEGATIVE, uid="k1"))
        specs.append(Spec(f"k2-{i}", at(5), POSITIVE, uid="k2"))
        specs.append(Spec(f"k2-old{i}", at(-4), POSITIVE, uid="k2"))
    specs.append(Spec("k3-new", at(5), NEGATIVE, uid="k3"))  # one sour post, no earlier ones: no turn
    watch = store(any_db, specs)
    # A week-old ranking, then hourly ones: the week's changes compare with the week-old one.
    week_ago, first, second = at(0), at(6, 3), at(6, 4)
    add_scores(any_db, watch.id, week_ago, {"k1": 80.0, "k2": 60.0, "k3": 10.0})
    add_scores(any_db, watch.id, first, {"k1": 80.5, "k2": 74.0, "k3": 12.0, "k4": 29.0})
    add_scores(any_db, watch.id, second, {"k1": 81.0, "k2": 75.0, "k3": 12.0, "k4": 30.0})
    with any_db.read() as s:
        board = queries.kol_board(s, watch_id=watch.id, top=3, now=WEEK_END)
        day = queries.kol_board(s, watch_id=watch.id, top=3, now=WEEK_END, period=timedelta(days=1))
        then = queries.kol_board(s, watch_id=watch.id, top=3, now=at(6, 3, 30))
        empty = queries.kol_board(s, watch_id=999_999)
        explain = queries.author_score(s, watch_id=watch.id, author="博主k2")
        by_id = queries.author_score(s, watch_id=watch.id, author="@k1")
        partial = queries.author_score(s, watch_id=watch.id, author="K4")
        nobody = queries.author_score(s, watch_id=watch.id, author="<script>")
        blank = queries.author_score(s, watch_id=watch.id, author="   ")
    assert board.computed_at == second and board.previous_computed_at == week_ago
    assert [(e.author_id, e.score) for e in board.top] == [("k1", 81.0), ("k2", 75.0), ("k4", 30.0)]
    # k2 rose 15 over the week (1 in the last hours); k3's +2 and k1's +1 are noise; k4 is new.
    assert [(e.author_id, e.delta) for e in board.rising] == [("k2", 15.0)]
    assert [(e.author_id, e.previous_score) for e in board.new] == [("k4", None)]
    assert [t.kol.author_id for t in board.turned_negative] == ["k1"]
    # Over a day the ranking compared with is the hourly one before (the nearest to a day ago
    # among those at least half a day old): nobody rose 5 points, nobody is new, and k1 has no
    # brand posts in the day before: no turn to see.
    assert day.previous_computed_at == first and day.rising == () and day.new == ()
    assert day.turned_negative == ()
    # As of a moment between two computations: the ranking stored by then.
    assert then.computed_at == first and [e.score for e in then.top] == [80.5, 74.0, 29.0]
    turn = board.turned_negative[0]
    assert turn.recent_sentiment == pytest.approx(0.1) and turn.earlier_sentiment == pytest.approx(0.9)
    assert empty.computed_at is None and empty.top == ()
    assert explain is not None and explain.latest.author_id == "k2" and explain.rank == 2
    assert explain.ranked == 4 and [v for _, v in explain.history] == [60.0, 74.0, 75.0]
    assert explain.latest.previous_score == 74.0 and explain.latest.reasons == ("粉丝多",)
    assert by_id is not None and by_id.latest.author_id == "k1" and by_id.rank == 1
    assert partial is not None and partial.latest.author_id == "k4" and partial.latest.delta == 1.0
    assert nobody is None and blank is None


def test_kol_board_platform_filter_and_bad_top(any_db: Database) -> None:
    watch = store(any_db, [])
    add_scores(any_db, watch.id, at(1), {"a": 50.0})
    with any_db.read() as s:
        assert queries.kol_board(s, watch_id=watch.id, platform="bilibili").top == ()
        assert [e.author_id for e in queries.kol_board(s, watch_id=watch.id, platform="weibo").top] == ["a"]
        assert queries.kol_board(s, watch_id=watch.id).rising == ()  # one computation: nothing to compare
        with pytest.raises(ValueError):
            queries.kol_board(s, watch_id=watch.id, top=0)


def test_watch_lookup(any_db: Database) -> None:
    watch = store(any_db, [])
    with any_db.read() as s:
        found = queries.find_watch(s, workspace_id=watch.workspace_id, name="鹿角")
        assert (
            found is not None
            and found.competitors == ("星巢", "北极熊")
            and found.timezone == "Asia/Shanghai"
        )
        assert queries.find_watch(s, workspace_id=watch.workspace_id, name="别家") is None  # other workspace
        assert [w.name for w in queries.watches_of(s, workspace_id=watch.workspace_id)] == ["鹿角"]


def test_iter_mentions_streams_all_in_order(any_db: Database) -> None:
    specs = [Spec(f"m{i}", at(i % 7, i % 24)) for i in range(25)]
    specs.append(Spec("r", at(3), competitor="北极熊"))
    watch = store(any_db, specs)
    with any_db.read() as s:
        items = list(queries.iter_mentions(s, watch_id=watch.id, start=WEEK_START, end=WEEK_END, batch=4))
    assert len(items) == 26
    assert [(m.created_at, m.mention_id) for m in items] == sorted(
        (m.created_at, m.mention_id) for m in items
    )
