"""Local delivery for development, the demo and audits: `console` prints plain text to a stream,
`file` appends one JSON line per notice to `<directory>/<target>.jsonl` and stores attachments
under `<directory>/attachments/<notice id>/`.

Targets and attachment names are untrusted (they come from settings and from collected data),
so both are reduced to safe file names and can never leave the directory. No rate limits apply.
`file` writes in a worker thread: a digest's attachments (charts, HTML, a CSV of every mention)
run to megabytes, and the outbox sender shares its event loop with the bot's polling.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, TextIO

from bot.notifiers.base import DeliveryResult, Notice, RateRule, clean_text, render_plain

_UNSAFE_RE = re.compile(r"[^0-9A-Za-z._\-\u4e00-\u9fff]+")


def safe_name(name: str, fallback: str = "file") -> str:
    """A file name without separators, controls or leading dots, at most 100 characters."""
    cleaned = _UNSAFE_RE.sub("_", clean_text(name)).strip("._ ")[:100]
    return cleaned or fallback


def notice_id(notice: Notice) -> str:
    basis = notice.dedup_key or f"{notice.title}\n{notice.body_lines}"
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class ConsoleNotifier:
    """Writes notices as plain text to `stream` (stdout by default). `target` is printed as a header."""

    name: ClassVar[str] = "console"
    rate_limits: ClassVar[tuple[RateRule, ...]] = ()

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def __repr__(self) -> str:
        return "ConsoleNotifier()"

    async def aclose(self) -> None:
        """Nothing to close: the stream belongs to the caller."""

    async def send(self, notice: Notice, target: str, *, resume_from: int = 0) -> DeliveryResult:
        if resume_from not in (0, 1):
            return DeliveryResult.failed(0, 1, f"resume_from={resume_from} outside 0..1")
        if resume_from == 1:
            return DeliveryResult.delivered(1)
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            stream.write(f"--- {clean_text(target)[:60]} ---\n{render_plain(notice)}\n")
            stream.flush()
        except (OSError, ValueError) as exc:  # closed stream, broken pipe
            return DeliveryResult.failed(0, 1, f"console write failed: {exc}")
        return DeliveryResult.delivered(1)


class FileNotifier:
    """Appends notices as JSON lines; `target` names the file (without extension)."""

    name: ClassVar[str] = "file"
    rate_limits: ClassVar[tuple[RateRule, ...]] = ()

    def __init__(self, directory: Path | str) -> None:
        self._dir = Path(directory)

    def __repr__(self) -> str:
        return f"FileNotifier(directory={str(self._dir)!r})"

    async def aclose(self) -> None:
        """Nothing to close: each send opens and closes its files."""

    async def send(self, notice: Notice, target: str, *, resume_from: int = 0) -> DeliveryResult:
        if resume_from not in (0, 1):
            return DeliveryResult.failed(0, 1, f"resume_from={resume_from} outside 0..1")
        if resume_from == 1:
            return DeliveryResult.delivered(1)
        try:
            await asyncio.to_thread(self._write, notice, target)
        except OSError as exc:
            return DeliveryResult.failed(0, 1, f"file write failed: {exc.strerror or exc}")
        return DeliveryResult.delivered(1)

    def _write(self, notice: Notice, target: str) -> None:
        """The notice's attachments, then its JSON line (blocking file I/O)."""
        nid = notice_id(notice)
        self._dir.mkdir(parents=True, exist_ok=True)
        saved: list[str] = []
        if notice.attachments:
            att_dir = self._dir / "attachments" / nid
            att_dir.mkdir(parents=True, exist_ok=True)
            for index, att in enumerate(notice.attachments):
                path = att_dir / f"{index:02d}-{safe_name(att.name)}"
                path.write_bytes(att.data)
                saved.append(str(path.relative_to(self._dir)))
        record = {
            "id": nid,
            "at": datetime.now(UTC).isoformat(),
            "dedup_key": clean_text(notice.dedup_key),
            "level": notice.level,
            "title": clean_text(notice.title),
            "body_lines": [clean_text(line) for line in notice.body_lines],
            "links": [[clean_text(label), clean_text(url)] for label, url in notice.links],
            "attachments": saved,
        }
        with (self._dir / f"{safe_name(target, 'notices')}.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
