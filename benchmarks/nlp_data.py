"""Loaders for the shared, evaluation-only sentiment data sets used by the NLP benchmark and builder.

The data lives outside the repository ($KOLWATCH_SHARED/data, default ../shared/data next to the
repo) and is never copied in. Weibo 2018 is split deterministically by a CRC32 of the post id:
ids with crc32 % 5 == 0 are the held-out fifth, the other four fifths are for training.
"""

from __future__ import annotations

import csv
import os
import re
import zlib
from pathlib import Path

# Weibo 2018 escapes topics, locations and link titles as {%...%}; keep the inner text.
_ESCAPE_RE = re.compile(r"\{%(.*?)%\}")

Sample = tuple[str, str]  # (text, "positive" | "negative")


def shared_dir() -> Path:
    default = Path(__file__).resolve().parents[1] / ".." / "shared"
    return Path(os.environ.get("KOLWATCH_SHARED", default))


def data_dir() -> Path:
    return shared_dir() / "data"


def _label(raw: str) -> str:
    return "positive" if raw.strip() == "1" else "negative"


def weibo2018() -> tuple[list[Sample], list[Sample]]:
    """(train four fifths, held-out fifth) of the hand-labelled Weibo 2018 posts."""
    train: list[Sample] = []
    held: list[Sample] = []
    with open(data_dir() / "sentiment" / "weibo2018_train.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            sample = (_ESCAPE_RE.sub(r"\1", row["review"]), _label(row["label"]))
            (held if zlib.crc32(row["mid"].encode()) % 5 == 0 else train).append(sample)
    return train, held


def review_set(name: str) -> list[Sample]:
    """waimai_10k or online_shopping_10_cats as (text, label)."""
    with open(data_dir() / "sentiment" / f"{name}.csv", encoding="utf-8-sig", newline="") as fh:
        return [
            (row["review"].lstrip("\ufeff"), _label(row["label"]))
            for row in csv.DictReader(fh)
            if row["review"]
        ]
