"""Telegram HTML (parse_mode=HTML): escaping, safe builders, validation, splitting, size limits.

Rules we follow (Bot API "HTML style"): only the tags in ALLOWED_TAGS; every `<`, `>`, `&` of text
escaped; only the named entities &lt; &gt; &amp; &quot; plus numeric ones; plain newlines, no <br>.
Everything interpolated goes through `escape`/`escape_attr` or a builder here, so user text such
as `<script>` or `AT&T` is shown, never parsed.

Limits are counted the way Telegram does, *after* entity parsing: tags cost nothing and `&amp;` is
one character. We count UTF-16 code units (an emoji is 2), which is never less than the
code-point count Telegram was measured to use, so a part that fits here fits there.
`split_html` breaks at line boundaries when it can, never inside a tag or entity, and closes the
tags still open at a break, reopening them (same attributes) at the start of the next part.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes, UTF-8
ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
     "tg-emoji", "code", "pre", "blockquote"}
)

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Make untrusted text safe for any wire: controls dropped, CR/CRLF -> LF, lone surrogates -> U+FFFD.

    Telegram rejects control characters and a lone surrogate cannot be encoded as UTF-8 at all.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SURROGATE_RE.sub("\ufffd", text)
    return _CONTROL_RE.sub("", text)


def escape(text: object) -> str:
    """Plain text -> HTML text node (what aiogram's html_decoration.quote does, plus hygiene)."""
    return html.escape(clean_text(str(text)), quote=False)


def escape_attr(text: object) -> str:
    return html.escape(clean_text(str(text)), quote=True)


def safe_url(url: str) -> str | None:
    """`url` if it is an absolute http(s)/tg URL without whitespace or controls, else None."""
    url = url.strip()
    if len(url) > 2048 or not re.match(r"(?i)(https?|tg)://\S+$", url):
        return None
    if _CONTROL_RE.search(url) or _SURROGATE_RE.search(url):
        return None
    return url


def bold(text: object) -> str:
    return f"<b>{escape(text)}</b>"


def italic(text: object) -> str:
    return f"<i>{escape(text)}</i>"


def code(text: object) -> str:
    return f"<code>{escape(text)}</code>"


def pre(text: object, language: str | None = None) -> str:
    if language and re.fullmatch(r"[A-Za-z0-9_+-]{1,32}", language):
        return f'<pre><code class="language-{language}">{escape(text)}</code></pre>'
    return f"<pre>{escape(text)}</pre>"


def blockquote(text: object, expandable: bool = False) -> str:
    return f"<blockquote{' expandable' if expandable else ''}>{escape(text)}</blockquote>"


def link(label: object, url: str) -> str:
    """A clickable link, or the escaped label followed by the escaped URL when the URL is unsafe."""
    target = safe_url(url)
    if target is None:
        return f"{escape(label)} ({escape(url)})" if url.strip() else escape(label)
    return f'<a href="{escape_attr(target)}">{escape(label)}</a>'


# --------------------------------------------------------------------------------------------
# Parsing into atoms


class HtmlError(ValueError):
    """The HTML would be refused by Telegram ("can't parse entities")."""


_TOKEN_RE = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>"  # 1 slash, 2 name, 3 attributes
    r"|&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);"  # 4 entity
    r"|([^<&]+)"  # 5 text
    r"|([<&])",  # 6 stray markup character
    re.S,
)


@dataclass(frozen=True, slots=True)
class _Atom:
    kind: str  # "open" | "close" | "char"
    raw: str
    name: str = ""
    width: int = 0  # UTF-16 code units of visible text
    char: str = ""


def _units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _parse(markup: str) -> list[_Atom]:
    atoms: list[_Atom] = []
    stack: list[str] = []
    for m in _TOKEN_RE.finditer(markup):
        slash, name, attrs, entity, text, stray = m.groups()
        if stray is not None:
            raise HtmlError(f"unescaped {stray!r} at offset {m.start()}")
        if text is not None:
            atoms.extend(_Atom("char", ch, width=_units(ch), char=ch) for ch in text)
        elif entity is not None:
            ch = html.unescape(f"&{entity};")
            if entity.startswith("#"):
                value = int(entity[2:], 16) if entity[1] in "xX" else int(entity[1:])
                if not 0 < value <= 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                    raise HtmlError(f"invalid numeric entity &{entity};")
            atoms.append(_Atom("char", m.group(0), width=sum(_units(c) for c in ch), char=ch))
        else:
            lname = name.lower()
            if lname not in ALLOWED_TAGS:
                raise HtmlError(f"unsupported tag <{name}>")
            if slash:
                if attrs.strip():
                    raise HtmlError(f"closing tag </{name}> has attributes")
                if not stack or stack[-1] != lname:
                    raise HtmlError(f"unexpected closing tag </{name}>")
                stack.pop()
                atoms.append(_Atom("close", m.group(0), lname))
            else:
                stack.append(lname)
                atoms.append(_Atom("open", m.group(0), lname))
    if stack:
        raise HtmlError(f"unclosed tag <{stack[-1]}>")
    return atoms


def validate_html(markup: str) -> None:
    """Raise HtmlError when Telegram would refuse `markup`."""
    _parse(markup)


def visible_length(markup: str) -> int:
    """Length after entity parsing, in UTF-16 code units (what the limits are checked against)."""
    return sum(a.width for a in _parse(markup))


def visible_text(markup: str) -> str:
    return "".join(a.char for a in _parse(markup))


# --------------------------------------------------------------------------------------------
# Splitting


def _stack_after(atoms: list[_Atom], start: int, end: int, stack: list[_Atom]) -> list[_Atom]:
    stack = list(stack)
    for atom in atoms[start:end]:
        if atom.kind == "open":
            stack.append(atom)
        elif atom.kind == "close":
            stack.pop()
    return stack


def _close(stack: list[_Atom]) -> str:
    return "".join(f"</{a.name}>" for a in reversed(stack))


def split_html(markup: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split valid Telegram HTML into parts of at most `limit` visible UTF-16 units each.

    Breaks after the last newline that fits, else after the last space, else between two
    characters; each part is valid HTML on its own. Whitespace-only parts are dropped (Telegram
    refuses empty messages). Raises HtmlError for markup Telegram would refuse anyway.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    atoms = _parse(markup)
    n = len(atoms)
    parts: list[str] = []
    prefix: list[_Atom] = []
    i = 0
    while i < n:
        count, j = 0, i
        last_newline = last_space = None
        while j < n:
            atom = atoms[j]
            if atom.kind == "char":
                if count + atom.width > limit:
                    break
                count += atom.width
                if atom.char == "\n":
                    last_newline = j + 1
                elif atom.char.isspace():
                    last_space = j + 1
            j += 1
        if j == n:
            end = n
        else:
            end = last_newline or last_space or j
            while end > i + 1 and atoms[end - 1].kind == "open":
                end -= 1  # an opening tag goes with its content, to the next part
        while end < n and atoms[end].kind == "close":
            end += 1  # closing tags cost nothing; keep them with their content
        if end <= i:  # cannot happen with limit >= 2, but never loop forever
            end = i + 1
        stack = _stack_after(atoms, i, end, prefix)
        body = "".join(a.raw for a in atoms[i:end])
        part = "".join(a.raw for a in prefix) + body + _close(stack)
        if any(a.kind == "char" and not a.char.isspace() for a in atoms[i:end]):
            parts.append(part)
        prefix, i = stack, end
    return parts


def truncate_html(markup: str, limit: int = CAPTION_LIMIT, ellipsis: str = "…") -> str:
    """`markup` cut to at most `limit` visible units, tags balanced, with `ellipsis` when cut."""
    if visible_length(markup) <= limit:
        return markup
    room = limit - sum(_units(c) for c in ellipsis)
    parts = split_html(markup, room)
    return (parts[0] if parts else "") + escape(ellipsis)


# --------------------------------------------------------------------------------------------
# callback_data (1-64 bytes)

_PREFIX_RE = re.compile(r"[a-z][a-z0-9_]{0,15}")


def pack_callback(prefix: str, *fields: str | int) -> str:
    """`prefix:field:field`, checked against the 64-byte limit. Fields must not contain ':'."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"callback prefix {prefix!r} must match {_PREFIX_RE.pattern}")
    values = [str(f) for f in fields]
    for value in values:
        if ":" in value or clean_text(value) != value:
            raise ValueError(f"callback field {value!r} contains ':' or control characters")
    data = ":".join([prefix, *values])
    size = len(data.encode("utf-8"))
    if size > CALLBACK_DATA_LIMIT:
        raise ValueError(f"callback data is {size} bytes > {CALLBACK_DATA_LIMIT}: use short_token() for ids")
    return data


def unpack_callback(data: str, prefix: str, fields: int) -> tuple[str, ...]:
    """The fields of callback data made by `pack_callback(prefix, ...)`; ValueError for anything else.

    Callback data comes back from the client and can be forged, so the shape is checked strictly.
    """
    if len(data.encode("utf-8", "replace")) > CALLBACK_DATA_LIMIT:
        raise ValueError("callback data too long")
    head, _, rest = data.partition(":")
    if head != prefix:
        raise ValueError(f"callback data is not for {prefix!r}")
    values = tuple(rest.split(":")) if fields else ()
    if len(values) != fields or (fields == 0 and rest):
        raise ValueError(f"callback data for {prefix!r} needs {fields} fields")
    return values


def short_token(value: str, length: int = 10) -> str:
    """A stable, URL- and callback-safe token for a long id (base32 of BLAKE2b, lower case)."""
    if not 4 <= length <= 52:
        raise ValueError("token length must be 4..52")
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=32).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:length]
