"""`kolwatch analyze` and `kolwatch sentiment train|eval` through the command modules."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from kolwatch.cli import _Parser
from kolwatch.commands import analyze as analyze_cmd
from kolwatch.commands import sentiment as sentiment_cmd
from kolwatch.errors import UserError


def _run(argv: list[str]) -> int:
    parser = _Parser(prog="kolwatch")
    sub = parser.add_subparsers(parser_class=_Parser)
    analyze_cmd.register(sub)
    sentiment_cmd.register(sub)
    args: argparse.Namespace = parser.parse_args(argv)
    return int(args.func(args))


def _stream(data: bytes, jsonl: bool = False) -> tuple[list[dict[str, object]], int]:
    out, err = io.StringIO(), io.StringIO()
    errors = analyze_cmd.stream(io.BytesIO(data), out, jsonl=jsonl, model_path=None, err=err)
    return [json.loads(line) for line in out.getvalue().splitlines()], errors


def test_plain_lines_one_record_each() -> None:
    big = ("好吃" * 50_000).encode()
    data = (
        "我爱瑞幸[哈哈]\n\nhello world\n".encode()
        + b"\xff\xfe\n"
        + "😂😂\n混合 mixed テキスト\n".encode()
        + big
        + b"\n"
    )
    records, errors = _stream(data)
    assert len(records) == 7 and errors == 1
    assert set(records[0]) >= {"text", "tokens", "keywords", "hashtags", "emoticons", "sentiment", "label"}
    assert records[0]["label"] == "positive"
    assert records[1]["label"] == "unscored" and records[1]["text"] == ""
    assert records[2]["label"] == "unscored"
    assert records[3] == {"line": 4, "error": "invalid UTF-8 at byte 0"}
    assert records[4]["label"] == "unscored"
    assert records[6]["label"] in ("positive", "neutral", "negative")


def test_jsonl_input() -> None:
    data = '{"id": 7, "text": "难吃[怒]"}\n{"text": 5}\nnot json\n[1]\n\n'.encode()
    records, errors = _stream(data, jsonl=True)
    assert records[0]["id"] == 7 and records[0]["label"] == "negative"
    assert [r.get("error", "")[:12] for r in records[1:]] == [
        "JSON object ",
        "invalid JSON",
        "JSON object ",
        "empty line (",
    ]
    assert errors == 4


def test_bad_model_path_is_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        analyze_cmd.stream(
            io.BytesIO(b"x\n"), io.StringIO(), jsonl=False, model_path=str(tmp_path / "m"), err=io.StringIO()
        )


def _csv(tmp_path: Path) -> Path:
    rows = ["review,label"]
    for i in range(30):
        rows.append(f"好喝推荐满意{i},1")
        rows.append(f"难喝差评失望{i},0")
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_train_then_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out = _csv(tmp_path), tmp_path / "model.json.gz"
    assert (
        _run(
            [
                "sentiment",
                "train",
                "--data",
                str(data),
                "--text-column",
                "review",
                "--label-column",
                "label",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.is_file() and "trained linear model on 60 rows" in capsys.readouterr().out
    assert (
        _run(
            [
                "sentiment",
                "eval",
                "--data",
                str(data),
                "--text-column",
                "review",
                "--label-column",
                "label",
                "--model",
                str(out),
            ]
        )
        == 0
    )
    report = capsys.readouterr().out
    assert "accuracy  1.0000" in report and "truth \\ predicted" in report


@pytest.mark.parametrize(
    ("content", "columns", "message"),
    [
        ("review,label\n好喝,1\n", ["--text-column", "text", "--label-column", "label"], "no column 'text'"),
        (
            "review,label\n好喝,maybe\n",
            ["--text-column", "review", "--label-column", "label"],
            "line 2: unknown",
        ),
        ("review,label\n", ["--text-column", "review", "--label-column", "label"], "no labelled rows"),
    ],
)
def test_eval_bad_csv(tmp_path: Path, content: str, columns: list[str], message: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        _run(["sentiment", "eval", "--data", str(path), *columns])


def test_non_utf8_csv_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes("review,label\n好喝,1\n".encode("gbk"))
    with pytest.raises(UserError, match="not UTF-8"):
        _run(["sentiment", "eval", "--data", str(path), "--text-column", "review", "--label-column", "label"])
    with pytest.raises(UserError, match="not found"):
        _run(
            [
                "sentiment",
                "eval",
                "--data",
                str(tmp_path / "x.csv"),
                "--text-column",
                "a",
                "--label-column",
                "b",
            ]
        )


def test_train_needs_both_classes(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("review,label\n好喝,1\n好吃,1\n", encoding="utf-8")
    with pytest.raises(UserError, match="both positive and negative"):
        _run(
            [
                "sentiment",
                "train",
                "--data",
                str(path),
                "--text-column",
                "review",
                "--label-column",
                "label",
                "--out",
                str(tmp_path / "m.json.gz"),
            ]
        )
