"""Collectors package: the explicit platform -> Collector class registry.

`COLLECTORS[platform]` is how the pipeline finds a collector; adding a platform means adding one
line here, nothing is discovered by import magic.
"""

from __future__ import annotations

from collectors.base import Collector, registry
from collectors.bilibili import BilibiliCollector
from collectors.hotlists import HotlistCollector
from collectors.mastodon import MastodonCollector
from collectors.rss import RssCollector
from collectors.webpage import WebpageCollector
from collectors.weibo import WeiboCollector

COLLECTORS: dict[str, type[Collector]] = registry(
    WeiboCollector,
    BilibiliCollector,
    HotlistCollector,
    RssCollector,
    MastodonCollector,
    WebpageCollector,
)
