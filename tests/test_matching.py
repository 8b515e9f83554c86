"""kolwatch.matching: competitor names are literal phrases, and one bad watch never stops the others."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import Author, Post
from kolwatch.errors import SettingsError
from kolwatch.matching import CompiledWatches, competitor_query
from kolwatch.settings import load_settings
from nlp.query import QuerySyntaxError, Term
from nlp.types import Analysis
from storage.db import Database
from storage.repos import WatchInfo


def watch(wid: int, query: str, *competitors: str) -> WatchInfo:
    return WatchInfo(wid, 1, "acme", f"w{wid}", query, tuple(competitors), {})


def hits(compiled: CompiledWatches, text: str) -> set[tuple[int, str]]:
    post = Post(
        platform="weibo",
        post_id="1",
        url="",
        author=Author(platform="weibo", author_id="a", name="n"),
        text=text,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    analysis = Analysis(
        text=text,
        lang="zh",
        tokens=(),
        keywords=(),
        hashtags=(),
        emoticons=(),
        mentions=(),
        urls=(),
        sentiment=0.5,
        label="neutral",
    )
    return {(h.watch_id, h.competitor) for h in compiled.match(post, analysis)}


@pytest.mark.parametrize(
    ("name", "term"),
    [
        ("“喜茶”", "喜茶"),  # a name written as a quoted phrase means the phrase
        ('"喜茶"', "喜茶"),
        ("「喜茶」", "喜茶"),
        ("喜茶”", "喜茶”"),  # a lone closing quote is text
        ("a\\", "a\\"),
        ('say "hi" now', 'say "hi" now'),
        ("Tea  OR   Coffee", "Tea OR Coffee"),  # operators in a name are words, spaces collapse
        ("platform:weibo", "platform:weibo"),
    ],
)
def test_competitor_names_are_literal_phrases(name: str, term: str) -> None:
    assert competitor_query(name) == Term(term)


@pytest.mark.parametrize("name", ["", "  ", '""', "“”", "\u200b", "喜\x00茶", "茶" * 101])
def test_unusable_competitor_names_raise(name: str) -> None:
    with pytest.raises(QuerySyntaxError):
        competitor_query(name)


def test_competitors_with_quotes_and_backslashes_match_and_do_not_break_other_watches() -> None:
    compiled = CompiledWatches(
        [
            watch(1, "瑞幸 OR luckin", "“喜茶”", "a\\", '奈雪"的茶'),
            watch(2, "库迪"),
            watch(3, "(unclosed"),  # stored before validation existed
            watch(4, "NOT 招聘"),
            watch(5, "星巴克", "\u200b\u200b", "蜜雪"),
        ]
    )
    assert set(compiled.problems) == {3, 4, 5}
    assert "watch skipped" in compiled.problems[3][0]
    assert "missing closing parenthesis" in compiled.problems[3][0]
    assert "competitor '\\u200b\\u200b' unusable" in compiled.problems[5][0]
    assert hits(compiled, "今天喝了喜茶，没喝瑞幸") == {(1, ""), (1, "“喜茶”")}
    assert hits(compiled, "买了 a\\ 和库迪") == {(1, "a\\"), (2, "")}
    assert hits(compiled, '奈雪"的茶 也不错') == {(1, '奈雪"的茶')}
    assert hits(compiled, "星巴克和蜜雪") == {(5, ""), (5, "蜜雪")}
    assert hits(compiled, "(unclosed") == set()


def _settings(tmp_path: Path, competitors: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[[workspaces]]\nname = "acme"\n[[workspaces.watches]]\nname = "瑞幸"\nquery = "瑞幸"\n'
        f"competitors = {competitors}\n",
        encoding="utf-8",
    )
    return path


def test_settings_accept_quoted_competitor_names(tmp_path: Path) -> None:
    settings = load_settings(_settings(tmp_path, "[\"“喜茶”\", 'a\\']"), environ={})
    assert settings.workspaces[0].watches[0].competitors == ("“喜茶”", "a\\")


@pytest.mark.parametrize(
    ("competitors", "message"),
    [
        ('["喜茶", ""]', r"workspaces\[0\]\.watches\[0\]\.competitors\[1\] \(瑞幸\): empty name: ''"),
        ('["\u200b"]', r"competitors\[0\] \(瑞幸\): term has no visible characters"),
        ('["喜茶", "“喜茶”"]', r"competitors\[1\] \(瑞幸\): '“喜茶”' is the same name as '喜茶'"),
        ('["ＨＥＹ", "hey"]', r"competitors\[1\] \(瑞幸\): 'hey' is the same name as 'ＨＥＹ'"),
    ],
)
def test_settings_reject_unusable_competitor_names(tmp_path: Path, competitors: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(_settings(tmp_path, competitors), environ={})


def test_settings_reject_an_unknown_platform_in_a_query(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[[workspaces]]\nname = "acme"\n[[workspaces.watches]]\nname = "瑞幸"\n'
        'query = "瑞幸 platform:weibp"\n',
        encoding="utf-8",
    )
    with pytest.raises(SettingsError, match=r"query \(瑞幸\): unknown platform 'weibp' \(known: .*weibo.*\)"):
        load_settings(path, environ={})
    # RSSHub platforms and an RSS source's own platform option are known too.
    path.write_text(
        '[[workspaces]]\nname = "acme"\n[[workspaces.watches]]\nname = "瑞幸"\n'
        'query = "瑞幸 (platform:xiaohongshu OR platform:mysite)"\n'
        '[[sources]]\nworkspace = "acme"\nplatform = "rss"\nkind = "feed"\n'
        'target = "https://example.com/feed"\noptions = { platform = "mysite" }\n',
        encoding="utf-8",
    )
    assert load_settings(path, environ={}).workspaces[0].watches[0].query.endswith("mysite)")


def test_bot_repo_refuses_a_competitor_that_cannot_be_a_phrase(sqlite_db: Database) -> None:
    from storage import bot_repo, repos

    with sqlite_db.write() as s:
        repos.sync_config(s, workspaces=[repos.WorkspaceSpec("acme")], sources=[])
        ws = repos.workspace_ids(s)["acme"]
        with pytest.raises(QuerySyntaxError, match="empty name"):
            bot_repo.add_watch(s, workspace_id=ws, name="瑞幸", query="瑞幸", competitors=("“”",))
        w = bot_repo.add_watch(s, workspace_id=ws, name="瑞幸", query="瑞幸", competitors=("“喜茶”",))
    assert w.competitors == ("“喜茶”",)
