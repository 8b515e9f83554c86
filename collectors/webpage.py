"""Web-page collector (`webpage`, kind `page`): news or forum list pages described by CSS selectors.

Also owns `html_to_text`, the HTML -> plain text conversion that the RSS and Mastodon collectors
share (feed descriptions and toot bodies are HTML fragments too).

Selectors come from the source options, falling back to `[collectors.webpage] selectors`:
`item` (one element per post, required), and inside an item `title`, `link`, `text`, `author`,
`time` (all optional; `link` defaults to the first `a[href]` of the item). A selector value may
end in `@attr` to read an attribute instead of the text, e.g. `time@datetime`. The post id is
the item's absolute link with the fragment dropped, so the same article seen twice is one post.

A page that matched `item` before (the cursor remembers it) and now matches nothing means the
site changed its layout: that is a ParseError, never an empty success. Items are in page order;
the cursor keeps the ids already seen, so a run yields only items that are new.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.element import NavigableString, Tag
from pydantic import BaseModel, ConfigDict, Field

from collectors.base import (
    Author,
    Collector,
    CollectorError,
    CollectorSettings,
    Page,
    ParseError,
    Post,
    SourceSpec,
)
from collectors.http import clean_text, fetch_text, parse_time

PLATFORM = "webpage"

# Elements whose boundaries are line breaks in the rendered text.
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "dd",
        "dt",
        "figure",
        "figcaption",
    }
)
_DROP_TAGS = ("script", "style", "iframe", "noscript", "template", "video", "audio", "object")
# Emoticon images carry their code in alt ("[哈哈]", "[doge]"); keeping the code lets the NLP stage
# count emoticons. Other image alts are usually filenames or "image" and would only be noise.
_EMOTICON_ALT = re.compile(r"^\[[^\[\]\s]{1,12}\]$")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


def _soup(html: str | bytes) -> BeautifulSoup:
    with warnings.catch_warnings():
        # Short fragments that look like a URL or a filename trigger these; we always mean markup.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        # Lone surrogates (half an emoji) make lxml raise UnicodeEncodeError.
        return BeautifulSoup(clean_text(html) if isinstance(html, str) else html, "lxml")


def html_to_text(html: str | None) -> str:
    """Plain text of an HTML fragment: `<br>` and block ends become newlines, scripts and players
    are dropped, emoticon `<img alt="[..]">` codes are kept, runs of spaces collapse, and blank
    lines are removed. Never raises on malformed markup (lxml repairs it)."""

    if not html:
        return ""
    html = clean_text(html)  # _soup cleans too, but the plain-text path must not keep them either
    if "<" not in html and "&" not in html:
        return _normalise_lines(html)
    soup = _soup(html)
    return _normalise_lines(_element_text(soup))


def _element_text(root: Tag) -> str:
    for tag in root.find_all(_DROP_TAGS):
        tag.decompose()
    parts: list[str] = []
    for node in root.descendants:
        if isinstance(node, NavigableString):
            if type(node) is NavigableString:  # skip comments, CDATA markers, doctypes
                parts.append(str(node))
        elif isinstance(node, Tag):
            if node.name == "br":
                parts.append("\n")
            elif node.name == "img":
                alt = node.get("alt")
                if isinstance(alt, str) and _EMOTICON_ALT.match(alt.strip()):
                    parts.append(alt.strip())
            elif node.name in _BLOCK_TAGS:
                parts.append("\n")
    return "".join(parts)


def _normalise_lines(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------------------------
# Selector-described pages


class Selectors(BaseModel):
    """CSS selectors for one page layout. `field@attr` reads an attribute of the match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str = Field(min_length=1)
    title: str = ""
    link: str = ""
    text: str = ""
    author: str = ""
    time: str = ""


class WebpageSettings(CollectorSettings):
    """`[collectors.webpage]`: default selectors for sources that do not carry their own."""

    selectors: Selectors | None = None
    # How many seen ids the cursor remembers; list pages show far fewer items than this.
    max_seen: int = Field(default=1000, ge=10)


@dataclass(frozen=True, slots=True)
class PageItems:
    """Result of parsing one page: the posts in page order and how many items matched."""

    posts: tuple[Post, ...]
    matched: int


def selectors_for(source: SourceSpec, settings: WebpageSettings) -> Selectors:
    """The source's `selectors` option (a mapping) or the settings default; CollectorError if neither."""

    raw = source.options.get("selectors")
    if raw is None:
        if settings.selectors is None:
            raise CollectorError(
                f"webpage source {source.target!r} has no selectors: set options.selectors or "
                "[collectors.webpage] selectors",
                url=source.target,
            )
        return settings.selectors
    if not isinstance(raw, Mapping):
        raise CollectorError(
            f"webpage selectors must be a table, got {type(raw).__name__}", url=source.target
        )
    try:
        return Selectors.model_validate(dict(raw))
    except ValueError as exc:
        raise CollectorError(
            f"bad webpage selectors for {source.target!r}: {exc}", url=source.target
        ) from exc


def _split_selector(spec: str) -> tuple[str, str | None]:
    css, sep, attr = spec.rpartition("@")
    if sep and css and attr and re.fullmatch(r"[\w:-]+", attr):
        return css.strip(), attr
    return spec.strip(), None


def _select_value(item: Tag, spec: str) -> tuple[str, Tag | None]:
    """Text (or attribute) of the first match of `spec` inside `item`, and the matched tag."""

    css, attr = _split_selector(spec)
    try:
        found = item.select_one(css)
    except Exception as exc:  # soupsieve raises its own SelectorSyntaxError (a ValueError) or others
        raise CollectorError(f"invalid CSS selector {spec!r}: {exc}") from exc
    if found is None:
        return "", None
    if attr is not None:
        value = found.get(attr)
        if isinstance(value, list):
            value = " ".join(value)
        return (value or "").strip(), found
    return html_to_text(found.decode_contents()), found


def parse_page(
    body: bytes | str,
    *,
    page_url: str,
    selectors: Selectors,
    fetched_at: datetime,
) -> PageItems:
    """Posts described by `selectors` on one HTML page.

    Times go through http.py's `parse_time` ("5分钟前", "03-21 12:30", ISO, RFC 822 ...), relative
    to `fetched_at`. An item without a time element (list pages often show none, pinned items
    neither) is dated `fetched_at`, the moment we first saw it; a time element whose text cannot
    be read is a ParseError (the site changed its format), never a guessed date. Raises
    ParseError for a body that is not HTML, CollectorError for an invalid selector.
    """

    if isinstance(body, bytes) and b"\x00" in body[:1024]:
        raise ParseError("page body is binary, not HTML", url=page_url)
    try:
        soup = _soup(body)
    except Exception as exc:  # lxml can still fail on some encodings
        raise ParseError(f"page is not parseable HTML: {exc}", url=page_url) from exc
    try:
        items = soup.select(selectors.item)
    except Exception as exc:
        raise CollectorError(f"invalid CSS selector {selectors.item!r}: {exc}", url=page_url) from exc

    site = urlsplit(page_url).netloc
    posts: dict[str, Post] = {}
    for item in items:
        post = _item_post(item, page_url=page_url, site=site, selectors=selectors, fetched_at=fetched_at)
        if post is not None and post.post_id not in posts:
            posts[post.post_id] = post
    return PageItems(posts=tuple(posts.values()), matched=len(items))


def _item_post(
    item: Tag,
    *,
    page_url: str,
    site: str,
    selectors: Selectors,
    fetched_at: datetime,
) -> Post | None:
    href = ""
    if selectors.link:
        css, attr = _split_selector(selectors.link)
        href = _select_value(item, f"{css}@{attr or 'href'}")[0]
    else:
        anchor = item if item.name == "a" and item.get("href") else item.find("a", href=True)
        if isinstance(anchor, Tag):
            href = str(anchor.get("href") or "")
    href = href.strip()
    if not href or href.lower().startswith(("javascript:", "mailto:", "#")):
        return None  # an item without a link has no stable identity; ads and separators look like this
    url = urldefrag(urljoin(page_url, href)).url
    if urlsplit(url).scheme not in ("http", "https"):
        return None

    title = _select_value(item, selectors.title)[0] if selectors.title else ""
    text = _select_value(item, selectors.text)[0] if selectors.text else ""
    if not title and not text:
        title = html_to_text(item.decode_contents())
    author_name = _select_value(item, selectors.author)[0] if selectors.author else ""
    created_at = fetched_at
    if selectors.time:
        raw_time = _select_value(item, selectors.time)[0]
        if raw_time:
            try:
                created_at = parse_time(raw_time, now=fetched_at)
            except ParseError as exc:
                raise ParseError(f"item time {raw_time[:40]!r} is unreadable: {exc}", url=url) from None

    author = Author(
        platform=PLATFORM,
        author_id=f"{site}:{author_name}" if author_name else site,
        name=author_name or site,
        url=f"{urlsplit(page_url).scheme}://{site}/" if not author_name else "",
    )
    full_text = text if not title else (title if not text else f"{title}\n{text}")
    return Post(
        platform=PLATFORM,
        post_id=url,
        url=url,
        author=author,
        text=full_text,
        created_at=created_at,
        kind="article",
        title=title,
        raw={"page": page_url, "href": href, "title": title, "author": author_name},
    )


def select_new(
    parsed: PageItems, cursor: Mapping[str, Any], *, max_seen: int, page_url: str
) -> tuple[tuple[Post, ...], dict[str, Any]]:
    """Posts not seen before, and the cursor after them.

    Raises ParseError when `item` matched on an earlier run (cursor `matched_before`) and matches
    nothing now, or when items matched but none had a usable link (the link selector broke).
    """

    matched_before = bool(cursor.get("matched_before"))
    if parsed.matched == 0 and matched_before:
        raise ParseError(
            "item selector matched nothing on a page where it used to match: layout changed", url=page_url
        )
    if parsed.matched > 0 and not parsed.posts:
        raise ParseError(
            f"item selector matched {parsed.matched} elements but none had a usable link", url=page_url
        )
    seen_list = [s for s in cursor.get("seen", []) if isinstance(s, str)]
    seen = set(seen_list)
    new = tuple(p for p in parsed.posts if p.post_id not in seen)
    merged = [p.post_id for p in new] + seen_list
    next_cursor: dict[str, Any] = {
        "seen": merged[:max_seen],
        "matched_before": matched_before or parsed.matched > 0,
    }
    return new, next_cursor


_PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


class WebpageCollector(Collector):
    """Fetches one page per run and yields the items not seen before."""

    name = "webpage"
    kinds = frozenset({"page"})
    Settings = WebpageSettings

    def __init__(self, client: httpx.AsyncClient, settings: CollectorSettings) -> None:
        if not isinstance(settings, WebpageSettings):
            settings = WebpageSettings.model_validate(settings.model_dump())
        super().__init__(client, settings)
        self.page_settings: WebpageSettings = settings

    async def collect(self, source: SourceSpec, cursor: Mapping[str, Any]) -> AsyncIterator[Page]:
        if source.kind not in self.kinds:
            raise CollectorError(f"webpage has no kind {source.kind!r}; use 'page'")
        url = source.target.strip()
        if self.page_settings.base_url and url.startswith("/"):
            url = self.page_settings.base_url.rstrip("/") + url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CollectorError(f"webpage target must be an http(s) URL, got {source.target!r}")
        selectors = selectors_for(source, self.page_settings)
        html = await fetch_text(
            self.client, url, headers={"Accept": _PAGE_ACCEPT}, source_key=f"webpage:{url}"
        )
        parsed = parse_page(html, page_url=url, selectors=selectors, fetched_at=datetime.now(UTC))
        new, next_cursor = select_new(parsed, cursor, max_seen=self.page_settings.max_seen, page_url=url)
        yield Page(cursor=next_cursor, posts=new)
