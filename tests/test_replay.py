"""`kolwatch replay`: input validation, the JSONL output shape, simulated time, no deliveries."""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from kolwatch.commands import replay as replay_command
from kolwatch.errors import UserError
from kolwatch.replay import ReplayInputError, parse_record, read_records, replay, replay_settings
from kolwatch.settings import Settings, WatchSettings, WorkspaceSettings
from nlp.types import Analysis
from storage.db import Database
from storage.models import AlertRow, DeliveryRow, PostRow

T0 = datetime(2026, 3, 2, tzinfo=UTC)
QUIET_HOURS = 72


def fake_analyzer(texts: Sequence[str]) -> list[Analysis]:
    """Words split on spaces; everything neutral (so a negative shift can only come from the file)."""

    return [
        Analysis(
            text=t,
            lang="zh",
            tokens=tuple(t.split()),
            keywords=tuple(t.split()[1:]),
            hashtags=(),
            emoticons=(),
            mentions=(),
            urls=(),
            sentiment=0.5,
            label="neutral",
        )
        for t in texts
    ]


def record(pid: str, when: datetime, text: str = "鹿角咖啡 拿铁", **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "platform": "weibo",
        "post_id": pid,
        "url": f"https://m.weibo.cn/status/{pid}",
        "author_id": f"u{pid}",
        "author_name": f"顾客{pid}",
        "author_followers": 300,
        "text": text,
        "created_at": when.isoformat(),
        "likes": 1,
        "reposts": 0,
        "comments": 0,
        "sentiment": None,
        "label": None,
        "watches": [],
    }
    base.update(extra)
    return base


def stream(seed: int = 1, quiet_hours: int = QUIET_HOURS) -> list[dict[str, object]]:
    """Three quiet days (1-4 posts an hour) then 240 negative posts over two hours, shuffled."""

    rng = random.Random(seed)
    out = []
    for h in range(quiet_hours):
        for i in range(rng.randint(1, 4)):
            out.append(record(f"q{h}-{i}", T0 + timedelta(hours=h + rng.random())))
    for i in range(240):
        when = T0 + timedelta(hours=quiet_hours + 2 * i / 240)
        out.append(record(f"b{i}", when, "鹿角咖啡 断货 退款", sentiment=0.05, label="negative", likes=i))
    # Unrelated posts are stored but match nothing.
    out.append(record("other", T0 + timedelta(hours=3), "今天天气不错"))
    rng.shuffle(out)
    return out


def settings() -> Settings:
    return replay_settings(
        Settings(
            workspaces=(
                WorkspaceSettings(name="acme", watches=(WatchSettings(name="鹿角", query="鹿角咖啡"),)),
            )
        )
    )


def lines(records: list[dict[str, object]]) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in records]


# --- input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 7: not valid JSON"),
        ("[1, 2]", "line 7: expected a JSON object, got list"),
        (
            json.dumps({"post_id": "1", "created_at": "2026-03-02T00:00:00Z", "text": ""}),
            "line 7: missing 'platform'",
        ),
        (json.dumps(record("1", T0) | {"created_at": "yesterday"}), "not an ISO 8601 time"),
        (json.dumps(record("1", T0) | {"created_at": "2026-03-02T08:00:00"}), "has no timezone"),
        (json.dumps(record("1", T0) | {"sentiment": 1.7}), "'sentiment' must be a number within 0..1"),
        (json.dumps(record("1", T0) | {"sentiment": "NaN"}), "'sentiment' must be a number"),
        (json.dumps(record("1", T0) | {"label": "angry"}), "'label' must be one of"),
        (json.dumps(record("1", T0) | {"likes": -3}), "'likes' must be a non-negative integer"),
        (json.dumps(record("1", T0) | {"likes": "10万+"}), "'likes' must be a non-negative integer"),
        (json.dumps(record("1", T0) | {"post_id": "  "}), "'post_id' is empty"),
        (json.dumps(record("1", T0) | {"text": {"a": 1}}), "'text' must be a string"),
        (json.dumps(record("1", T0) | {"text": "鹿" * 100_001}), "'text' is longer than"),
        (json.dumps(record("1", T0) | {"watches": "鹿角"}), "'watches' must be a list of strings"),
    ],
)
def test_bad_lines_name_the_line(line: str, message: str) -> None:
    good = json.dumps(record("ok", T0))
    with pytest.raises(ReplayInputError, match="line 7: ") as info:
        read_records([good, "", good, "  ", good, good, line, good])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_records_are_ordered_by_time_and_keep_stored_labels() -> None:
    records = read_records(
        [
            json.dumps(record("late", T0 + timedelta(hours=1), label="negative", sentiment=0.1)),
            json.dumps(record("early", T0.astimezone().replace(microsecond=0) + timedelta(minutes=1))),
            json.dumps(
                record("z", T0) | {"created_at": "2026-03-02T07:59:00+08:00", "author_followers": None}
            ),
        ]
    )
    assert [r.post.post_id for r in records] == ["z", "early", "late"]
    assert all(r.post.created_at.tzinfo == UTC for r in records)
    assert records[0].post.author.followers is None
    assert (records[2].label, records[2].sentiment) == ("negative", 0.1)
    assert (
        parse_record(json.dumps(record("n", T0) | {"author_id": None}), 1).post.author.author_id
        == "unknown:n"
    )


# --- the replay ------------------------------------------------------------------------------


def test_replay_prints_alerts_in_simulated_time_and_delivers_nothing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'replay.db'}")
    db.create_all()
    seen = []
    summary = replay(
        read_records(lines(stream())),
        settings=settings(),
        analyzer=fake_analyzer,
        db=db,
        on_alert=seen.append,
    )
    assert summary.posts == summary.stored == len(stream())
    assert summary.mentions == summary.posts - 1
    assert seen == summary.alerts and seen
    out = [json.loads(json.dumps(a.to_json(), ensure_ascii=False)) for a in seen]
    for alert in out:
        assert set(alert) >= {"created_at", "watch", "kind", "level", "key", "title", "post_ids"}
        assert alert["watch"] == "鹿角" and isinstance(alert["level"], int) and 1 <= alert["level"] <= 4
        roman = {1: "蓝色预警 IV", 2: "黄色预警 III", 3: "橙色预警 II", 4: "红色预警 I"}
        assert alert["level_name"] == roman[alert["level"]] and alert["level_name"] in alert["title"]
        created = datetime.fromisoformat(alert["created_at"])
        # Simulated time: within the burst's two hours (plus the closing bucket), not the wall clock.
        assert T0 + timedelta(hours=QUIET_HOURS) < created <= T0 + timedelta(hours=QUIET_HOURS + 3)
        assert all(pid.startswith("b") for pid in alert["post_ids"])
    assert {"volume_spike", "emerging_term"} <= {a["kind"] for a in out}
    assert len({a["incident"] for a in out if a["kind"] == "volume_spike"}) == 1
    with db.read() as s:
        assert s.exec(select(DeliveryRow)).all() == []
        assert len(s.exec(select(AlertRow)).all()) == len(out)
        labels = {p.post_id: p.label for p in s.exec(select(PostRow))}
    assert labels["b3"] == "negative" and labels["q0-0"] == "neutral"  # the file's label wins
    db.dispose()


def test_output_does_not_depend_on_input_order_or_job_cadence() -> None:
    # The burst begins at 13:00, so a daily job run meets its 5-minute buckets in the same pass as
    # the quiet hours before them: the fast path must still judge each against the hourly model of
    # the hours before it (its stored numbers, not only the printed lines, are compared).
    rows = lines(stream(2, quiet_hours=QUIET_HOURS + 13))
    shuffled = list(rows)
    random.Random(9).shuffle(shuffled)
    runs = []
    for every, posts in ((3600, rows), (86400, shuffled)):
        db = Database("sqlite://")
        db.create_all()
        summary = replay(
            read_records(posts), settings=settings(), analyzer=fake_analyzer, job_every_s=every, db=db
        )
        with db.read() as s:
            details = [a.details for a in s.exec(select(AlertRow).order_by(AlertRow.id))]
        db.dispose()
        runs.append((summary, details))
    (a, a_details), (b, b_details) = runs
    assert a.alerts and [x.to_json() for x in a.alerts] == [x.to_json() for x in b.alerts]
    assert a_details == b_details
    assert a.job_runs > b.job_runs


def test_quiet_stream_raises_nothing() -> None:
    quiet = [r for r in stream(3) if not str(r["post_id"]).startswith("b")]
    assert replay(read_records(lines(quiet)), settings=settings(), analyzer=fake_analyzer).alerts == []


def test_reposted_duplicates_in_the_file_are_stored_once() -> None:
    rows = lines(stream(4))
    summary = replay(read_records(rows + rows[:50]), settings=settings(), analyzer=fake_analyzer)
    assert summary.stored == len(rows)


def test_replay_settings_choose_watches() -> None:
    base = Settings(
        workspaces=(
            WorkspaceSettings(
                name="acme",
                watches=(WatchSettings(name="鹿角", query="鹿角"), WatchSettings(name="熊猫", query="熊猫")),
            ),
        )
    )
    only = replay_settings(base, watch="熊猫")
    assert [w.name for ws in only.workspaces for w in ws.watches] == ["熊猫"]
    assert only.alerts["rules"]["settle_minutes"] == 0 and only.alerts["rules"]["max_age_hours"] > 24 * 365
    adhoc = replay_settings(base, watch="试", query="鹿角 OR 熊猫")
    assert [(w.name, w.query) for ws in adhoc.workspaces for w in ws.watches] == [("试", "鹿角 OR 熊猫")]
    with pytest.raises(UserError, match="no watch named '狐狸'"):
        replay_settings(base, watch="狐狸")
    with pytest.raises(UserError, match="--query needs --watch"):
        replay_settings(base, query="鹿角")
    with pytest.raises(UserError, match="no watches to replay"):
        replay_settings(Settings())


def test_command_reports_bad_input_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text(
        json.dumps(record("1", T0)) + "\n" + '{"platform": "weibo", "post_id": 2}\n', encoding="utf-8"
    )
    cfg = tmp_path / "settings.toml"
    cfg.write_text(
        '[[workspaces]]\nname = "acme"\n[[workspaces.watches]]\nname = "鹿角"\nquery = "鹿角咖啡"\n',
        encoding="utf-8",
    )
    args = argparse.Namespace(settings=str(cfg), posts=str(posts), watch=None, query=None, db=None)
    with pytest.raises(UserError, match=r"^line 2: missing 'created_at'$"):
        replay_command.run(args)
    args.posts = str(tmp_path / "missing.jsonl")
    with pytest.raises(UserError, match="no such file"):
        replay_command.run(args)
    posts.write_bytes(b"\xff\xfe{}\n")
    args.posts = str(posts)
    with pytest.raises(UserError, match="not UTF-8"):
        replay_command.run(args)


def test_command_prints_jsonl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text("\n".join(lines(stream(5))) + "\n", encoding="utf-8")
    monkeypatch.setattr("kolwatch.pipeline.default_analyzer", lambda _settings: fake_analyzer)
    # Built-in defaults plus the ad-hoc watch.
    args = argparse.Namespace(settings="/dev/null", posts=str(posts), watch="鹿角", query="鹿角咖啡", db=None)
    monkeypatch.chdir(tmp_path)
    assert replay_command.run(args) == 0
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert out and all(a["watch"] == "鹿角" for a in out)
    assert "alerts" in captured.err and captured.err.count("\n") == 1  # no progress when not a terminal


# --- --db: never damage a database, migrate a new one ---------------------------------------


def _live_settings(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "live.toml"
    cfg.write_text(
        f'[database]\nurl = "{url}"\n[[workspaces]]\nname = "acme"\n'
        '[[workspaces.watches]]\nname = "瑞幸"\nquery = "瑞幸 OR luckin"\n'
        '[[workspaces.watches]]\nname = "鹿角"\nquery = "鹿角咖啡"\n'
        '[[sources]]\nworkspace = "acme"\nplatform = "weibo"\nkind = "search"\ntarget = "瑞幸"\n',
        encoding="utf-8",
    )
    return cfg


def _config(db: Database) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    from storage.models import SourceRow, WatchRow

    with db.read() as s:
        sources = sorted((r.target, r.enabled) for r in s.exec(select(SourceRow)))
        watches = sorted((r.name, r.enabled) for r in s.exec(select(WatchRow)))
    return sources, watches


def test_replay_refuses_a_database_that_holds_data_and_leaves_it_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kolwatch.context import open_database, sync_settings
    from kolwatch.settings import load_settings

    url = f"sqlite:///{tmp_path / 'live.db'}"
    cfg = _live_settings(tmp_path, url)
    live = load_settings(cfg, environ={})
    db = open_database(live)
    sync_settings(db, live)
    before = _config(db)
    assert before == ([("瑞幸", True)], [("瑞幸", True), ("鹿角", True)])
    posts = tmp_path / "posts.jsonl"
    posts.write_text("\n".join(lines(stream(6))) + "\n", encoding="utf-8")
    monkeypatch.setattr("kolwatch.pipeline.default_analyzer", lambda _settings: fake_analyzer)
    args = argparse.Namespace(settings=str(cfg), posts=str(posts), watch="鹿角", query=None, db=url)
    with pytest.raises(UserError, match=r"already holds data \(workspaces acme, 1 sources\).*new file"):
        replay_command.run(args)
    assert _config(db) == before
    # The library refuses too (a caller passing its own database).
    with pytest.raises(UserError, match="already holds data"):
        replay(read_records(lines(stream(6))), settings=settings(), analyzer=fake_analyzer, db=db)
    assert _config(db) == before
    db.dispose()


def test_replay_into_a_new_file_migrates_it_so_other_commands_can_open_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kolwatch.commands import export as export_command
    from storage.migrate import current_revision, head_revision

    url = f"sqlite:///{tmp_path / 'sub' / 'replay.db'}"
    cfg = _live_settings(tmp_path, url)
    posts = tmp_path / "posts.jsonl"
    posts.write_text("\n".join(lines(stream(7))) + "\n", encoding="utf-8")
    monkeypatch.setattr("kolwatch.pipeline.default_analyzer", lambda _settings: fake_analyzer)
    args = argparse.Namespace(settings=str(cfg), posts=str(posts), watch="鹿角", query=None, db=url)
    assert replay_command.run(args) == 0
    assert current_revision(url) == head_revision()
    capsys.readouterr()
    export = argparse.Namespace(settings=str(cfg), format="jsonl", watch=None, since=None, out=None)
    assert export_command.run(export) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(exported) == len(stream(7))
    # A second replay into the same file would mix two runs: refused.
    with pytest.raises(UserError, match="already holds data"):
        replay_command.run(args)


def test_replay_refuses_tables_without_a_schema_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(url)
    old.create_all()  # what `kolwatch replay --db` used to do
    old.dispose()
    from kolwatch.replay import open_replay_database

    with pytest.raises(UserError, match="no kolwatch schema version"):
        open_replay_database(url)


def test_a_byte_order_mark_before_the_first_line_is_skipped(tmp_path: Path) -> None:
    rows = lines(stream(8))[:3]
    assert len(read_records(["\ufeff" + rows[0], *rows[1:]])) == 3
    # Only before the first line: elsewhere it is a broken line.
    with pytest.raises(ReplayInputError, match="line 2: not valid JSON"):
        read_records([rows[0], "\ufeff" + rows[1]])
    posts = tmp_path / "bom.jsonl"
    posts.write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode("utf-8") + b"\n")
    with posts.open(encoding="utf-8") as handle:
        assert len(read_records(handle)) == 3
