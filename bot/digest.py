"""The daily/weekly digest: data (storage.queries) -> charts (bot.charts) -> plain text, a
self-contained HTML report, a CSV of the period's mentions -> one `Notice` with attachments.

What is in it, per watch: volume and its change against the previous period, sentiment shares and
trend with the top negative posts, share of voice against the competitors, top posts, top and
rising KOLs (and ranked authors whose posts turned negative), trending terms with the posts behind
them, alerts of the period; once per workspace: source health.

Every claim links to a representative post: the volume to the period's most engaging post, the
sentiment to the most engaging negative one, each share-of-voice entry to that brand's top post,
each trending term to a post using it, each KOL to their most engaging post of the period, each
alert to its first post. In the text (Telegram, webhooks) a claim ends with a footnote number
"[n]", one per distinct post, and the links are listed by number at the end; the same posts get
the bot's feedback buttons on Telegram (`Notice.feedback`). The HTML links them in place.

One definition of volume throughout: every number of mentions in a digest (the headline, its
change, the volume chart, share of voice, the sentiment base, the brand rows of the CSV) counts
raw mentions, copies included (原始提及). Next to the headline, "去重后" counts near-duplicates
once over the whole period (a post and its copies are one, `queries.distinct_mentions`); the CSV's
`duplicate_of` column names the original of each copy, so both numbers can be recounted from it.

Safety: every text from the platforms is escaped into the HTML (html.escape, quote=True), links are
kept only when they are absolute http(s) URLs, and the page carries a Content-Security-Policy that
allows no script and no network fetch (charts are base64 `data:` PNGs, styles inline). CSV cells
that a spreadsheet would run as a formula (= + - @ tab CR) get a leading apostrophe.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot import brand_terms, charts
from bot.notifiers.base import Attachment, Notice, safe_link_url
from bot.render import clean_text
from nlp.types import NEGATIVE, NEUTRAL, POSITIVE
from storage import queries, repos
from storage.models import AlertRow
from storage.queries import MentionItem

Period = Literal["day", "week"]
PERIOD_NAMES = {"day": "日报", "week": "周报"}
LABEL_NAMES = {POSITIVE: "正面", NEUTRAL: "中性", NEGATIVE: "负面", "unscored": "未评分"}
HEALTH_NAMES = {
    "ok": "正常",
    "new": "未运行",
    "network": "网络错误",
    "rate_limited": "被限流",
    "login_required": "需要登录",
    "blocked": "被拦截",
    "parse_error": "格式变化",
    "gone": "已失效",
    "error": "程序错误",
}
TOP_POSTS = 5
TOP_KOLS = 5
TOP_TERMS = 8
MAX_ALERTS = 20
# Files a digest may attach: Telegram documents are capped at 50 MB; a digest is far below.
ATTACH_LIMIT = 45 * 1024 * 1024


# --------------------------------------------------------------------------- the window


@dataclass(frozen=True)
class DigestWindow:
    period: Period
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    tz: str
    key: str  # one digest per workspace and key: the local date (day) or ISO week (week) of `end`
    # When the digest is made (>= end, < end + 5 min): stored KOL rankings up to this moment
    # describe the period, though `end` is floored to the counters' 5-minute buckets.
    made_at: datetime | None = None

    @property
    def step(self) -> queries.Step:
        return "hour" if self.period == "day" else "day"

    def label(self) -> str:
        zone = ZoneInfo(self.tz)
        fmt = "%Y-%m-%d %H:%M"
        return (
            f"{self.start.astimezone(zone).strftime(fmt)} ~ "
            f"{self.end.astimezone(zone).strftime(fmt)}（{self.tz}）"
        )


def digest_window(period: str, *, now: datetime, tz: str = "Asia/Shanghai") -> DigestWindow:
    """The period a digest run at `now` covers: the last 24 hours or 7 days up to `now` floored to
    5 minutes (counter buckets are 5 minutes, so lists and totals count the same mentions)."""

    if period not in ("day", "week"):
        raise ValueError(f"period must be 'day' or 'week', not {period!r}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(tz)
    epoch = int(now.astimezone(UTC).timestamp())
    end = datetime.fromtimestamp(epoch - epoch % 300, UTC)
    length = timedelta(days=1 if period == "day" else 7)
    local = end.astimezone(zone)
    if period == "day":
        key = local.strftime("%Y-%m-%d")
    else:
        year, week, _ = local.isocalendar()
        key = f"{year}-W{week:02d}"
    return DigestWindow(
        period=period,  # type: ignore[arg-type]
        start=end - length,
        end=end,
        tz=tz,
        key=key,
        made_at=now.astimezone(UTC),
    )


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class TermEvidence:
    term: queries.TermTrend
    posts: tuple[MentionItem, ...]


@dataclass(frozen=True)
class WatchDigest:
    watch: queries.WatchRef
    volume: queries.VolumeSummary
    distinct: int  # brand mentions with near-duplicates counted once over the period
    sentiment: queries.SentimentSummary
    sov: queries.ShareOfVoice
    top_posts: tuple[MentionItem, ...]
    kols: queries.KolBoard
    terms: tuple[TermEvidence, ...]
    alerts: tuple[queries.AlertItem, ...]
    sov_posts: dict[str, MentionItem] = field(default_factory=dict)  # SOV entry name -> its top post
    kol_posts: dict[int, MentionItem] = field(default_factory=dict)  # author pk -> top post of the period
    alert_posts: dict[int, MentionItem] = field(default_factory=dict)  # alert id -> its first post

    def kol_entries(self) -> list[queries.KolEntry]:
        """Every KOL the digest names (top, rising, new, turned negative)."""
        board = self.kols
        return [*board.top, *board.rising, *board.new, *(t.kol for t in board.turned_negative)]


@dataclass(frozen=True)
class DigestData:
    workspace: str
    workspace_id: int
    window: DigestWindow
    generated_at: datetime
    watches: tuple[WatchDigest, ...]
    health: tuple[repos.SourceHealthRow, ...]


def collect_digest(
    session: Session,
    *,
    workspace_id: int,
    window: DigestWindow,
    watch: str | None = None,
    generated_at: datetime | None = None,
) -> DigestData:
    """Read everything a digest shows; `watch` limits it to one watch (LookupError if unknown)."""

    watches = queries.watches_of(session, workspace_id=workspace_id)
    if watch is not None:
        watches = [w for w in watches if w.name == watch]
        if not watches:
            raise LookupError(f"no enabled watch named {watch!r} in this workspace")
    workspace = repos.workspace_ids(session)
    ws_name = next((name for name, pk in workspace.items() if pk == workspace_id), "")
    if not ws_name:
        raise LookupError(f"no workspace with id {workspace_id}")
    start, end = window.start, window.end
    out = []
    for w in watches:
        terms = brand_terms.trending_terms(session, watch=w, start=start, end=end, limit=TOP_TERMS)
        wd = WatchDigest(
                watch=w,
                volume=queries.volume_summary(
                    session, watch_id=w.id, start=start, end=end, step=window.step, tz=window.tz
                ),
                distinct=queries.distinct_mentions(session, watch_id=w.id, start=start, end=end),
                sentiment=queries.sentiment_summary(
                    session,
                    watch_id=w.id,
                    start=start,
                    end=end,
                    step=window.step,
                    tz=window.tz,
                    top_negative=3,
                ),
                sov=queries.share_of_voice(session, watch_id=w.id, start=start, end=end),
                top_posts=queries.top_posts(session, watch_id=w.id, start=start, end=end, limit=TOP_POSTS),
                # The ranking as of the period end against the one a period (day/week) earlier.
                kols=queries.kol_board(
                    session, watch_id=w.id, top=TOP_KOLS, now=window.made_at or end, period=end - start
                ),
                terms=tuple(
                    TermEvidence(
                        t,
                        queries.term_posts(
                            session, watch_id=w.id, start=start, end=end, term=t.term, limit=2
                        ),
                    )
                    for t in terms
                ),
                alerts=queries.alerts_between(
                    session,
                    workspace_id=workspace_id,
                    start=start,
                    end=end,
                    watch_id=w.id,
                    limit=MAX_ALERTS,
                ),
            )
        out.append(_with_evidence(session, wd, start=start, end=end))
    return DigestData(
        workspace=ws_name,
        workspace_id=workspace_id,
        window=window,
        generated_at=generated_at or datetime.now(UTC),
        watches=tuple(out),
        health=tuple(h for h in repos.source_health(session, workspace_id=workspace_id) if h.enabled),
    )


def _with_evidence(session: Session, wd: WatchDigest, *, start: datetime, end: datetime) -> WatchDigest:
    """The posts behind the share-of-voice entries, the KOLs and the alerts of one watch."""

    sov_posts = {}
    for entry in wd.sov.entries:
        competitor = queries.BRAND if entry.is_brand else entry.name
        found = queries.top_posts(
            session, watch_id=wd.watch.id, start=start, end=end, limit=3, competitor=competitor
        )
        best = linkable(found)
        if best is not None:
            sov_posts[entry.name] = best
    by_author = queries.author_top_posts(
        session,
        watch_id=wd.watch.id,
        author_pks=[k.author_pk for k in wd.kol_entries()],
        start=start,
        end=end,
    )
    kol_posts = {pk: best for pk, items in by_author.items() if (best := linkable(items)) is not None}
    by_post = queries.posts_by_pk(
        session, watch_id=wd.watch.id, post_pks=[a.post_ids[0] for a in wd.alerts if a.post_ids]
    )
    alert_posts = {a.id: by_post[a.post_ids[0]] for a in wd.alerts if a.post_ids and a.post_ids[0] in by_post}
    return replace(wd, sov_posts=sov_posts, kol_posts=kol_posts, alert_posts=alert_posts)


# --------------------------------------------------------------------------- formatting helpers


def linkable(items: Sequence[MentionItem]) -> MentionItem | None:
    """The first post that can be linked (an http(s) URL), else the first, else None."""

    return next((i for i in items if safe_link_url(i.url)), items[0] if items else None)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def raw_change(volume: queries.VolumeSummary) -> float | None:
    """Change of raw mentions against the previous period of equal length; None when it had none."""

    if not volume.previous_raw_total:
        return None
    return (volume.raw_total - volume.previous_raw_total) / volume.previous_raw_total


def change_text(value: float | None, previous: int) -> str:
    if value is None:
        return "上期为 0" if previous == 0 else "—"
    arrow = "↑" if value > 0 else ("↓" if value < 0 else "→")
    return f"{arrow}{abs(100 * value):.1f}%（上期 {previous:,}）"


def snippet(item: MentionItem, length: int = 60) -> str:
    text = " ".join(clean_text(item.title + " " + item.text).split())
    return text if len(text) <= length else text[: length - 1] + "…"


def local_time(moment: datetime, tz: str, fmt: str = "%m-%d %H:%M") -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime(fmt)


# --------------------------------------------------------------------------- charts


@dataclass(frozen=True)
class Chart:
    name: str  # file name, ASCII
    title: str
    png: bytes


def render_charts(data: DigestData) -> tuple[Chart, ...]:
    """Three PNGs per watch: volume over time, sentiment share over time, share of voice."""

    out = []
    tz = data.window.tz
    for index, wd in enumerate(data.watches, start=1):
        name = wd.watch.name
        volume = charts.volume_chart(
            [charts.Series(name, tuple((p.start, float(p.raw_volume)) for p in wd.volume.series))],
            title=f"{name} 提及量趋势",
            tz=tz,
            y_label="提及量（条，原始）",
        )
        senti = charts.sentiment_share_chart(
            [charts.SentimentBucket(p.start, p.positive, p.neutral, p.negative) for p in wd.sentiment.trend],
            title=f"{name} 情感占比",
            tz=tz,
        )
        sov = charts.share_of_voice_chart(
            [(e.name, float(e.mentions)) for e in wd.sov.entries],
            title=f"{name} 声量份额",
            x_label="提及量（条，原始）",
        )
        out += [
            Chart(f"w{index}-volume.png", f"{name} 提及量趋势", volume),
            Chart(f"w{index}-sentiment.png", f"{name} 情感占比", senti),
            Chart(f"w{index}-sov.png", f"{name} 声量份额", sov),
        ]
    return tuple(out)


# --------------------------------------------------------------------------- plain text (messages, webhooks)


def title_of(data: DigestData) -> str:
    return f"{data.workspace} 舆情{PERIOD_NAMES[data.window.period]} {data.window.key}"


class _Footnotes:
    """Footnote numbers for the posts behind the claims: one number per distinct post, in order of
    first use; posts without a safe http(s) link get none (there is nothing to point at)."""

    def __init__(self) -> None:
        self.links: list[tuple[str, str]] = []
        self.feedback: list[tuple[str, int]] = []
        self._numbers: dict[object, int] = {}

    def mark(self, item: MentionItem | None = None, url: str = "") -> str:
        """" [n]" for the post (its number from the first time it was marked), or ""."""

        target = safe_link_url(item.url if item is not None else url)
        if target is None:
            return ""
        key: object = item.post_pk if item is not None else target
        number = self._numbers.get(key)
        if number is None:
            number = self._numbers[key] = len(self._numbers) + 1
            label = f"[{number}] " + (snippet(item, 30) if item is not None else "帖子")
            self.links.append((label, target))
            if item is not None:
                self.feedback.append((f"[{number}]", item.post_pk))
        return f" [{number}]"


@dataclass(frozen=True)
class DigestText:
    lines: tuple[str, ...]
    links: tuple[tuple[str, str], ...]  # ("[n] snippet", url), in footnote order
    feedback: tuple[tuple[str, int], ...]  # ("[n]", post pk) of the footnoted posts


def _kol_name(k: queries.KolEntry) -> str:
    return k.name or k.author_id


def text_lines(data: DigestData) -> DigestText:
    """The digest as plain lines with the numbers; each claim ends with the footnote of a
    representative post, and the footnotes' links and feedback posts come with it."""

    notes = _Footnotes()
    lines = [f"时段: {data.window.label()}", "[n] 为代表帖子的编号，链接按编号列在最后。"]
    for wd in data.watches:
        v, s = wd.volume, wd.sentiment
        top, worst = linkable(wd.top_posts), linkable(s.top_negative)
        lines.append("")
        lines.append(f"【{wd.watch.name}】")
        lines.append(
            f"提及量 {v.raw_total:,} 条原始提及（环比 {change_text(raw_change(v), v.previous_raw_total)}）"
            f"；去重后 {wd.distinct:,} 条（近似重复只计一次）{notes.mark(top)}"
        )
        lines.append(
            f"情感（{s.total:,} 条原始提及，已评分 {s.scored:,}）: 正面 {pct(s.share(POSITIVE))}"
            f" / 中性 {pct(s.share(NEUTRAL))} / 负面 {pct(s.share(NEGATIVE))}"
            f"（上期负面 {pct(s.previous_negative_share)}）{notes.mark(worst)}"
        )
        if wd.sov.total:
            lines.append(
                "声量份额（原始提及）: "
                + "，".join(
                    f"{e.name} {pct(e.share)}（{e.mentions:,}）{notes.mark(wd.sov_posts.get(e.name))}"
                    for e in wd.sov.entries
                )
            )
        if wd.terms:
            lines.append(
                "热议词: "
                + "、".join(
                    f"{t.term.term}({t.term.count}){notes.mark(linkable(t.posts))}"
                    for t in wd.terms[:5]
                )
            )

        def kol(k: queries.KolEntry, figure: str, wd: WatchDigest = wd) -> str:
            return f"{_kol_name(k)}({figure}){notes.mark(wd.kol_posts.get(k.author_pk))}"

        if wd.kols.top:
            # Not "头部 KOL": 头部 is also the name of the largest follower tier, and the best-scored
            # authors are often KOCs with outsized engagement; the tier is shown beside the score.
            lines.append(
                "KOL 评分前三: " + "、".join(kol(k, f"{k.tier}·{k.score:.0f}") for k in wd.kols.top[:3])
            )
        if wd.kols.rising:
            lines.append(
                "上升 KOL: "
                + "、".join(kol(k, f"+{k.score - (k.previous_score or 0):.0f}") for k in wd.kols.rising[:3])
            )
        if wd.kols.new:
            lines.append("新上榜 KOL: " + "、".join(kol(k, f"{k.score:.0f}") for k in wd.kols.new[:3]))
        for turn in wd.kols.turned_negative[:3]:
            lines.append(
                f"转负 KOL: {kol(turn.kol, f'{turn.kol.score:.0f}')} "
                f"情感 {turn.earlier_sentiment:.2f}→{turn.recent_sentiment:.2f}"
            )
        if wd.alerts:
            shown = wd.alerts[:3]
            lines.append(
                f"预警 {len(wd.alerts)} 条"
                + ("（列出最近 3 条）" if len(wd.alerts) > len(shown) else "")
                + ": "
                + "；".join(
                    a.title + notes.mark(wd.alert_posts.get(a.id), next(filter(None, a.post_urls), ""))
                    for a in shown
                )
            )
        for i, item in enumerate(wd.top_posts[:3], start=1):
            lines.append(f"热帖{i}: {snippet(item, 40)}（互动 {item.engagement:,.0f}）{notes.mark(item)}")
        for i, item in enumerate(s.top_negative[:2], start=1):
            lines.append(f"负面{i}: {snippet(item, 40)}（互动 {item.engagement:,.0f}）{notes.mark(item)}")
    bad = [h for h in data.health if h.health not in ("ok", "new")]
    lines.append("")
    lines.append(
        f"数据源: {len(data.health)} 个，异常 {len(bad)} 个"
        + (
            "："
            + "、".join(f"{h.platform}/{h.target}({HEALTH_NAMES.get(h.health, h.health)})" for h in bad[:5])
            if bad
            else ""
        )
    )
    return DigestText(tuple(lines), tuple(notes.links), tuple(notes.feedback))


# --------------------------------------------------------------------------- CSV


CSV_FIELDS = (
    "watch",
    "competitor",
    "platform",
    "post_id",
    "url",
    "created_at",
    "author_id",
    "author_name",
    "author_followers",
    "likes",
    "reposts",
    "comments",
    "views",
    "sentiment",
    "label",
    "duplicate_of",  # platform:post_id of the original when the post is a near-duplicate
    "text",
)


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: no formula execution from a post's text."""

    text = "" if value is None else clean_text(str(value))
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def mention_csv_row(
    watch: str, m: queries.MentionItem, zone: ZoneInfo, duplicate_of: str = ""
) -> list[str]:
    """One mention as a CSV row of CSV_FIELDS (the digest's CSV and the bot's /export share it);
    `duplicate_of` from queries.duplicate_origins."""

    return [
        csv_cell(v)
        for v in (
            watch,
            m.competitor,
            m.platform,
            m.post_id,
            m.url,
            m.created_at.astimezone(zone).isoformat(),
            m.author_id,
            m.author_name,
            m.author_followers,
            m.likes,
            m.reposts,
            m.comments,
            m.views,
            "" if m.sentiment is None else f"{m.sentiment:.3f}",
            m.label,
            duplicate_of,
            (m.title + "\n" + m.text).strip(),
        )
    ]


def mentions_csv(session: Session, data: DigestData) -> bytes:
    """Every mention of the period (brand and competitors) of the digest's watches, UTF-8 with a BOM
    so Excel opens the Chinese text correctly."""

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    zone = ZoneInfo(data.window.tz)
    for wd in data.watches:
        start, end = data.window.start, data.window.end
        copies = queries.duplicate_origins(session, watch_id=wd.watch.id, start=start, end=end)
        for m in queries.iter_mentions(session, watch_id=wd.watch.id, start=start, end=end):
            writer.writerow(mention_csv_row(wd.watch.name, m, zone, copies.get(m.post_pk, "")))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --------------------------------------------------------------------------- HTML


def _e(value: object) -> str:
    return html.escape(clean_text(str(value)), quote=True)


def _link(label: object, url: str) -> str:
    safe = safe_link_url(url)
    if safe is None:
        return _e(label)
    return f'<a href="{_e(safe)}" rel="noopener noreferrer nofollow" target="_blank">{_e(label)}</a>'


def _post_row(item: MentionItem, tz: str) -> str:
    return (
        "<tr>"
        f"<td>{_e(local_time(item.created_at, tz))}</td>"
        f"<td>{_e(item.platform)}</td>"
        f"<td>{_link(item.author_name or item.author_id, item.author_url)}</td>"
        f"<td class=txt>{_link(snippet(item, 120), item.url)}</td>"
        f"<td class=num>{item.engagement:,.0f}</td>"
        f"<td>{_e(LABEL_NAMES.get(item.label, item.label))}</td>"
        "</tr>"
    )


def _post_link(item: MentionItem | None, empty: str = "—") -> str:
    """A representative post as a link with its opening words, or `empty`."""
    return empty if item is None else _link(snippet(item, 30), item.url)


def _posts_table(items: Sequence[MentionItem], tz: str) -> str:
    if not items:
        return "<p class=muted>本期没有帖子。</p>"
    head = (
        "<tr><th>时间</th><th>平台</th><th>作者</th><th>内容（点击看原帖）</th>"
        "<th>互动</th><th>情感</th></tr>"
    )
    return "<table>" + head + "".join(_post_row(i, tz) for i in items) + "</table>"


def _img(chart: Chart) -> str:
    data = base64.b64encode(chart.png).decode("ascii")
    return f'<figure><img alt="{_e(chart.title)}" src="data:image/png;base64,{data}"></figure>'


_CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:24px auto;
max-width:980px;color:#222;line-height:1.5;padding:0 12px}
h1{font-size:22px}h2{font-size:19px;border-bottom:2px solid #2f6fdf;padding-bottom:4px;margin-top:36px}
h3{font-size:16px;margin-top:22px}table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top}th{background:#f3f5f9;text-align:left}
td.num{text-align:right;white-space:nowrap}td.txt{word-break:break-all}.muted{color:#888}
.kpi{display:flex;gap:12px;flex-wrap:wrap}.kpi div{background:#f3f5f9;border-radius:6px;padding:8px 12px}
.kpi b{font-size:20px;display:block}figure{margin:8px 0}img{max-width:100%}
.bad{color:#c0392b}.good{color:#2ca25f}
"""


def render_html(data: DigestData, chart_list: Sequence[Chart]) -> str:
    """The analysts' report: one self-contained page (no external request of any kind)."""

    tz = data.window.tz
    by_name = {c.name: c for c in chart_list}
    parts = [
        "<!DOCTYPE html><html lang=zh-CN><head><meta charset=utf-8>",
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">",
        '<meta name=viewport content="width=device-width, initial-scale=1">',
        f"<title>{_e(title_of(data))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title_of(data))}</h1>",
        f"<p class=muted>时段 {_e(data.window.label())}；生成于 "
        f"{_e(local_time(data.generated_at, tz, '%Y-%m-%d %H:%M'))}</p>",
    ]
    if not data.watches:
        parts.append("<p>本工作区没有启用的监测项。</p>")
    for index, wd in enumerate(data.watches, start=1):
        parts.append(_watch_section(index, wd, data, by_name))
    parts.append(_health_section(data))
    parts.append("</body></html>")
    return "\n".join(parts)


def _watch_section(index: int, wd: WatchDigest, data: DigestData, by_name: dict[str, Chart]) -> str:
    tz = data.window.tz
    v, s = wd.volume, wd.sentiment
    anchor = f"w{index}"
    neg_cls = "bad" if (s.share(NEGATIVE) or 0) > (s.previous_negative_share or 0) + 0.05 else ""
    out = [
        f"<h2 id={anchor}>{_e(wd.watch.name)}</h2>",
        "<div class=kpi>",
        f"<div>提及量（原始）<b>{v.raw_total:,}</b>"
        f"<a href=#{anchor}-top>环比 {_e(change_text(raw_change(v), v.previous_raw_total))}</a>"
        f"<br>代表帖 {_post_link(linkable(wd.top_posts))}</div>",
        f"<div>去重后<b>{wd.distinct:,}</b>近似重复只计一次</div>",
        f"<div>互动量<b>{v.engagement:,.0f}</b></div>",
        f"<div>负面占比<b class={neg_cls}>{_e(pct(s.share(NEGATIVE)))}</b>"
        f"<a href=#{anchor}-neg>上期 {_e(pct(s.previous_negative_share))}</a>"
        f"<br>代表帖 {_post_link(linkable(s.top_negative))}</div>",
        f"<div>正面占比<b>{_e(pct(s.share(POSITIVE)))}</b></div>",
        f"<div>预警<b>{len(wd.alerts)}</b></div>",
        "</div>",
        "<p class=muted>本报告的提及数均为原始提及：品牌自身的全部提及（不含竞品，含近似重复与"
        f"被忽略的作者），提及量、趋势图、声量份额、情感基数（{s.total:,} 条，其中 {s.unscored:,} 条"
        "非中文或无法评分）与 CSV 中 competitor 为空的行数一致。去重后：内容近似重复的帖子（转发、"
        "搬运）在整个时段只计一次，即这些 CSV 行按 duplicate_of（为空时取本帖的 platform:post_id）"
        "去重后的个数。</p>",
    ]
    for suffix in ("volume", "sentiment"):
        chart = by_name.get(f"{anchor}-{suffix}.png")
        if chart:
            out.append(_img(chart))
    if data.window.step == "day":
        out.append(
            "<p class=muted>图中每点为一个自然日（"
            + _e(data.window.tz)
            + "）；时段不从零点开始时，首尾两点只含部分当日数据。</p>"
        )
    out.append(f"<h3 id={anchor}-top>热门帖子（按互动：赞 + 2×评论 + 3×转发）</h3>")
    out.append(_posts_table(wd.top_posts, tz))
    out.append(f"<h3 id={anchor}-neg>负面帖子 TOP</h3>")
    out.append(_posts_table(s.top_negative, tz))
    out.append("<h3>声量份额</h3>")
    chart = by_name.get(f"{anchor}-sov.png")
    if chart:
        out.append(_img(chart))
    rows = "".join(
        f"<tr><td>{_e(e.name)}{'（本品牌）' if e.is_brand else ''}</td><td class=num>{e.mentions:,}</td>"
        f"<td class=num>{_e(pct(e.share))}</td><td class=num>{_e(pct(e.negative_share))}</td>"
        f"<td class=num>{e.engagement:,.0f}</td>"
        f"<td class=txt>{_post_link(wd.sov_posts.get(e.name))}</td></tr>"
        for e in wd.sov.entries
    )
    out.append(
        "<table><tr><th>品牌</th><th>提及（原始）</th><th>份额</th><th>负面占比</th><th>互动</th>"
        "<th>本期互动最高的帖子</th></tr>" + rows + "</table>"
    )
    out.append("<h3>热议词（本期 vs 上期）</h3>")
    if wd.terms:
        rows = "".join(
            f"<tr><td>{_e(t.term.term)}{' <b>新</b>' if t.term.is_new else ''}</td>"
            f"<td class=num>{t.term.count:,}</td><td class=num>{t.term.previous:,}</td>"
            f"<td>{'；'.join(_link(snippet(p, 40), p.url) for p in t.posts) or '—'}</td></tr>"
            for t in wd.terms
        )
        out.append(
            "<table><tr><th>词</th><th>本期</th><th>上期</th><th>相关帖子</th></tr>" + rows + "</table>"
        )
    else:
        out.append("<p class=muted>本期没有足够的讨论词。</p>")
    out.append(_kol_section(wd, tz))
    out.append("<h3>本期预警</h3>")
    if wd.alerts:
        rows = "".join(
            f"<tr><td>{_e(local_time(a.created_at, tz))}</td><td>{_e(a.kind)}</td>"
            f"<td class=num>{a.level}</td><td>{_e(a.title)}</td><td>"
            + " ".join(_link(f"帖子{i}", u) for i, u in enumerate(a.post_urls[:5], 1))
            + "</td></tr>"
            for a in wd.alerts
        )
        out.append(
            "<table><tr><th>时间</th><th>类型</th><th>级别</th><th>标题</th><th>相关帖子</th></tr>"
            + rows
            + "</table>"
        )
    else:
        out.append("<p class=muted>本期没有预警。</p>")
    return "\n".join(out)


def _kol_section(wd: WatchDigest, tz: str) -> str:
    board = wd.kols
    out = ["<h3>KOL</h3>"]
    if board.computed_at is None:
        out.append("<p class=muted>尚未计算 KOL 排名。</p>")
        return "\n".join(out)

    def row(k: queries.KolEntry, extra: str) -> str:
        post = _post_link(wd.kol_posts.get(k.author_pk), "本期无相关帖")
        return (
            f"<tr><td>{_link(k.name or k.author_id, k.url)}</td><td>{_e(k.platform)}</td>"
            f"<td class=num>{'—' if k.followers is None else f'{k.followers:,}'}</td><td>{_e(k.tier)}</td>"
            f"<td class=num>{k.score:.1f}</td><td>{extra}</td><td class=txt>{post}</td></tr>"
        )

    head = (
        "<tr><th>作者（主页）</th><th>平台</th><th>粉丝</th><th>层级</th><th>得分</th><th>说明</th>"
        "<th>本期互动最高的帖子</th></tr>"
    )
    out.append("<p>得分最高</p><table>" + head)
    out += [row(k, _e("；".join(k.reasons[:2]))) for k in board.top]
    out.append("</table>")
    if board.previous_computed_at is None:
        out.append("<p class=muted>没有约一个时段前的 KOL 排名可比：本期不列上升与新上榜。</p>")
    else:
        out.append(f"<p class=muted>变化对比 {_e(local_time(board.previous_computed_at, tz))} 的排名。</p>")
    if board.rising:
        out.append("<p>上升最快</p><table>" + head)
        out += [row(k, _e(f"+{k.score - (k.previous_score or 0):.1f}")) for k in board.rising]
        out.append("</table>")
    if board.new:
        out.append("<p>新上榜（上期未上榜）</p><table>" + head)
        out += [row(k, "新上榜") for k in board.new]
        out.append("</table>")
    if board.turned_negative:
        out.append("<p class=bad>品牌情感转负（本期对比上期的品牌帖情感）</p><table>" + head)
        out += [
            row(
                t.kol,
                _e(
                    f"情感 {t.earlier_sentiment:.2f}（{t.earlier_posts} 条）"
                    f"→ {t.recent_sentiment:.2f}（{t.recent_posts} 条）"
                ),
            )
            for t in board.turned_negative
        ]
        out.append("</table>")
    return "\n".join(out)


def _health_section(data: DigestData) -> str:
    tz = data.window.tz
    out = ["<h2>数据源健康</h2>"]
    if not data.health:
        out.append("<p class=muted>没有启用的数据源。</p>")
        return "\n".join(out)
    rows = "".join(
        f"<tr><td>{_e(h.platform)}</td><td>{_e(h.kind)}</td><td class=txt>{_e(h.target)}</td>"
        f"<td class={'good' if h.health == 'ok' else 'bad'}>{_e(HEALTH_NAMES.get(h.health, h.health))}</td>"
        f"<td>{_e(local_time(h.last_ok_at, tz) if h.last_ok_at else '—')}</td>"
        f"<td class=txt>{_e(h.message[:200])}</td></tr>"
        for h in data.health
    )
    out.append(
        "<table><tr><th>平台</th><th>类型</th><th>目标</th><th>状态</th><th>最近成功</th><th>信息</th></tr>"
        + rows
        + "</table>"
    )
    return "\n".join(out)


# --------------------------------------------------------------------------- the whole digest


@dataclass(frozen=True)
class RenderedDigest:
    title: str
    lines: tuple[str, ...]
    links: tuple[tuple[str, str], ...]
    html: str
    csv: bytes
    charts: tuple[Chart, ...]
    feedback: tuple[tuple[str, int], ...] = ()  # ("[n]", post pk) of the posts the text links

    def files(self) -> dict[str, bytes]:
        """File name -> content of everything the digest writes (names are ASCII and fixed)."""

        out = {"digest.html": self.html.encode("utf-8"), "mentions.csv": self.csv}
        out.update({c.name: c.png for c in self.charts})
        return out


def render_digest(session: Session, data: DigestData) -> RenderedDigest:
    chart_list = render_charts(data)
    text = text_lines(data)
    return RenderedDigest(
        title=title_of(data),
        lines=text.lines,
        links=text.links,
        html=render_html(data, chart_list),
        csv=mentions_csv(session, data),
        charts=chart_list,
        feedback=text.feedback,
    )


def write_files(rendered: RenderedDigest, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in rendered.files().items():
        path = directory / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(content)
        tmp.replace(path)  # readers never see half a file
        paths.append(path)
    return paths


MIME = {".png": "image/png", ".html": "text/html", ".csv": "text/csv"}


def digest_notice(
    *,
    title: str,
    lines: Sequence[str],
    links: Sequence[tuple[str, str]],
    files: Sequence[Path],
    key: str,
    feedback: Sequence[tuple[str, int]] = (),
) -> Notice:
    """The outbox message of a stored digest: the numbers as text, the charts as photos, the HTML
    report and the CSV as documents. Files that vanished or grew beyond ATTACH_LIMIT raise."""

    attachments = []
    for path in files:
        mime = MIME.get(path.suffix.lower())
        if mime is None:
            raise ValueError(f"digest file {path.name!r} has an unknown type")
        size = path.stat().st_size
        if size > ATTACH_LIMIT:
            raise ValueError(f"digest file {path.name!r} is {size} bytes, over {ATTACH_LIMIT}")
        attachments.append(Attachment(path.name, mime, path.read_bytes()))
    return _notice(title, lines, links, attachments, key, feedback)


def rendered_notice(rendered: RenderedDigest) -> Notice:
    """A digest made on demand (the bot's /digest) as a Notice, its files attached from memory."""

    attachments = [Attachment(name, MIME[Path(name).suffix], data) for name, data in rendered.files().items()]
    return _notice(rendered.title, rendered.lines, rendered.links, attachments, "", rendered.feedback)


def _notice(
    title: str,
    lines: Sequence[str],
    links: Sequence[tuple[str, str]],
    attachments: list[Attachment],
    key: str,
    feedback: Sequence[tuple[str, int]],
) -> Notice:
    # Charts first (they go out as one photo album on Telegram), then the documents.
    attachments.sort(key=lambda a: (not a.is_image, a.name))
    return Notice(
        title=title,
        body_lines=tuple(lines),
        level="info",
        links=tuple(links),
        attachments=tuple(attachments),
        dedup_key=key,
        feedback=tuple(feedback),
    )


def notice_from_alert(alert: AlertRow) -> Notice:
    """The Notice of a stored AlertRow of kind "digest" (the outbox calls this for digests).

    The alert's `details["files"]` lists the written files; `details["links"]` the post links;
    `details["feedback"]` the (label, post pk) of the posts that get feedback buttons.
    """

    if alert.kind != "digest":
        raise ValueError(f"alert {alert.id} is a {alert.kind!r} alert, not a digest")
    details = alert.details or {}
    return digest_notice(
        title=alert.title,
        lines=alert.body.splitlines(),
        links=[(str(a), str(b)) for a, b in details.get("links", [])],
        files=[Path(p) for p in details.get("files", [])],
        key=alert.key,
        feedback=[(str(a), int(b)) for a, b in details.get("feedback", [])],
    )
