"""Text normalisation for Chinese social posts: the one place that decides what "the same text" means.

`normalize(raw)` folds traditional to simplified Chinese, full-width to half-width, strips control
and zero-width characters, folds runs of repeated characters and whitespace, and pulls URLs,
@mentions, `#话题#` hashtags and emoticon codes (`[哈哈]`, `[doge]`, `[允悲]`) out as entities.
The normalised `text` keeps every entity in place (matching and display need them); `body` is the
text a model should read: URLs and mentions removed, hashtag markers dropped but their words kept,
emoticon codes kept as whole tokens.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import opencc

# Weibo/Bilibili emoticon codes: a short name in square brackets, e.g. [哈哈] [doge] [笑cry]
# [小黄人无奈]. A name must start with a letter or Han character so "[1]" footnotes are not codes.
EMOTICON_RE = re.compile(r"\[([A-Za-z\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]{0,9})\]")
# Weibo and Bilibili topics are closed with a second '#', contain at least one Han character and
# (in practice) no whitespace, which keeps "价格#3 单个#号" from becoming a topic;
# Mastodon-style tags are a single '#' followed by word characters.
_TOPIC_RE = re.compile(r"#(?=[^#\s]{0,63}[\u4e00-\u9fff])([^#\s]{1,63}?)#")
_TAG_RE = re.compile(r"(?<![\w&/#])#(\w{1,50})")
_URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef<>\"'\[\]{}|\\^`]+", re.IGNORECASE
)
# Weibo nicknames: 2-30 of Han, letters, digits, '_' and '-'. A preceding word character or dot
# means an e-mail address, not a mention. A trailing colon belongs to Weibo's "//@name:" quoting.
_MENTION_RE = re.compile(r"(?<![\w.])@([\w\-]{1,30})(?::)?")
_REPOST_CHAIN_RE = re.compile(r"//(?=@)")
_WS_RE = re.compile(r"\s+")
# Weibo replaces links with the words 网页链接 (sometimes prefixed by an "O" icon glyph) and cuts long
# posts with 展开全文; they are interface text, not the author's.
_PLATFORM_TEXT_RE = re.compile(r"O?网页链接|展开全文|\.\.\.全文")
# Four or more of the same character (哈哈哈哈哈, !!!!!) fold to three: the emphasis survives,
# the length noise does not.
_REPEAT_RE = re.compile(r"(.)\1{3,}", re.DOTALL)
_REPEAT_EMOTICON_RE = re.compile(r"(\[[^\[\]]{1,10}\])\1{3,}")
_TRAILING_URL_PUNCT = ".,;:!?)]}'\""

# One translation table for the character-level folds: the full-width ASCII block U+FF01..U+FF5E
# maps 1:1 onto U+0021..U+007E, U+3000 (ideographic space) becomes a space, and zero-width / bidi
# controls that platforms sprinkle into text to defeat filters are deleted, as are C0/C1 control
# characters other than tab and line breaks (category Cc is exactly U+0000-001F and U+007F-009F).
_WIDTH_TABLE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_INVISIBLE = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, 0x00AD, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E]
)
_CONTROLS = dict.fromkeys(cp for cp in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(cp) not in "\t\n\r")
_FOLD_TABLE = _WIDTH_TABLE | _INVISIBLE | _CONTROLS
# Cheap substring tests that let normalize() skip a regex which cannot match.
_URL_HINT_RE = re.compile(r"://|www\.", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Normalized:
    """One normalised text with its entities, each in order of appearance, duplicates kept once."""

    text: str
    body: str
    urls: tuple[str, ...]
    mentions: tuple[str, ...]
    hashtags: tuple[str, ...]
    emoticons: tuple[str, ...]


class _TraditionalFolder:
    """Loads OpenCC's t2s tables once; converts only texts that contain a traditional character.

    opencc-python-reimplemented is pure Python and converts about 5,000 posts/s; most posts are
    already simplified, so a character-set check first keeps the common path almost free.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._converter: opencc.OpenCC | None = None
        self._traditional: frozenset[str] = frozenset()

    def _load(self) -> opencc.OpenCC:
        with self._lock:
            if self._converter is None:
                table = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
                chars: set[str] = set()
                for line in table.read_text(encoding="utf-8").splitlines():
                    parts = line.split("\t")
                    if len(parts) == 2 and parts[0] not in parts[1].split():
                        chars.add(parts[0])
                self._traditional = frozenset(chars)
                self._converter = opencc.OpenCC("t2s")
            return self._converter

    def __call__(self, text: str) -> str:
        converter = self._converter or self._load()
        if self._traditional.isdisjoint(text):
            return text
        return str(converter.convert(text))


to_simplified = _TraditionalFolder()


def fold_width(text: str) -> str:
    """Full-width ASCII letters, digits, punctuation and the ideographic space to half-width."""
    return text.translate(_WIDTH_TABLE)


def fold(text: str) -> str:
    """The character-level part of normalisation: simplified, half-width, visible, folded runs.

    Use it on dictionary terms (brand names, aliases) so they compare equal to normalised text.
    """
    text = to_simplified(text.translate(_FOLD_TABLE))
    if "[" in text:
        text = _REPEAT_EMOTICON_RE.sub(r"\1\1\1", text)
    text = _REPEAT_RE.sub(r"\1\1\1", text)
    return _WS_RE.sub(" ", text).strip()


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for item in items if item))


def _clean_url(url: str) -> str:
    return url.rstrip(_TRAILING_URL_PUNCT)


def normalize(raw: str) -> Normalized:
    """Normalise one post. Never raises for any `str`; an empty or blank input gives empty fields."""
    text = fold(raw)
    # Each entity regex only runs when its marker character is present: most posts have no URL,
    # mention or topic, and a substring test is far cheaper than a regex pass.
    if _URL_HINT_RE.search(text):
        urls = _unique([_clean_url(m.group(0)) for m in _URL_RE.finditer(text)])
        body = _URL_RE.sub(" ", text)
    else:
        urls, body = (), text
    emoticons = _unique([f"[{m.group(1)}]" for m in EMOTICON_RE.finditer(body)]) if "[" in body else ()
    mentions: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    if "#" in body:
        topics = [m.group(1).strip() for m in _TOPIC_RE.finditer(body)]
        tags = [m.group(1) for m in _TAG_RE.finditer(_TOPIC_RE.sub(" ", body))]
        hashtags = _unique(topics + tags)
    if "@" in body:
        mentions = _unique([m.group(1) for m in _MENTION_RE.finditer(body)])
        body = _MENTION_RE.sub(" ", _REPOST_CHAIN_RE.sub(" ", body))
    if "网页链接" in body or "全文" in body:
        body = _PLATFORM_TEXT_RE.sub(" ", body)
    if "#" in body:
        body = _TOPIC_RE.sub(lambda m: f" {m.group(1).strip()} ", body)
        body = _TAG_RE.sub(lambda m: f" {m.group(1)} ", body)
    body = _WS_RE.sub(" ", body).strip()
    return Normalized(
        text=text, body=body, urls=urls, mentions=mentions, hashtags=hashtags, emoticons=emoticons
    )


def split_emoticons(text: str) -> list[tuple[str, bool]]:
    """Split text into (piece, is_emoticon) runs so segmenters keep `[允悲]` whole."""
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for match in EMOTICON_RE.finditer(text):
        if match.start() > pos:
            pieces.append((text[pos : match.start()], False))
        pieces.append((match.group(0), True))
        pos = match.end()
    if pos < len(text):
        pieces.append((text[pos:], False))
    return pieces
