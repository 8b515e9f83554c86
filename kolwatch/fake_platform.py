"""A local fake Weibo + Bilibili server for tests and the demo, generated from a scenario.

It serves m.weibo.cn-shaped and api.bilibili.com-shaped JSON (the shapes of the recorded fixtures)
on 127.0.0.1 and a free port, with real pagination (Weibo `since_id` or `page` per account,
Bilibili `pn`), WBI signature checking, and faults injected on request:

    server = FakePlatform(load_scenario())
    base_url = await server.start()          # or server.start_in_thread() from sync code
    server.inject("429", path="/api/container/getIndex", times=2, retry_after=3)
    ...                                       # point collectors' base_url at base_url
    server.requests                           # [(t, path, query)] with t from the server's clock
    await server.stop()                       # or server.stop_thread()

Fault kinds: slow, 429, 418, 432, 500, login_redirect, login_html, truncated, html, -352, -412,
captcha (weibo ok:-100 captcha), ok-100 (weibo ok:-100 login). A scenario holds accounts and posts
whose times are `minutes_ago` relative to the server's `now`.
"""

from __future__ import annotations

import asyncio
import html as html_lib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from collectors.bilibili import sign_wbi
from collectors.http import SHANGHAI, Clock, SystemClock

FAULTS = frozenset(
    {"slow", "429", "418", "432", "500", "login_redirect", "login_html", "truncated", "html", "-352", "-412",
     "captcha", "ok-100"}
)  # fmt: skip

# Our own WBI keys (32 hex chars each, like the real ones); the server checks signatures with them.
FAKE_IMG_KEY = "0d3f5a7c9e1b2d4f6a8c0e2b4d6f8a1c"
FAKE_SUB_KEY = "9b7d5f3a1c8e6b4d2f0a9c7e5b3d1f8a"
FAKE_BUVID3 = "6C1E2A3B-0000-4F00-9C00-123456789ABC00000infoc"


def load_scenario(path: str | Path | None = None) -> dict[str, Any]:
    """The bundled demo scenario (kolwatch/demo_data/scenario.json) or the one at `path`."""

    if path is None:
        text = resources.files("kolwatch").joinpath("demo_data/scenario.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("accounts"), list)
        or not isinstance(data.get("posts"), list)
    ):
        raise ValueError("scenario must be an object with 'accounts' and 'posts' lists")
    return data


@dataclass
class Fault:
    kind: str
    path: str | None  # None: every path
    times: int
    retry_after: float = 1.0
    delay: float = 1.0


@dataclass(frozen=True)
class RecordedRequest:
    t: float
    path: str
    query: Mapping[str, str]
    status: int


@dataclass
class _Post:
    platform: str
    post_id: str
    author: str
    text: str
    created: datetime
    likes: int
    reposts: int
    comments: int
    views: int
    repost_of: str | None
    long: bool
    title: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


class FakePlatform:
    """The fake server. `clock` times requests and slow faults; `now` anchors `minutes_ago`."""

    def __init__(
        self,
        scenario: Mapping[str, Any],
        *,
        clock: Clock | None = None,
        now: datetime | None = None,
        page_size: int = 10,
        check_wbi: bool = True,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.now = (now or datetime.now(UTC)).astimezone(UTC)
        self.page_size = page_size
        self.check_wbi = check_wbi
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.accounts: dict[tuple[str, str], dict[str, Any]] = {}
        for account in scenario["accounts"]:
            self.accounts[(account["platform"], str(account["id"]))] = account
        self.posts: dict[str, list[_Post]] = {"weibo": [], "bilibili": []}
        self.by_id: dict[str, _Post] = {}
        for raw in scenario["posts"]:
            post = _Post(
                platform=raw["platform"],
                post_id=str(raw["id"]),
                author=str(raw["author"]),
                text=raw["text"],
                created=self.now - timedelta(minutes=float(raw["minutes_ago"])),
                likes=int(raw.get("likes", 0)),
                reposts=int(raw.get("reposts", 0)),
                comments=int(raw.get("comments", 0)),
                views=int(raw.get("views", 0)),
                repost_of=raw.get("repost_of"),
                long=bool(raw.get("long", False)),
                title=raw.get("title", ""),
            )
            if (post.platform, post.author) not in self.accounts:
                raise ValueError(f"post {post.post_id} has unknown author {post.author}")
            self.posts[post.platform].append(post)
            self.by_id[post.post_id] = post
        for posts in self.posts.values():
            posts.sort(key=lambda p: (p.created, p.post_id), reverse=True)
        self.hot: dict[str, list[dict[str, Any]]] = dict(scenario.get("hot", {}))
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.base_url = ""

    # ------------------------------------------------------------------------------- lifecycle

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        routes = [
            ("/api/container/getIndex", self._weibo_index),
            ("/statuses/extend", self._weibo_extend),
            ("/comments/hotflow", self._weibo_comments),
            ("/ajax/side/hotSearch", self._weibo_hot),
            ("/top/summary", self._weibo_hot_html),
            ("/signin/welcome", self._login_page),
            ("/x/web-interface/nav", self._bili_nav),
            ("/x/frontend/finger/spi", self._bili_spi),
            ("/x/web-interface/card", self._bili_card),
            ("/x/relation/stat", self._bili_stat),
            ("/x/space/wbi/arc/search", self._bili_arc),
            ("/x/web-interface/wbi/search/type", self._bili_search),
            ("/x/web-interface/view", self._bili_view),
            ("/x/v2/reply", self._bili_reply),
            ("/x/web-interface/popular", self._bili_popular),
        ]
        for path, handler in routes:
            app.router.add_get(path, handler)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakePlatform:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self, timeout: float = 10.0) -> str:
        """Run the server on its own event loop in a daemon thread (for sync callers)."""

        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller below
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="kolwatch-fake-platform", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("fake platform did not start in time")
        if errors:
            raise RuntimeError(f"fake platform failed to start: {errors[0]}") from errors[0]
        return self.base_url

    def stop_thread(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._thread = None
            self._loop = None

    # ---------------------------------------------------------------------------------- faults

    def inject(
        self,
        kind: str,
        *,
        path: str | None = None,
        times: int = 1,
        retry_after: float = 1.0,
        delay: float = 1.0,
    ) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {sorted(FAULTS)}")
        self.faults.append(Fault(kind, path, times, retry_after, delay))

    def clear_faults(self) -> None:
        self.faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and (fault.path is None or fault.path == path):
                fault.times -= 1
                return fault
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        t = self.clock.monotonic()
        fault = self._take_fault(request.path) if request.path != "/signin/welcome" else None
        response: web.StreamResponse
        if fault is not None and fault.kind == "slow":
            await self.clock.sleep(fault.delay)
            fault = None
        if fault is None:
            response = await handler(request)
        else:
            response = await self._fault_response(fault, request, handler)
        self.requests.append(RecordedRequest(t, request.path, dict(request.query), response.status))
        return response

    async def _fault_response(self, fault: Fault, request: web.Request, handler: Any) -> web.StreamResponse:
        kind = fault.kind
        if kind == "429":
            return web.Response(status=429, headers={"Retry-After": f"{fault.retry_after:g}"})
        if kind in ("418", "432", "500"):
            return web.Response(status=int(kind), text="")
        if kind == "login_redirect":
            raise web.HTTPFound("/signin/welcome?entry=mweibo&r=" + request.path)
        if kind == "login_html":
            return await self._login_page(request)
        if kind == "html":
            return web.Response(
                text="<!DOCTYPE html><html><body>系统繁忙，请稍后再试</body></html>", content_type="text/html"
            )
        if kind == "truncated":
            full = await handler(request)
            body = full.body if isinstance(full, web.Response) and isinstance(full.body, bytes) else b"{}"
            return web.Response(body=body[: max(1, len(body) // 2)], content_type="application/json")
        if kind == "-352":
            return web.json_response(
                {
                    "code": -352,
                    "message": "风控校验失败",
                    "ttl": 1,
                    "data": {"v_voucher": "voucher_fake-0001"},
                }
            )
        if kind == "-412":
            return web.json_response(
                {"code": -412, "message": "请求被拦截", "ttl": 1, "data": None}, status=412
            )
        if kind == "captcha":
            return web.json_response({"ok": -100, "url": "https://m.weibo.cn/captcha?scene=limit&referer=/"})
        return web.json_response({"ok": -100, "url": "https://passport.weibo.cn/signin/welcome?entry=mweibo"})

    async def _login_page(self, request: web.Request) -> web.Response:
        return web.Response(
            text="<html><head><title>微博 - 登录</title></head><body><form action='https://passport.weibo.cn/sso/login'>"
            "请先登录</form></body></html>",
            content_type="text/html",
        )

    # ----------------------------------------------------------------------------------- weibo

    def _weibo_time(self, when: datetime) -> str:
        local = when.astimezone(SHANGHAI)
        return local.strftime("%a %b %d %H:%M:%S +0800 %Y")

    def _weibo_user(self, uid: str) -> dict[str, Any]:
        account = self.accounts[("weibo", uid)]
        return {
            "id": int(uid),
            "screen_name": account["name"],
            "profile_url": f"https://m.weibo.cn/u/{uid}",
            "statuses_count": sum(1 for p in self.posts["weibo"] if p.author == uid),
            "verified": account.get("verified_type", -1) != -1,
            "verified_type": account.get("verified_type", -1),
            "description": account.get("description", ""),
            "follow_count": account.get("following", 100),
            "followers_count": account["followers"],
        }

    def _weibo_text(self, post: _Post, *, cut: bool) -> str:
        text = html_lib.escape(post.text)
        text = re.sub(
            r"#([^#\n]{1,40})#",
            lambda m: (
                f'<a href="https://m.weibo.cn/search?containerid=231522type%3D1%26q%3D%23{m.group(1)}%23">'
                f'<span class="surl-text">#{m.group(1)}#</span></a>'
            ),
            text,
        )
        text = re.sub(
            r"@([\w\u4e00-\u9fff-]{1,30})", lambda m: f"<a href='/n/{m.group(1)}'>@{m.group(1)}</a>", text
        )
        text = re.sub(
            r"\[([\u4e00-\u9fffa-z]{1,6})\]",
            lambda m: (
                f'<span class="url-icon"><img alt=[{m.group(1)}] src="//h5.sinaimg.cn/e/{m.group(1)}.png" '
                'style="width:1em; height:1em;" /></span>'
            ),
            text,
        )
        text = text.replace("\n", "<br />")
        if cut:
            text = (
                text[: max(20, len(text) // 2)].rsplit("<", 1)[0]
                + f' ...<a href="/status/{post.post_id}">全文</a>'
            )
        return text

    def _mblog(self, post: _Post, *, embed: bool = True) -> dict[str, Any]:
        mblog: dict[str, Any] = {
            "created_at": self._weibo_time(post.created),
            "id": post.post_id,
            "mid": post.post_id,
            "bid": f"Q{int(post.post_id) % 10**9:09d}",
            "text": self._weibo_text(post, cut=post.long),
            "source": "iPhone客户端",
            "user": self._weibo_user(post.author),
            "reposts_count": post.reposts,
            "comments_count": post.comments,
            "attitudes_count": post.likes,
            "isLongText": post.long,
        }
        if embed and post.repost_of:
            original = self.by_id.get(post.repost_of)
            if original is None:  # a deleted original: Weibo sends user null
                mblog["retweeted_status"] = {
                    "id": post.repost_of,
                    "mid": post.repost_of,
                    "user": None,
                    "text": "抱歉，此微博已被作者删除。",
                    "created_at": mblog["created_at"],
                }
            else:
                mblog["retweeted_status"] = self._mblog(original, embed=False)
        return mblog

    def _page(
        self, posts: list[_Post], query: Mapping[str, str], style: str
    ) -> tuple[list[_Post], dict[str, Any]]:
        size = self.page_size
        info: dict[str, Any] = {"total": len(posts)}
        if style == "since_id":
            start = 0
            if query.get("since_id"):
                since = int(query["since_id"])
                start = next((i for i, p in enumerate(posts) if int(p.post_id) <= since), len(posts))
            chunk = posts[start : start + size]
            rest = posts[start + size :]
            info["since_id"] = int(rest[0].post_id) if rest else 0
        else:
            page = max(1, int(query.get("page", "1") or 1))
            chunk = posts[(page - 1) * size : page * size]
            if page * size < len(posts):
                info["page"] = page + 1
        return chunk, info

    async def _weibo_index(self, request: web.Request) -> web.Response:
        query = request.query
        containerid = query.get("containerid", "")
        if containerid.startswith("100103"):
            params = dict(part.split("=", 1) for part in containerid[6:].split("&") if "=" in part)
            keyword = params.get("q", "")
            found = [p for p in self.posts["weibo"] if keyword and keyword in p.text]
            chunk, info = self._page(found, query, "page")
            return self._weibo_cards(chunk, info)
        uid = query.get("value", "") or containerid.removeprefix("107603").removeprefix("100505")
        account = self.accounts.get(("weibo", uid))
        if account is None:
            return web.json_response({"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}})
        if not containerid or containerid.startswith("100505"):
            return web.json_response(
                {
                    "ok": 1,
                    "data": {
                        "userInfo": self._weibo_user(uid),
                        "tabsInfo": {"tabs": [{"tab_type": "weibo", "containerid": f"107603{uid}"}]},
                    },
                }
            )
        posts = [p for p in self.posts["weibo"] if p.author == uid]
        chunk, info = self._page(posts, query, account.get("paging", "since_id"))
        return self._weibo_cards(chunk, info)

    def _weibo_cards(self, chunk: list[_Post], info: dict[str, Any]) -> web.Response:
        if not chunk:
            return web.json_response({"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}})
        cards = [{"card_type": 9, "mblog": self._mblog(p)} for p in chunk]
        return web.json_response({"ok": 1, "data": {"cardlistInfo": info, "cards": cards}})

    async def _weibo_extend(self, request: web.Request) -> web.Response:
        post = self.by_id.get(request.query.get("id", ""))
        if post is None:
            return web.json_response({"ok": 0, "msg": "微博不存在", "data": {}})
        return web.json_response(
            {
                "ok": 1,
                "data": {
                    "ok": 1,
                    "longTextContent": self._weibo_text(post, cut=False),
                    "reposts_count": post.reposts,
                    "comments_count": post.comments,
                    "attitudes_count": post.likes,
                },
            }
        )

    async def _weibo_comments(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": 1, "data": {"data": [], "total_number": 0, "max_id": 0, "max_id_type": 0}}
        )

    async def _weibo_hot(self, request: web.Request) -> web.Response:
        rows = [
            {
                "word": row["word"],
                "word_scheme": f"#{row['word']}#",
                "num": row["num"],
                "label_name": row.get("label", ""),
                "realpos": i,
                "rank": i - 1,
                "flag": 1,
            }
            for i, row in enumerate(self.hot.get("weibo", []), start=1)
        ]
        return web.json_response({"ok": 1, "data": {"realtime": rows, "hotgovs": []}})

    async def _weibo_hot_html(self, request: web.Request) -> web.Response:
        rows = "".join(
            f'<tr><td class="td-01 ranktop">{i}</td><td class="td-02"><a href="/weibo?q=%23{i}%23">'
            f"{html_lib.escape(row['word'])}</a><span>{row['num']}</span></td>"
            f'<td class="td-03"><i>{html_lib.escape(row.get("label", ""))}</i></td></tr>'
            for i, row in enumerate(self.hot.get("weibo", []), start=1)
        )
        return web.Response(
            text=f"<html><body><table><tbody>{rows}</tbody></table></body></html>", content_type="text/html"
        )

    # -------------------------------------------------------------------------------- bilibili

    def _bili(self, data: Any, code: int = 0, message: str = "0") -> web.Response:
        return web.json_response({"code": code, "message": message, "ttl": 1, "data": data})

    def _wbi_ok(self, request: web.Request) -> bool:
        if not self.check_wbi:
            return True
        params = dict(request.query)
        w_rid = params.pop("w_rid", None)
        wts = params.pop("wts", None)
        if w_rid is None or wts is None or not wts.isdigit():
            return False
        return sign_wbi(params, FAKE_IMG_KEY, FAKE_SUB_KEY, wts=int(wts))["w_rid"] == w_rid

    async def _bili_nav(self, request: web.Request) -> web.Response:
        img = {
            "img_url": f"https://i0.hdslb.com/bfs/wbi/{FAKE_IMG_KEY}.png",
            "sub_url": f"https://i0.hdslb.com/bfs/wbi/{FAKE_SUB_KEY}.png",
        }
        return self._bili({"isLogin": False, "wbi_img": img}, -101, "账号未登录")

    async def _bili_spi(self, request: web.Request) -> web.Response:
        return self._bili({"b_3": FAKE_BUVID3, "b_4": "FAKE-B4"}, 0, "ok")

    def _bili_account(self, mid: str) -> dict[str, Any] | None:
        return self.accounts.get(("bilibili", mid))

    async def _bili_card(self, request: web.Request) -> web.Response:
        mid = request.query.get("mid", "")
        account = self._bili_account(mid)
        if account is None:
            return self._bili(None, -404, "啥都木有")
        official = account.get("verified_type", -1)
        card = {
            "mid": mid,
            "name": account["name"],
            "fans": account["followers"],
            "attention": 50,
            "sign": account.get("description", ""),
            "Official": {"type": official, "title": "", "role": 0},
        }
        count = sum(1 for p in self.posts["bilibili"] if p.author == mid)
        return self._bili({"card": card, "follower": account["followers"], "archive_count": count})

    async def _bili_stat(self, request: web.Request) -> web.Response:
        mid = request.query.get("vmid", "")
        account = self._bili_account(mid)
        if account is None:
            return self._bili(None, -404, "啥都木有")
        return self._bili({"mid": int(mid), "following": 50, "follower": account["followers"]})

    def _video_item(self, post: _Post) -> dict[str, Any]:
        account = self.accounts[("bilibili", post.author)]
        return {
            "aid": int(post.post_id[2:], 36) % 10**9,
            "bvid": post.post_id,
            "title": post.title,
            "description": post.text,
            "created": int(post.created.timestamp()),
            "play": post.views,
            "comment": post.comments,
            "video_review": post.reposts,
            "author": account["name"],
            "mid": int(post.author),
            "length": "03:21",
        }

    async def _bili_arc(self, request: web.Request) -> web.Response:
        if not self._wbi_ok(request):
            return self._bili({"v_voucher": "voucher_fake-wbi"}, -352, "风控校验失败")
        mid = request.query.get("mid", "")
        if self._bili_account(mid) is None:
            return self._bili(None, -404, "啥都木有")
        posts = [p for p in self.posts["bilibili"] if p.author == mid]
        pn = max(1, int(request.query.get("pn", "1") or 1))
        ps = max(1, min(50, int(request.query.get("ps", "30") or 30)))
        chunk = posts[(pn - 1) * ps : pn * ps]
        return self._bili(
            {
                "list": {"vlist": [self._video_item(p) for p in chunk]},
                "page": {"pn": pn, "ps": ps, "count": len(posts)},
            }
        )

    async def _bili_search(self, request: web.Request) -> web.Response:
        if "buvid3=" not in request.headers.get("Cookie", ""):
            return self._bili(None, -412, "请求被拦截")
        if not self._wbi_ok(request):
            return self._bili({"v_voucher": "voucher_fake-wbi"}, -352, "风控校验失败")
        keyword = request.query.get("keyword", "")
        found = [p for p in self.posts["bilibili"] if keyword and (keyword in p.title or keyword in p.text)]
        page = max(1, int(request.query.get("page", "1") or 1))
        size = 20
        chunk = found[(page - 1) * size : page * size]
        result = []
        for post in chunk:
            item = self._video_item(post)
            item.update(
                {
                    "type": "video",
                    "pubdate": item["created"],
                    "review": post.comments,
                    "title": post.title.replace(keyword, f'<em class="keyword">{keyword}</em>'),
                }
            )
            result.append(item)
        pages = max(1, -(-len(found) // size))
        return self._bili(
            {"page": page, "pagesize": size, "numResults": len(found), "numPages": pages, "result": result}
        )

    async def _bili_view(self, request: web.Request) -> web.Response:
        post = self.by_id.get(request.query.get("bvid", ""))
        if post is None or post.platform != "bilibili":
            return self._bili(None, -404, "啥都木有")
        item = self._video_item(post)
        account = self.accounts[("bilibili", post.author)]
        return self._bili(
            {
                "bvid": post.post_id,
                "aid": item["aid"],
                "title": post.title,
                "desc": post.text,
                "pubdate": item["created"],
                "owner": {"mid": int(post.author), "name": account["name"]},
                "stat": {
                    "view": post.views,
                    "like": post.likes,
                    "reply": post.comments,
                    "share": post.reposts,
                    "coin": post.likes // 3,
                    "favorite": post.likes // 2,
                    "danmaku": post.comments * 2,
                },
            }
        )

    async def _bili_reply(self, request: web.Request) -> web.Response:
        return self._bili({"page": {"num": 1, "size": 20, "count": 0}, "replies": []})

    async def _bili_popular(self, request: web.Request) -> web.Response:
        top = sorted(self.posts["bilibili"], key=lambda p: p.views, reverse=True)[:20]
        items = [
            {"bvid": p.post_id, "title": p.title, "stat": {"view": p.views}, "tname": "生活"} for p in top
        ]
        return self._bili({"list": items, "no_more": True})
