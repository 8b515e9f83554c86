"""`kolwatch analyze`: stream texts from stdin through the NLP stage, JSONL to stdout.

One input line is one text (or, with --jsonl, one JSON object with a string `text`; an `id`
field is copied through). Exactly one output line per input line, so results line up with the
input: a line that cannot be read (invalid UTF-8, broken JSON, no `text`, over 1 MB) becomes
`{"line": N, "error": "..."}` and the count of such lines is reported on stderr at the end.
Memory stays flat: lines are read, analysed and written in chunks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from itertools import islice
from typing import Any, BinaryIO, TextIO

from kolwatch.errors import UserError
from kolwatch.progress import Progress

MAX_LINE_BYTES = 1_000_000
CHUNK = 256


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "analyze",
        help="analyse texts from stdin (one per line) and write JSONL",
        description="Normalise, segment, extract keywords and score sentiment for each stdin line.",
    )
    parser.add_argument("--jsonl", action="store_true", help="stdin is JSONL with a `text` field")
    parser.add_argument("--model", help="sentiment model file (default: the stock model)")
    parser.set_defaults(func=run)


def _records(stream: BinaryIO, jsonl: bool) -> Iterator[tuple[int, str | None, dict[str, Any]]]:
    """(line number, text or None on error, extra fields or {"error": ...})."""
    for number, raw in enumerate(stream, 1):
        line = raw.rstrip(b"\r\n")
        if len(line) > MAX_LINE_BYTES:
            yield number, None, {"error": f"line longer than {MAX_LINE_BYTES} bytes"}
            continue
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, None, {"error": f"invalid UTF-8 at byte {exc.start}"}
            continue
        if not jsonl:
            yield number, decoded, {}
            continue
        if not decoded.strip():
            yield number, None, {"error": "empty line (expected a JSON object)"}
            continue
        try:
            obj = json.loads(decoded)
        except json.JSONDecodeError as exc:
            yield number, None, {"error": f"invalid JSON: {exc.msg}"}
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            yield number, None, {"error": "JSON object without a string `text` field"}
            continue
        extra = {"id": obj["id"]} if "id" in obj else {}
        yield number, obj["text"], extra


def stream(inp: BinaryIO, out: TextIO, *, jsonl: bool, model_path: str | None, err: TextIO) -> int:
    """Analyse `inp` into `out`; returns the number of lines that could not be analysed."""
    from nlp.analyze import analyze_batch, resolve_model
    from nlp.sentiment import ModelFileError

    try:
        model = resolve_model(model_path)
    except ModelFileError as exc:
        raise UserError(str(exc)) from None
    errors = 0
    with Progress("analysing", stream=err) as progress:
        records = _records(inp, jsonl)
        while chunk := list(islice(records, CHUNK)):
            # One batch per chunk: the NLP stage vectorises MinHash and skips repeated texts.
            analyses = iter(analyze_batch([text for _, text, _ in chunk if text is not None], model))
            lines = []
            for number, text, extra in chunk:
                if text is None:
                    errors += 1
                    lines.append(json.dumps({"line": number, **extra}, ensure_ascii=False))
                    continue
                a = next(analyses)
                record = {
                    **extra,
                    "text": a.text,
                    "lang": a.lang,
                    "tokens": a.tokens,
                    "keywords": a.keywords,
                    "hashtags": a.hashtags,
                    "emoticons": a.emoticons,
                    "mentions": a.mentions,
                    "urls": a.urls,
                    "sentiment": None if a.sentiment is None else round(a.sentiment, 4),
                    "label": a.label,
                }
                lines.append(json.dumps(record, ensure_ascii=False))
            out.write("\n".join(lines) + "\n")
            out.flush()
            progress.advance(len(lines))
    return errors


def run(args: argparse.Namespace) -> int:
    errors = stream(sys.stdin.buffer, sys.stdout, jsonl=args.jsonl, model_path=args.model, err=sys.stderr)
    if errors:
        print(
            f'kolwatch: {errors} input line(s) could not be analysed (see their "error" records)',
            file=sys.stderr,
        )
    return 0
