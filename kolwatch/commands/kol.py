"""`kolwatch kol rank` and `kolwatch kol explain`: the stored KOL ranking of a watch on the terminal.

`kol rank [--watch NAME] [--workspace NAME] [--platform P] [--top N] [--period 7d] [--json] [--compute]`
shows the latest stored ranking of each chosen watch (a table: score, tier, authenticity, the
components with their weights, first reasons), then over `--period` who rose, who is new and who
turned negative: the same definitions and the same query (`kol_queries.kol_changes`) as the
bot's /kol and the digests.
A watch without any stored ranking, or `--compute`, is ranked now and stored (said on stderr).
`kol explain AUTHOR [--watch NAME] ...` prints how one author's score is made (id, then exact
name, then part of a name).
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from kolwatch.context import open_database, settings_from
from kolwatch.errors import UserError
from kolwatch.settings import Settings, parse_duration, scoring_settings
from scoring import report
from scoring.types import KolScore
from storage import kol_queries, repos
from storage.db import Database

NAME_WIDTH = 18
REASONS_SHOWN = 2
RISING_SHOWN = 5


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= number <= 10_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 10000, got {number}")
    return number


def _period(value: str) -> timedelta:
    try:
        period = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not timedelta(hours=1) <= period <= timedelta(days=365):
        raise argparse.ArgumentTypeError(f"must be between 1h and 365d, got {value!r}")
    return period


def _watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watch", help="only this watch (name; default: every active watch)")
    parser.add_argument("--workspace", help="only watches of this workspace (name)")
    parser.add_argument("--platform", help="only authors of this platform, e.g. weibo")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("kol", help="KOL ranking: rank, explain")
    sub = parser.add_subparsers(dest="kol_command", metavar="SUBCOMMAND", parser_class=type(parser))
    sub.required = True

    rank = sub.add_parser("rank", help="the latest KOL ranking of each watch")
    _watch_options(rank)
    rank.add_argument("--top", type=_positive, default=20, help="authors per watch (default 20)")
    rank.add_argument(
        "--period",
        type=_period,
        default=report.DEFAULT_PERIOD,
        help="who rose, is new or turned negative over this period, e.g. 24h, 7d (default 7d)",
    )
    rank.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    rank.add_argument("--compute", action="store_true", help="rank now and store it before showing")
    rank.set_defaults(func=run_rank)

    explain = sub.add_parser("explain", help="how one author's score is made")
    explain.add_argument("author", help="author id or name (or part of a name)")
    _watch_options(explain)
    explain.add_argument("--json", action="store_true", help="JSON instead of text")
    explain.set_defaults(func=run_explain)


# --------------------------------------------------------------------------- shared steps


def _chosen_watches(db: Database, settings: Settings, args: argparse.Namespace) -> list[repos.WatchInfo]:
    with db.read() as session:
        watches = repos.active_watches(session)
    if not watches:
        raise UserError(
            "no active watches in the database: add [[workspaces.watches]] to settings.toml and "
            "start `kolwatch run` once (or add one in the bot with /watch add)"
        )
    if args.workspace is not None:
        watches = [w for w in watches if w.workspace == args.workspace]
        if not watches:
            raise UserError(f"--workspace: no workspace named {args.workspace!r} with active watches")
    if args.watch is not None:
        named = [w for w in watches if w.name == args.watch]
        if not named:
            known = ", ".join(sorted({w.name for w in watches})[:20])
            raise UserError(f"--watch: no active watch named {args.watch!r} (known: {known})")
        if len({w.workspace for w in named}) > 1:
            spaces = ", ".join(sorted(w.workspace for w in named))
            raise UserError(
                f"--watch: {args.watch!r} exists in several workspaces ({spaces}); add --workspace"
            )
        watches = named
    if args.platform is not None:
        from collectors import COLLECTORS

        if args.platform not in COLLECTORS:
            raise UserError(
                f"--platform: unknown platform {args.platform!r} (known: {', '.join(COLLECTORS)})"
            )
    return watches


def _ranking(
    db: Database, settings: Settings, watch: repos.WatchInfo, *, compute: bool, now: datetime, err: TextIO
) -> kol_queries.StoredRanking | None:
    """The latest stored ranking of the watch, computing one first if asked to or if none is
    stored yet; None when there was nobody to rank."""

    from kolwatch.kol_job import score_watch

    with db.read() as session:
        latest = kol_queries.computation_as_of(session, watch_id=watch.id)
        if latest is not None and not compute:
            return kol_queries.ranking_at(session, watch_id=watch.id, computed_at=latest)
    why = "--compute" if compute else "no stored KOL ranking yet"
    print(f"{watch.workspace}/{watch.name}: {why}: ranking now", file=err)
    result = score_watch(db, watch.id, scoring_settings(settings), now=now)
    print(f"{watch.workspace}/{watch.name}: stored {result.rows} scores", file=err)
    with db.read() as session:
        latest = kol_queries.computation_as_of(session, watch_id=watch.id)
        if latest is None:
            return None
        return kol_queries.ranking_at(session, watch_id=watch.id, computed_at=latest)


@dataclass(frozen=True)
class _Changes:
    """What changed over the period, as `KolScore`s (rules and query shared with the bot)."""

    period: timedelta
    baseline_at: datetime | None  # the ranking compared with (None: none about a period before)
    rising: list[report.KolChange]
    new: list[report.KolChange]
    negative: list[tuple[KolScore, kol_queries.SentimentShift]]


def _by_pk(ranking: kol_queries.StoredRanking) -> dict[int, KolScore]:
    return {ranking.author_pks[s.key]: s for s in ranking.scores if s.key in ranking.author_pks}


def _changes(
    db: Database,
    watch: repos.WatchInfo,
    current: kol_queries.StoredRanking,
    platform: str | None,
    period: timedelta,
) -> _Changes:
    with db.read() as session:
        found = kol_queries.kol_changes(
            session, watch_id=watch.id, end=current.computed_at, period=period, platform=platform
        )
    # `found.previous` has the baseline's scores: its full ranking (every row's components and
    # reasons) is not read for them.
    now_by_pk = _by_pk(current)
    rising = [report.KolChange(now_by_pk[pk], found.previous[pk]) for pk, _ in found.rising[:RISING_SHOWN]]
    new = [report.KolChange(now_by_pk[pk], None) for pk in found.new[:RISING_SHOWN]]
    negative = [(now_by_pk[t.author_pk], t) for t in found.turned_negative]
    return _Changes(period, found.baseline_at, rising, new, negative)


# --------------------------------------------------------------------------- text layout


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    """Cut to `width` terminal columns (CJK is two wide) and pad; control characters dropped."""

    clean = "".join(ch if ch.isprintable() else " " for ch in text)
    out, used = "", 0
    for ch in clean:
        w = _width(ch)
        if used + w > width - (1 if _width(clean) > width else 0):
            out += "…"
            used += 1
            break
        out += ch
        used += w
    return out + " " * max(width - used, 0)


def _followers(n: int | None) -> str:
    if n is None:
        return "?"
    if n >= 10_000:
        return f"{n / 10_000:.1f}万"
    return str(n)


def _top_components(score: KolScore, n: int = 2) -> str:
    contrib = sorted(
        ((score.weights.get(c, 0.0) * p, c, p) for c, p in score.components.items() if c in score.weights),
        reverse=True,
    )
    return ", ".join(f"{c} {p * 100:.0f}" for _, c, p in contrib[:n]) or "-"


def _weighted_components(score: KolScore) -> str:
    """Every weighed component as percentile×weight, heaviest weight first; a missing one is
    marked (scored at the pool median, or left out by kolwatch-kol/1 rankings)."""

    renormalised = score.method_version == "kolwatch-kol/1"
    parts = []
    for comp, weight in sorted(score.weights.items(), key=lambda kv: (-kv[1], kv[0])):
        if weight <= 0:
            continue
        pct = score.components.get(comp)
        missing = "missing" if renormalised else "50(missing)"
        shown = missing if pct is None else f"{pct * 100:.0f}"
        parts.append(f"{comp} {shown}×{weight:.2f}")
    return "  ".join(parts)


def _one_line(text: str) -> str:
    return " ".join(_printable(text).split())


def _printable(text: str) -> str:
    """Names and texts come from platforms: escape sequences must not reach the terminal."""

    return "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)


def render_table(watch: repos.WatchInfo, current: kol_queries.StoredRanking, shown: list[KolScore]) -> str:
    lines = [
        f"{watch.workspace}/{watch.name} · KOL ranking computed {current.computed_at:%Y-%m-%d %H:%M} UTC · "
        f"{len(current.scores)} authors · window {current.window_days}d"
    ]
    if not shown:
        lines.append("  (no scored authors" + (" on this platform)" if current.scores else ")"))
        return "\n".join(lines)
    head = (
        f"{'#':>3}  {_fit('author', NAME_WIDTH)}  {_fit('platform', 9)}{'followers':>10}  "
        f"{_fit('tier', 6)}{'score':>6}{'auth':>6}  top components"
    )
    lines.append(head)
    rank_of = {s.key: i for i, s in enumerate(current.scores, 1)}
    for s in shown:
        who = _fit(s.name or s.author_id, NAME_WIDTH)
        lines.append(
            f"{rank_of[s.key]:>3}  {who}  {_fit(s.platform, 9)}{_followers(s.followers):>10}  "
            f"{_fit(s.tier, 6)}{s.score:>6.1f}{s.authenticity:>6.2f}  {_top_components(s)}"
        )
        lines.append(f"{'':>5}id {_one_line(s.author_id)}")
        lines.append(f"{'':>5}percentile×weight: {_weighted_components(s)}")
        for reason in s.reasons[:REASONS_SHOWN]:
            lines.append(f"{'':>5}- {_one_line(reason)}")
        if len(s.reasons) > REASONS_SHOWN:
            lines.append(
                f"{'':>5}  (+{len(s.reasons) - REASONS_SHOWN} more: kolwatch kol explain {s.author_id})"
            )
    return "\n".join(lines)


def _change_json(change: report.KolChange) -> dict[str, Any]:
    s = change.current
    return {
        "platform": s.platform,
        "author_id": s.author_id,
        "name": s.name,
        "score": s.score,
        "previous_score": change.previous_score,
        "score_delta": change.score_delta,
    }


def _turn_json(score: KolScore, shift: kol_queries.SentimentShift) -> dict[str, Any]:
    return {
        "platform": score.platform,
        "author_id": score.author_id,
        "name": score.name,
        "score": score.score,
        "sentiment": shift.recent.mean,
        "posts": shift.recent.posts,
        "previous_sentiment": shift.earlier.mean,
        "previous_posts": shift.earlier.posts,
    }


def _period_text(period: timedelta) -> str:
    hours = period.total_seconds() / 3600
    return f"{hours / 24:g}d" if hours % 24 == 0 else f"{hours:g}h"


def render_changes(changes: _Changes) -> str:
    span = _period_text(changes.period)
    if changes.baseline_at is None:
        lines = [f"  over {span}: no stored ranking from about {span} before to compare with (no rising/new)"]
    else:
        lines = [f"  over {span} (vs the ranking of {changes.baseline_at:%Y-%m-%d %H:%M} UTC):"]
        for c in changes.rising:
            before = "?" if c.previous_score is None else f"{c.previous_score:.1f}"
            who = _one_line(c.current.name or c.current.author_id)
            lines.append(f"    ↑ {who}: {before} → {c.current.score:.1f}")
        for c in changes.new:
            who = _one_line(c.current.name or c.current.author_id)
            lines.append(f"    + new {who}: {c.current.score:.1f}")
        if not (changes.rising or changes.new or changes.negative):
            lines.append("    no notable changes")
    if changes.negative:
        lines.append(f"  turned negative about the brand (brand posts, last {span} vs the {span} before):")
        for score, shift in changes.negative:
            lines.append(
                f"    ↓ {_one_line(score.name or score.author_id)}: sentiment {shift.earlier.mean:.2f} "
                f"({shift.earlier.posts} posts) → {shift.recent.mean:.2f} ({shift.recent.posts} posts)"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- commands


def run_rank(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    db = open_database(settings)
    try:
        watches = _chosen_watches(db, settings, args)
        now = datetime.now(UTC)
        documents: list[dict[str, Any]] = []
        for watch in watches:
            current = _ranking(db, settings, watch, compute=args.compute, now=now, err=sys.stderr)
            if current is None:
                # The watch had nobody to rank: score_watch stored no rows.
                if args.json:
                    documents.append(_watch_json(watch, None, [], None))
                else:
                    print(f"{watch.workspace}/{watch.name}: no authors with brand mentions in the window\n")
                continue
            shown = report.top_kols(current.scores, args.top, platform=args.platform)
            changes = _changes(db, watch, current, args.platform, args.period)
            if args.json:
                documents.append(_watch_json(watch, current, shown, changes))
                continue
            print(render_table(watch, current, shown))
            print(render_changes(changes))
            print()
        if args.json:
            json.dump({"watches": documents}, sys.stdout, ensure_ascii=False, indent=2)
            sys.stdout.write("\n")
    finally:
        db.dispose()
    return 0


def _watch_json(
    watch: repos.WatchInfo,
    current: kol_queries.StoredRanking | None,
    shown: list[KolScore],
    changes: _Changes | None,
) -> dict[str, Any]:
    rank_of = {s.key: i for i, s in enumerate(current.scores, 1)} if current else {}
    baseline_at = None if changes is None else changes.baseline_at
    return {
        "workspace": watch.workspace,
        "watch": watch.name,
        "computed_at": None if current is None else current.computed_at.isoformat(),
        "period_hours": None if changes is None else changes.period.total_seconds() / 3600,
        "previous_computed_at": None if baseline_at is None else baseline_at.isoformat(),
        "window_days": None if current is None else current.window_days,
        "ranked": 0 if current is None else len(current.scores),
        "authors": [{"rank": rank_of[s.key], **report.to_json_dict(s)} for s in shown],
        "rising": [] if changes is None else [_change_json(c) for c in changes.rising],
        "new": [] if changes is None else [_change_json(c) for c in changes.new],
        "turned_negative": [] if changes is None else [_turn_json(s, t) for s, t in changes.negative],
    }


def find_author(scores: tuple[KolScore, ...], query: str, platform: str | None) -> list[KolScore]:
    """Scores matching `query`: exact author id, else exact name (case-folded), else part of a
    name; every match of the first rule that finds any."""

    wanted = query.strip().lstrip("@")
    if not wanted:
        return []
    pool = [s for s in scores if platform is None or s.platform == platform]
    folded = wanted.casefold()
    for test in (
        lambda s: s.author_id == wanted,
        lambda s: s.name.casefold() == folded,
        lambda s: bool(s.name) and folded in s.name.casefold(),
    ):
        hits = [s for s in pool if test(s)]
        if hits:
            return hits
    return []


def run_explain(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not args.author.strip().lstrip("@") or len(args.author) > 200:
        raise UserError("author: give an author id or name (at most 200 characters)")
    db = open_database(settings)
    try:
        watches = _chosen_watches(db, settings, args)
        found: list[tuple[repos.WatchInfo, kol_queries.StoredRanking, KolScore, KolScore | None]] = []
        unranked: list[str] = []
        for watch in watches:
            with db.read() as session:
                stored = kol_queries.latest_rankings(session, watch_id=watch.id, count=2)
            if not stored:
                unranked.append(f"{watch.workspace}/{watch.name}")
                continue
            before = {s.key: s for s in stored[1].scores} if len(stored) > 1 else {}
            for s in find_author(stored[0].scores, args.author, args.platform):
                found.append((watch, stored[0], s, before.get(s.key)))
        if not found:
            where = ", ".join(f"{w.workspace}/{w.name}" for w in watches)
            extra = f"; never ranked: {', '.join(unranked)} (kolwatch kol rank --compute)" if unranked else ""
            raise UserError(f"no ranked author matches {args.author[:60]!r} in {where}{extra}")
        if len({(s.platform, s.author_id) for _, _, s, _ in found}) > 5:
            names = ", ".join(sorted({f"{s.name} ({s.platform}:{s.author_id})" for _, _, s, _ in found})[:8])
            raise UserError(f"{args.author[:60]!r} matches many authors ({names} ...): give the author id")
        if args.json:
            json.dump(
                [
                    {
                        "workspace": w.workspace,
                        "watch": w.name,
                        "computed_at": ranking.computed_at.isoformat(),
                        "rank": ranking.scores.index(s) + 1,
                        "ranked": len(ranking.scores),
                        "previous_score": None if old is None else old.score,
                        **report.to_json_dict(s),
                    }
                    for w, ranking, s, old in found
                ],
                sys.stdout,
                ensure_ascii=False,
                indent=2,
            )
            sys.stdout.write("\n")
            return 0
        for w, ranking, s, old in found:
            change = "new since the computation before" if old is None else f"previous {old.score:.1f}"
            print(
                f"== {w.workspace}/{w.name} · rank {ranking.scores.index(s) + 1}/{len(ranking.scores)} · "
                f"computed {ranking.computed_at:%Y-%m-%d %H:%M} UTC · {change}"
            )
            print(_printable(report.explain(s)))
            print()
    finally:
        db.dispose()
    return 0
