"""Sentiment corrections from the bot as training data: stored with their text, read back one
sample per text, kept through retention, migrated from older databases, and used by
`kolwatch sentiment train --with-feedback` / written by `kolwatch sentiment feedback`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from kolwatch.cli import main
from kolwatch.commands.sentiment import training_samples
from nlp.sentiment import SentimentModel
from storage import bot_repo, migrate, repos
from storage.db import Database
from storage.feedback_queries import FeedbackSample, UnknownWorkspace, feedback_samples
from storage.models import AuthorRow, PostRow

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _workspaces(db: Database) -> dict[str, int]:
    with db.write() as s:
        repos.sync_config(
            s,
            workspaces=[
                repos.WorkspaceSpec("a", chats=(1,), watches=(repos.WatchSpec("wa", "咖啡"),)),
                repos.WorkspaceSpec("b", chats=(2,), watches=(repos.WatchSpec("wb", "咖啡"),)),
            ],
            sources=[],
        )
    with db.read() as s:
        access = {
            name: bot_repo.chat_access(s, chat_id=chat, user_id=0) for name, chat in (("a", 1), ("b", 2))
        }
    return {name: a.workspace_id for name, a in access.items() if a is not None}


def _posts(
    db: Database, texts: list[str], *, created_at: datetime = T0, old_schema: bool = False
) -> list[int]:
    """Posts mentioned by both workspaces' watches (so both may correct them)."""

    with db.write() as s:
        author = AuthorRow(platform="weibo", author_id="u1", name="n")
        s.add(author)
        s.flush()
        ids = []
        for i, body in enumerate(texts):
            post = PostRow(
                platform="weibo", post_id=f"p{i}", author_pk=author.id or 0, text=body, created_at=created_at
            )
            s.add(post)
            s.flush()
            ids.append(post.id or 0)
        watch_ids = [w for (w,) in s.exec(text("SELECT id FROM watch")).all()]
        if old_schema:  # the mention columns as they were before revision adfaa1e7fc1b
            for w in watch_ids:
                for pk in ids:
                    s.exec(
                        text(
                            "INSERT INTO mention (watch_id, post_pk, created_at, matched_terms, "
                            f"is_competitor, competitor) VALUES ({w}, {pk}, "
                            f"'{created_at:%Y-%m-%d %H:%M:%S}', '[]', 0, '')"
                        )
                    )
        else:
            repos.add_mentions(
                s, mentions=[repos.MentionSpec(w, pk, created_at) for w in watch_ids for pk in ids]
            )
    return ids


def _correct(db: Database, ws: int, post_pk: int, user: int, label: str, minutes: int) -> None:
    with db.write() as s:
        bot_repo.add_feedback(
            s,
            workspace_id=ws,
            post_pk=post_pk,
            user_id=user,
            label=label,
            now=T0 + timedelta(minutes=minutes),
        )


def test_one_sample_per_text_majority_then_latest(sqlite_db: Database) -> None:
    ws = _workspaces(sqlite_db)
    p1, p2, p3 = _posts(sqlite_db, ["排队半小时，咖啡是凉的", "新品还行吧", "  "])
    _correct(sqlite_db, ws["a"], p1, 1, "negative", 1)
    _correct(sqlite_db, ws["a"], p1, 2, "negative", 2)
    _correct(sqlite_db, ws["b"], p1, 3, "neutral", 3)  # outvoted
    _correct(sqlite_db, ws["a"], p2, 1, "positive", 4)
    _correct(sqlite_db, ws["b"], p2, 2, "neutral", 5)  # tie: the later correction wins
    _correct(sqlite_db, ws["a"], p3, 1, "positive", 6)  # blank text is no sample
    with sqlite_db.read() as s:
        samples = feedback_samples(s)
        only_a = feedback_samples(s, workspace="a")
        with pytest.raises(UnknownWorkspace):
            feedback_samples(s, workspace="nope")
    assert [(x.text, x.label, x.corrections, x.disagreeing) for x in samples] == [
        ("排队半小时，咖啡是凉的", "negative", 3, 1),
        ("新品还行吧", "neutral", 2, 1),
    ]
    assert samples[0].platform == "weibo" and samples[0].post_id == "p0"
    assert samples[1].corrected_at == T0 + timedelta(minutes=5)
    assert [(x.text, x.label, x.corrections) for x in only_a] == [
        ("排队半小时，咖啡是凉的", "negative", 2),
        ("新品还行吧", "positive", 1),
    ]


def test_a_user_changing_their_mind_replaces_their_correction(sqlite_db: Database) -> None:
    ws = _workspaces(sqlite_db)
    (p1,) = _posts(sqlite_db, ["还可以"])
    _correct(sqlite_db, ws["a"], p1, 1, "negative", 1)
    _correct(sqlite_db, ws["a"], p1, 1, "positive", 2)
    with sqlite_db.read() as s:
        assert [(x.label, x.corrections) for x in feedback_samples(s)] == [("positive", 1)]


def test_purge_keeps_corrections_without_the_post(any_db: Database) -> None:
    ws = _workspaces(any_db)
    (p1,) = _posts(any_db, ["杯子里有异物，太恶心了"], created_at=T0 - timedelta(days=400))
    _correct(any_db, ws["a"], p1, 1, "negative", 1)
    with any_db.write() as s:
        result = repos.purge_older_than(s, cutoff=T0 - timedelta(days=180))
    assert result.posts == 1
    with any_db.read() as s:
        samples = feedback_samples(s, workspace="a")
        assert s.exec(text("SELECT count(*) FROM post")).scalar() == 0
    assert [(x.text, x.label, x.platform) for x in samples] == [("杯子里有异物，太恶心了", "negative", "")]


def test_migration_backfills_text_and_the_workspace_where_it_is_certain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "d4d60bde2d90")
    db = Database(url)
    try:
        ws = _workspaces(db)  # tables unchanged since that revision, so the repositories work
        only_a, both = _posts(db, ["难喝", "一般般"], old_schema=True)
        with db.write() as s:
            # p0 is watched by workspace a only; p1 by both.
            s.exec(text(f"DELETE FROM mention WHERE post_pk = {only_a} AND watch_id IN "
                        f"(SELECT id FROM watch WHERE workspace_id = {ws['b']})"))  # fmt: skip
        with db.writer.begin() as conn:
            for pk, label in ((only_a, "negative"), (both, "neutral")):
                conn.execute(
                    text(
                        "INSERT INTO sentiment_feedback (post_pk, user_id, label, created_at) "
                        f"VALUES ({pk}, 9, '{label}', '2026-01-02')"
                    )
                )
        migrate.upgrade(url)
        with db.read() as s:
            assert [(x.text, x.label) for x in feedback_samples(s)] == [
                ("难喝", "negative"),
                ("一般般", "neutral"),
            ]
            assert [x.text for x in feedback_samples(s, workspace="a")] == ["难喝"]
            assert feedback_samples(s, workspace="b") == []
    finally:
        db.dispose()


def _sample(body: str, label: str) -> FeedbackSample:
    return FeedbackSample(body, label, 1, 0, "weibo", "p", T0)


def test_neutral_corrections_join_only_models_with_a_neutral_class() -> None:
    feedback = [_sample("还行", "neutral"), _sample("难喝", "negative")]
    two_class = [("好喝", "positive"), ("难吃", "negative")]
    assert training_samples(two_class, feedback) == ([*two_class, ("难喝", "negative")], 1)
    three_class = [*two_class, ("一般", "neutral")]
    assert training_samples(three_class, feedback) == (
        [*three_class, ("还行", "neutral"), ("难喝", "negative")],
        0,
    )
    assert training_samples([], feedback) == ([("还行", "neutral"), ("难喝", "negative")], 0)
    # A correction replaces the data's row for the same text instead of training it both ways.
    assert training_samples([("难喝", "positive"), ("好喝", "positive")], feedback) == (
        [("好喝", "positive"), ("难喝", "negative")],
        1,
    )


def _settings(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return path


def test_train_with_feedback_learns_the_corrections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KOLWATCH_SETTINGS", raising=False)
    url = f"sqlite:///{tmp_path / 'kw.db'}"
    migrate.upgrade(url)
    db = Database(url)
    # The team's data says every 新品 post is praise; its members know better about these three.
    data = tmp_path / "labels.csv"
    rows = ["text,label"]
    for i in range(40):
        rows += [f"新品真好喝满意推荐{i}号,1", f"太难喝了失望退款{i}号,0"]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    corrected = ["新品翻车了", "新品又翻车", "这次新品翻车"]
    try:
        ws = _workspaces(db)
        for i, pk in enumerate(_posts(db, corrected)):
            _correct(db, ws["a"], pk, 1, "negative", i)
    finally:
        db.dispose()
    settings = _settings(tmp_path, url)

    base, tuned = tmp_path / "base.json.gz", tmp_path / "tuned.json.gz"
    assert (
        main(["--settings", str(settings), "sentiment", "train", "--data", str(data), "--out", str(base)])
        == 0
    )
    assert main([
        "--settings", str(settings), "sentiment", "train", "--data", str(data), "--with-feedback",
        "--workspace", "a", "--out", str(tuned),
    ]) == 0  # fmt: skip
    assert "83 rows, 3 of them bot corrections" in capsys.readouterr().out
    before, after = SentimentModel.load(base), SentimentModel.load(tuned)
    assert after.meta["feedback_corrections"] == 3
    assert [before.score_text(t).label for t in corrected] != ["negative"] * 3
    assert [after.score_text(t).label for t in corrected] == ["negative"] * 3

    # The corrections as a CSV that train/eval read back.
    out = tmp_path / "corrections.csv"
    assert main(["--settings", str(settings), "sentiment", "feedback", "--out", str(out)]) == 0
    written = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(r["text"], r["label"], r["platform"]) for r in written] == [
        (t, "negative", "weibo") for t in corrected
    ]
    assert (
        main(["--settings", str(settings), "sentiment", "eval", "--data", str(out), "--model", str(tuned)])
        == 0
    )
    assert "accuracy  1.0000" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sentiment", "train", "--out", "m.json.gz"], "give --data CSV and/or --with-feedback"),
        (
            ["sentiment", "train", "--with-feedback", "--workspace", "nope", "--out", "m.json.gz"],
            "no workspace",
        ),
        (
            ["sentiment", "train", "--with-feedback", "--out", "m.json.gz"],
            "no labelled rows and no corrections",
        ),
    ],
)
def test_train_input_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KOLWATCH_SETTINGS", raising=False)
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["--settings", str(settings), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and message in err[-1]
