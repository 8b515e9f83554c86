"""The digest end to end on a SQLite database filled through storage.repos: data, charts, HTML,
CSV, the outbox alert and its notice, idempotency, hostile post text."""

from __future__ import annotations

import contextlib
import csv
import html
import io
import random
import re
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlmodel import select

from bot import digest
from collectors.base import Author, Post
from kolwatch.digest_job import digest_summary, run_digest, safe_dir_name, summarize_digest
from kolwatch.settings import Secrets, Settings
from nlp.types import NEGATIVE, NEUTRAL, POSITIVE, Analysis
from storage import queries, repos
from storage.db import Database
from storage.models import AlertRow, DeliveryRow, KolScoreRow, MentionRow, PostRow

NOW = datetime(2026, 3, 9, 1, 2, 30, tzinfo=UTC)  # Monday 09:02 in Shanghai
HOSTILE = '<script>alert(1)</script> 鹿角 & "quotes" <img src=x onerror=alert(2)>'
FORMULA = '=HYPERLINK("http://evil.example","鹿角")'


def analysis(label: str, keywords: tuple[str, ...]) -> Analysis:
    score = {POSITIVE: 0.85, NEUTRAL: 0.5, NEGATIVE: 0.1}[label]
    return Analysis("t", "zh", (), keywords, (), (), (), (), score, label)


def settings(channels: tuple[str, ...] = ("console",)) -> Settings:
    return Settings.model_validate(
        {
            "workspaces": [
                {
                    "name": "acme",
                    "chats": [-1001],
                    "timezone": "Asia/Shanghai",
                    "channels": list(channels),
                    "watches": [{"name": "鹿角", "query": "鹿角", "competitors": ["星巢", "酷豆"]}],
                }
            ]
        }
    )


def fill(db: Database) -> repos.WatchInfo:
    """A week like the demo's: steady chatter, then a negative incident in the last hours."""

    rng = random.Random(7)
    with db.write() as s:
        repos.sync_config(
            s,
            workspaces=[
                repos.WorkspaceSpec(
                    "acme",
                    chats=(-1001,),
                    watches=(repos.WatchSpec("鹿角", "鹿角", ("星巢", "酷豆")),),
                )
            ],
            sources=[
                repos.SourceSpecRow("acme", "weibo", "search", "鹿角", 600),
                repos.SourceSpecRow("acme", "bilibili", "search", "鹿角", 600),
            ],
        )
        watch = repos.active_watches(s)[0]
        authors = [
            Author(
                "weibo", f"a{i}", f"博主{i}号", url=f"https://weibo.com/u/a{i}", followers=10 ** (i % 6 + 2)
            )
            for i in range(12)
        ]
        posts, analyses, competitors = [], [], []
        for i in range(400):
            hours_ago = rng.uniform(0, 24 * 8)
            incident = i >= 340
            if incident:
                hours_ago = rng.uniform(0, 3)
            if i < 3:  # hostile text and links among the top posts, where the digest shows them
                hours_ago = 5 + i
            label = NEGATIVE if incident else rng.choice([POSITIVE, POSITIVE, NEUTRAL, NEUTRAL, NEGATIVE])
            comp = "" if incident or i % 4 or i < 3 else rng.choice(["星巢", "酷豆"])
            words = (
                ("鹿角", "食品安全", "异物")
                if incident
                else ("鹿角", rng.choice(["拿铁", "新品", "排队", "优惠"]))
            )
            text = {0: HOSTILE, 1: FORMULA}.get(i, f"{comp or '鹿角'}咖啡 {words[1]} 第{i}条")
            posts.append(
                Post(
                    platform="weibo",
                    post_id=f"p{i}",
                    url=f"https://m.weibo.cn/status/p{i}" if i != 2 else "javascript:alert(3)",
                    author=authors[i % len(authors)],
                    text=text,
                    created_at=NOW - timedelta(hours=hours_ago),
                    likes=rng.randint(0, 50)
                    + (500 if incident and i % 7 == 0 else 0)
                    + (9000 if i < 3 else 0),
                    reposts=rng.randint(0, 5),
                    comments=rng.randint(0, 10),
                )
            )
            analyses.append(analysis(label, words))
            competitors.append(comp)
        stored = repos.upsert_posts(s, posts=posts, analyses=analyses, now=NOW)
        comp_of = dict(zip((p.post_id for p in posts), competitors, strict=True))
        touched = repos.add_mentions(
            s,
            mentions=[
                repos.MentionSpec(
                    watch.id, sp.pk, sp.post.created_at, ("鹿角",), competitor=comp_of[sp.post.post_id]
                )
                for sp in stored
            ],
        )
        repos.recompute_counters(s, touched=touched)
        pks = {
            a.author_id: pk
            for (_, a_id), pk in repos.upsert_authors(s, authors=authors, now=NOW).items()
            for a in authors
            if a.author_id == a_id
        }
        for when, bump in ((NOW - timedelta(days=1), 0.0), (NOW - timedelta(hours=1), 1.0)):
            for i, a in enumerate(authors):
                s.add(
                    KolScoreRow(
                        watch_id=watch.id,
                        author_pk=pks[a.author_id],
                        computed_at=when,
                        score=90.0 - 7 * i + bump * (i * 3),
                        tier="头部" if i < 3 else "腰部",
                        reasons=["互动高"],
                        method_version="test",
                    )
                )
        repos.enqueue_alert(
            s,
            alert=repos.AlertSpec(
                workspace_id=watch.workspace_id,
                kind="spike",
                level=3,
                key="spike:1",
                title="鹿角 提及量激增 <b>",
                watch_id=watch.id,
                post_urls=("https://m.weibo.cn/status/p345",),
                created_at=NOW - timedelta(hours=2),
            ),
            targets=[("console", "-")],
        )
    return watch


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, repos.WatchInfo]:
    """The scenario is written once per module; each test gets its own copy of the file."""

    path = tmp_path_factory.mktemp("digest") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.create_all()
    watch = fill(db)
    db.dispose()
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file before copying it
    return path, watch


@pytest.fixture
def filled(
    template: tuple[Path, repos.WatchInfo], tmp_path: Path
) -> Iterator[tuple[Database, repos.WatchInfo]]:
    copy = tmp_path / "test.db"
    shutil.copyfile(template[0], copy)
    db = Database(f"sqlite:///{copy}")
    yield db, template[1]
    db.dispose()


@pytest.fixture(scope="module")
def week_dir(template: tuple[Path, repos.WatchInfo], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One weekly digest rendered for the read-only checks (charts take a second to draw)."""

    out = tmp_path_factory.mktemp("week")
    copy = out / "db.sqlite"
    shutil.copyfile(template[0], copy)
    db = Database(f"sqlite:///{copy}")
    run_digest(db, settings(), Secrets({}), workspace="acme", period="week", now=NOW, out_dir=out, send=False)
    db.dispose()
    return out / "acme" / "week-2026-W11"


def test_digest_window_periods_keys_and_bad_input() -> None:
    day = digest.digest_window("day", now=NOW, tz="Asia/Shanghai")
    week = digest.digest_window("week", now=NOW, tz="Asia/Shanghai")
    assert day.end == datetime(2026, 3, 9, 1, 0, tzinfo=UTC) and day.end - day.start == timedelta(days=1)
    assert (day.key, week.key, week.step, day.step) == ("2026-03-09", "2026-W11", "day", "hour")
    assert week.end - week.start == timedelta(days=7)
    with pytest.raises(ValueError):
        digest.digest_window("month", now=NOW)
    with pytest.raises(ValueError):
        digest.digest_window("day", now=NOW.replace(tzinfo=None))


def test_run_digest_writes_files_whose_numbers_match_the_database(
    filled: tuple[Database, repos.WatchInfo], week_dir: Path
) -> None:
    db, watch = filled
    names = sorted(p.name for p in week_dir.iterdir())
    assert names == ["digest.html", "mentions.csv", "w1-sentiment.png", "w1-sov.png", "w1-volume.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in week_dir.glob("*.png"))
    window = digest.digest_window("week", now=NOW, tz="Asia/Shanghai")
    with db.read() as s:
        vol = queries.volume_summary(s, watch_id=watch.id, start=window.start, end=window.end)
        every = list(queries.iter_mentions(s, watch_id=watch.id, start=window.start, end=window.end))
        senti = queries.sentiment_summary(s, watch_id=watch.id, start=window.start, end=window.end)
        sov = queries.share_of_voice(s, watch_id=watch.id, start=window.start, end=window.end)
    page = (week_dir / "digest.html").read_text(encoding="utf-8")
    assert vol.raw_total > 100 and f"<b>{vol.raw_total:,}</b>" in page
    assert senti.share(NEGATIVE) and digest.pct(senti.share(NEGATIVE)) in page
    for entry in sov.entries:
        assert f"<td class=num>{entry.mentions:,}</td><td class=num>{digest.pct(entry.share)}</td>" in page
    rows = list(csv.reader(io.StringIO((week_dir / "mentions.csv").read_text("utf-8-sig"))))
    assert rows[0] == list(digest.CSV_FIELDS) and len(rows) - 1 == len(every) == sov.total
    assert {r[1] for r in rows[1:]} == {"", "星巢", "酷豆"}


def test_html_is_self_contained_and_escapes_hostile_posts(week_dir: Path) -> None:
    page = (week_dir / "digest.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 鹿角 &amp; &quot;quotes&quot; &lt;img src=x" in page
    assert 'href="https://m.weibo.cn/status/p0"' in page and 'href="https://m.weibo.cn/status/p2"' not in page
    assert "javascript:" not in page.lower()
    # No external resource: every src is a data: URL, no <link>, CSP forbids everything else.
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]*)"', page))
    assert "<link" not in page and "default-src 'none'" in page
    assert "提及量激增 &lt;b&gt;" in page  # an alert title is text too
    assert 'href="https://m.weibo.cn/status/p345"' in page  # the alert links to its post


def test_csv_neutralises_formulas(week_dir: Path) -> None:
    text = (week_dir / "mentions.csv").read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    cells = [r[-1] for r in rows[1:]]
    (formula,) = [c for c in cells if "HYPERLINK" in c]
    assert formula.startswith("'=")
    assert not any(c.startswith(("=", "+", "-", "@")) for r in rows[1:] for c in r)
    assert (
        digest.csv_cell("-1+2") == "'-1+2"
        and digest.csv_cell("鹿角") == "鹿角"
        and digest.csv_cell(None) == ""
    )


def test_digest_is_enqueued_once_with_deliveries_and_a_notice_with_attachments(
    filled: tuple[Database, repos.WatchInfo], tmp_path: Path
) -> None:
    db, _ = filled
    secrets = Secrets({"KOLWATCH_BOT_TOKEN": "42:TEST"})
    first = run_digest(db, settings(), secrets, workspace="acme", period="day", now=NOW, out_dir=tmp_path)
    again = run_digest(
        db,
        settings(),
        secrets,
        workspace="acme",
        period="day",
        now=NOW + timedelta(hours=3),
        out_dir=tmp_path,
    )
    assert sorted(first) == sorted(again)
    with db.read() as s:
        alerts = s.exec(select(AlertRow).where(AlertRow.kind == "digest")).all()
        assert len(alerts) == 1
        (alert,) = alerts
        targets = sorted(
            (d.channel, d.target) for d in s.exec(select(DeliveryRow).where(DeliveryRow.alert_id == alert.id))
        )
    assert alert.key == "digest:day:2026-03-09" and alert.level == 1
    assert [c for c, _ in targets] == ["console", "telegram"] and ("telegram", "-1001") in targets
    assert (
        "提及量" in alert.body and alert.post_urls and all(u.startswith("https://") for u in alert.post_urls)
    )
    notice = digest.notice_from_alert(alert)
    kinds = [(a.name, a.mime) for a in notice.attachments]
    assert kinds[:3] == [
        ("w1-sentiment.png", "image/png"),
        ("w1-sov.png", "image/png"),
        ("w1-volume.png", "image/png"),
    ]
    assert ("digest.html", "text/html") in kinds and ("mentions.csv", "text/csv") in kinds
    assert notice.title == "acme 舆情日报 2026-03-09" and notice.links
    # The stored digest keeps its footnoted posts for Telegram's feedback buttons.
    assert notice.feedback and [label for label, _ in notice.feedback] == [
        label[: label.index("]") + 1] for label, _ in notice.links if not label.endswith("帖子")
    ]


def test_notice_refuses_non_digest_alerts_and_missing_files(tmp_path: Path) -> None:
    alert = AlertRow(workspace_id=1, kind="spike", key="k", title="t")
    with pytest.raises(ValueError):
        digest.notice_from_alert(alert)
    gone = AlertRow(
        workspace_id=1, kind="digest", key="k", title="t", details={"files": [str(tmp_path / "x.png")]}
    )
    with pytest.raises(FileNotFoundError):
        digest.notice_from_alert(gone)
    odd = tmp_path / "evil.exe"
    odd.write_bytes(b"MZ")
    with pytest.raises(ValueError):
        digest.notice_from_alert(
            AlertRow(workspace_id=1, kind="digest", key="k", title="t", details={"files": [str(odd)]})
        )


def test_summary_and_text_numbers(filled: tuple[Database, repos.WatchInfo]) -> None:
    db, watch = filled
    summary = digest_summary(db, settings(), workspace="acme", period="week", now=NOW)
    window = digest.digest_window("week", now=NOW, tz="Asia/Shanghai")
    with db.read() as s:
        vol = queries.volume_summary(s, watch_id=watch.id, start=window.start, end=window.end)
    assert summary.watches[0][:2] == ("鹿角", vol.raw_total)
    text = summarize_digest(db, settings(), workspace="acme", period="week", now=NOW)
    assert text.startswith("acme 舆情周报 2026-W11") and f"提及量 {vol.raw_total:,} 条原始提及" in text
    assert "数据源: 2 个" in text


def test_unknown_workspace_and_watch(filled: tuple[Database, repos.WatchInfo], tmp_path: Path) -> None:
    db, _ = filled
    with pytest.raises(LookupError):
        run_digest(db, settings(), Secrets({}), workspace="nobody", period="day", now=NOW, out_dir=tmp_path)
    with pytest.raises(LookupError):
        run_digest(
            db,
            settings(),
            Secrets({}),
            workspace="acme",
            period="day",
            now=NOW,
            out_dir=tmp_path,
            watch="不存在",
        )
    with pytest.raises(ValueError):
        run_digest(db, settings(), Secrets({}), workspace="acme", period="year", now=NOW, out_dir=tmp_path)


@pytest.mark.parametrize("name", ["../../etc", "a/b", ".hidden", "", "鹿角 咖啡"])
def test_directory_names_stay_inside(name: str, tmp_path: Path) -> None:
    cleaned = safe_dir_name(name)
    assert "/" not in cleaned and not cleaned.startswith(".") and cleaned
    assert (tmp_path / cleaned).resolve().parent == tmp_path.resolve()


def test_digest_command_writes_files_and_prints_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kolwatch.cli import _Parser
    from kolwatch.commands import digest as digest_command
    from kolwatch.errors import UserError
    from storage import migrate

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate.upgrade(url)
    db = Database(url)
    fill(db)
    db.dispose()
    conf = tmp_path / "settings.toml"
    conf.write_text(
        f'[database]\nurl = "{url}"\n[[workspaces]]\nname = "acme"\nchats = [-1001]\n'
        '[[workspaces.watches]]\nname = "鹿角"\nquery = "鹿角"\ncompetitors = ["星巢", "酷豆"]\n',
        encoding="utf-8",
    )
    parser = _Parser(prog="kolwatch")
    parser.add_argument("--settings")
    digest_command.register(parser.add_subparsers(dest="command", parser_class=_Parser))
    out = tmp_path / "out"
    args = parser.parse_args(["--settings", str(conf), "digest", "--period", "week", "--out", str(out)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "acme 舆情周报" in printed and "提及量" in printed
    assert len(list(out.glob("acme/week-*/digest.html"))) == 1
    for bad in (
        ["digest", "--period", "month"],
        ["digest", "--period", "day", "--watch", "不存在"],
        ["digest", "--period", "day", "--workspace", "nobody"],
    ):
        with pytest.raises(UserError):
            args = parser.parse_args(["--settings", str(conf), *bad])
            args.func(args)


def test_counter_reads_skip_terms_unless_asked_and_totals_match_the_series(
    filled: tuple[Database, repos.WatchInfo],
) -> None:
    db, watch = filled
    end = NOW.replace(minute=0, second=0)
    start = end - timedelta(days=7)
    with db.read() as s:
        plain = repos.counter_series(s, watch_id=watch.id, bucket_s=3600, start=start, end=end)
        full = repos.counter_series(s, watch_id=watch.id, bucket_s=3600, start=start, end=end, terms=True)
        totals = repos.counter_totals(s, watch_id=watch.id, bucket_s=3600, start=start, end=end)
        term_totals = repos.counter_term_totals(s, watch_id=watch.id, bucket_s=3600, start=start, end=end)
        later = end + timedelta(days=1)
        empty = repos.counter_totals(s, watch_id=watch.id, bucket_s=3600, start=end, end=later)
        vol = queries.volume_summary(s, watch_id=watch.id, start=end, end=end + timedelta(days=7))
        senti = queries.sentiment_summary(s, watch_id=watch.id, start=end, end=end + timedelta(days=7))
    assert plain and all(p.terms is None for p in plain)
    assert all(p.terms is not None for p in full) and any(p.terms for p in full)
    assert [p.volume for p in plain] == [p.volume for p in full]
    summed: dict[str, int] = {}
    for p in full:
        for term, n in (p.terms or {}).items():
            summed[term] = summed.get(term, 0) + n
    assert term_totals == summed and term_totals["异物"] > 0
    for name in ("volume", "raw_volume", "negative", "positive", "neutral", "scored"):
        assert getattr(totals, name) == sum(getattr(p, name) for p in plain), name
    assert totals.engagement == pytest.approx(sum(p.engagement for p in plain))
    assert (empty.volume, empty.scored, empty.terms) == (0, 0, None)
    # The week after NOW is empty; its "previous period" is the week read above.
    assert (vol.previous_total, vol.previous_raw_total) == (totals.volume, totals.raw_volume)
    assert senti.previous_negative_share == pytest.approx(totals.negative / totals.scored)


def test_mentions_total_can_be_capped(filled: tuple[Database, repos.WatchInfo]) -> None:
    db, watch = filled
    window = digest.digest_window("week", now=NOW, tz="Asia/Shanghai")
    with db.read() as s:
        full = queries.mentions(s, watch_id=watch.id, start=window.start, end=window.end, with_total=True)
        capped = queries.mentions(
            s, watch_id=watch.id, start=window.start, end=window.end, with_total=True, total_cap=7
        )
        roomy = queries.mentions(
            s, watch_id=watch.id, start=window.start, end=window.end, with_total=True, total_cap=10_000
        )
        with pytest.raises(ValueError):
            queries.mentions(
                s, watch_id=watch.id, start=window.start, end=window.end, with_total=True, total_cap=0
            )
    assert full.total and full.total > 7
    assert capped.total == 7 and roomy.total == full.total and capped.items == full.items


def test_kol_changes_in_a_digest_cover_its_period(
    filled: tuple[Database, repos.WatchInfo], week_dir: Path
) -> None:
    # Rankings were stored a day and an hour before NOW. The weekly digest has no ranking from
    # about a week before: it lists no risers (it used to compare with the run an hour before).
    page = (week_dir / "digest.html").read_text(encoding="utf-8")
    section = page[page.index("<h3>KOL</h3>") :]
    assert "没有约一个时段前的 KOL 排名可比" in section and "上升最快" not in section
    # The daily digest compares with the ranking a day before: +3 points per place is a rise
    # from the third author on (5 points at least), and the page says what it compared with.
    db, watch = filled
    window = digest.digest_window("day", now=NOW, tz="Asia/Shanghai")
    with db.read() as s:
        data = digest.collect_digest(s, workspace_id=watch.workspace_id, window=window)
    kols = data.watches[0].kols
    assert kols.period == timedelta(days=1) and kols.previous_computed_at == NOW - timedelta(days=1)
    assert kols.rising and all(k.delta is not None and k.delta >= 5 for k in kols.rising)
    assert [k.author_id for k in kols.rising][:2] == ["a11", "a10"] and kols.new == ()
    html = digest.render_html(data, [])
    assert "上升最快" in html and "变化对比" in html


def test_every_volume_in_a_digest_counts_raw_mentions_and_dedup_is_labelled(
    filled: tuple[Database, repos.WatchInfo], tmp_path: Path
) -> None:
    """Text, HTML and CSV agree with SQL on the stated definitions: raw brand mentions for the
    headline, share of voice and the sentiment base; near-duplicates once for 去重后."""

    db, watch = filled
    window = digest.digest_window("week", now=NOW, tz="Asia/Shanghai")
    with db.write() as s:
        rows = s.exec(
            select(PostRow.id, MentionRow.created_at)
            .join(MentionRow, MentionRow.post_pk == PostRow.id)
            .where(MentionRow.competitor == "")
            .order_by(PostRow.id)
        ).all()
        # Copies: posts 100..159 repeat post 99 (several buckets apart), 200..219 repeat 199.
        pks = [pk for pk, _ in rows]
        copies = {pk: pks[99] for pk in pks[100:160]} | {pk: pks[199] for pk in pks[200:220]}
        repos.mark_duplicates(s, copies=copies)
        repos.recompute_counters(s, touched={(watch.id, at) for _, at in rows})
    paths = run_digest(
        db, settings(), Secrets({}), workspace="acme", period="week", now=NOW, out_dir=tmp_path, send=False
    )
    lo, hi = (repos.as_utc(t).strftime("%Y-%m-%d %H:%M:%S") for t in (window.start, window.end))
    with contextlib.closing(sqlite3.connect(db.url.split("///", 1)[1])) as con:

        def one(sql: str) -> int:
            where = f"m.watch_id = {watch.id} AND m.created_at >= '{lo}' AND m.created_at < '{hi}'"
            return int(con.execute(sql.replace("WHERE", f"WHERE {where} AND")).fetchone()[0])

        raw = one("SELECT count(*) FROM mention m WHERE m.competitor = ''")
        distinct = one(
            "SELECT count(DISTINCT coalesce(p.dup_of, p.id)) FROM mention m JOIN post p ON p.id = m.post_pk "
            "WHERE m.competitor = ''"
        )
        every = one("SELECT count(*) FROM mention m WHERE 1 = 1")
        copied = one(
            "SELECT count(*) FROM mention m JOIN post p ON p.id = m.post_pk "
            "WHERE m.competitor = '' AND p.dup_of IS NOT NULL"
        )
        negative = one(
            "SELECT count(*) FROM mention m JOIN post p ON p.id = m.post_pk "
            "WHERE m.competitor = '' AND p.label = 'negative'"
        )
    assert raw > distinct + 30 > 30  # the copies are in the week
    summary = digest_summary(db, settings(), workspace="acme", period="week", now=NOW)
    text = summary.text()
    assert f"提及量 {raw:,} 条原始提及" in text and f"去重后 {distinct:,} 条（近似重复只计一次）" in text
    assert f"情感（{raw:,} 条原始提及" in text and f"负面 {digest.pct(negative / raw)}" in text
    assert f"鹿角 {digest.pct(raw / every)}（{raw:,}）" in text and "声量份额（原始提及）" in text
    assert summary.watches[0][1] == raw
    page = next(p for p in paths if p.name == "digest.html").read_text(encoding="utf-8")
    assert f"提及量（原始）<b>{raw:,}</b>" in page and f"去重后<b>{distinct:,}</b>" in page
    assert f"情感基数（{raw:,} 条" in page
    assert f"<td>鹿角（本品牌）</td><td class=num>{raw:,}</td>" in page
    csv_text = next(p for p in paths if p.suffix == ".csv").read_text("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(csv_text)))
    brand = [r for r in table if r["competitor"] == ""]
    assert len(table) == every and len(brand) == raw
    assert len({r["duplicate_of"] or f"{r['platform']}:{r['post_id']}" for r in brand}) == distinct
    assert sum(1 for r in brand if r["duplicate_of"]) == copied > 0
    with db.read() as s:
        vol = queries.volume_summary(s, watch_id=watch.id, start=window.start, end=window.end, step="day")
    assert sum(p.raw_volume for p in vol.series) == raw  # the chart's points add up to the headline


def test_every_claim_links_a_post_of_the_watch_and_period(filled: tuple[Database, repos.WatchInfo]) -> None:
    db, watch = filled
    window = digest.digest_window("week", now=NOW, tz="Asia/Shanghai")
    with db.read() as s:
        data = digest.collect_digest(s, workspace_id=watch.workspace_id, window=window)
        posts = {
            p.url: (p.id, p.author_pk, p.label, tuple(p.keywords), m.competitor, repos.as_utc(m.created_at))
            for p, m in s.exec(
                select(PostRow, MentionRow)
                .join(MentionRow, MentionRow.post_pk == PostRow.id)
                .where(MentionRow.watch_id == watch.id)
            ).all()
        }
    text = digest.text_lines(data)
    wd = data.watches[0]
    url_of = {int(label[1 : label.index("]")]): url for label, url in text.links}
    assert list(url_of) == list(range(1, len(url_of) + 1))
    # Feedback buttons for every linked post; the alert in the scenario names its post by URL only.
    alert_only = {n for n, u in url_of.items() if u.endswith("/p345")}
    assert text.feedback == tuple((f"[{n}]", posts[u][0]) for n, u in url_of.items() if n not in alert_only)
    for url in url_of.values():  # every link is a post the watch mentioned in the period
        assert window.start <= posts[url][5] < window.end, url

    def marks(line: str) -> list[str]:
        return [url_of[int(n)] for n in re.findall(r" \[(\d+)\]", line)]

    def line(prefix: str) -> str:
        return next(x for x in text.lines if x.startswith(prefix))

    (volume,) = marks(line("提及量"))
    assert volume == wd.top_posts[0].url or not wd.top_posts[0].url.startswith("http")
    assert posts[volume][0] == digest.linkable(wd.top_posts).post_pk  # type: ignore[union-attr]
    (senti,) = marks(line("情感（"))
    assert posts[senti][2] == NEGATIVE and senti == wd.sentiment.top_negative[0].url
    sov = marks(line("声量份额"))
    assert [posts[u][4] for u in sov] == ["" if e.is_brand else e.name for e in wd.sov.entries]
    terms = marks(line("热议词"))
    assert len(terms) == min(5, len(wd.terms)) > 0
    assert all(t.term.term in posts[u][3] for t, u in zip(wd.terms, terms, strict=False))
    kols = marks(line("KOL 评分前三"))
    assert [posts[u][1] for u in kols] == [k.author_pk for k in wd.kols.top[:3]]
    assert marks(line("预警")) == ["https://m.weibo.cn/status/p345"]
    hot = [marks(x) for x in text.lines if x.startswith("热帖")]
    assert hot == [[p.url] if p.url.startswith("https://") else [] for p in wd.top_posts[:3]]
    assert "javascript:" not in " ".join(url_of.values())  # p2 is hot but has no link to give
    # The HTML links the share of voice and the KOLs to posts, not only to profiles.
    page = digest.render_html(data, ())
    sov_table = page[page.index("<h3>声量份额</h3>") : page.index("<h3>热议词")]
    assert all(f'href="{html.escape(u)}"' in sov_table for u in sov)
    kol_table = page[page.index("<h3>KOL</h3>") :]
    assert all(f'href="{html.escape(u)}"' in kol_table for u in kols)


def test_a_ranking_stored_while_the_digest_is_made_is_its_ranking(
    filled: tuple[Database, repos.WatchInfo],
) -> None:
    # The window ends at NOW floored to 5 minutes (01:00); the KOL job ran at 01:02, just before
    # the digest at 01:02:30 (the demo runs them back to back). That ranking is the period's.
    db, watch = filled
    window = digest.digest_window("day", now=NOW, tz="Asia/Shanghai")
    assert window.end < NOW - timedelta(seconds=30) and window.made_at == NOW
    with db.write() as s:
        author_pk = s.exec(select(KolScoreRow.author_pk)).first()
        row = KolScoreRow(
            watch_id=watch.id,
            author_pk=author_pk,
            computed_at=NOW - timedelta(seconds=30),
            score=99.0,
            tier="头部",
            method_version="test",
        )
        s.add(row)
    try:
        with db.read() as s:
            kols = digest.collect_digest(s, workspace_id=watch.workspace_id, window=window).watches[0].kols
        assert kols.computed_at == NOW - timedelta(seconds=30)
        assert [k.author_pk for k in kols.top] == [author_pk]
    finally:
        with db.write() as s:
            s.exec(delete(KolScoreRow).where(KolScoreRow.computed_at == NOW - timedelta(seconds=30)))
