"""Deterministic generator of the demo scenario (kolwatch/demo_data/scenario.json).

Invented data only: fictional brands (鹿角咖啡 with competitors 星巢咖啡 and 酷豆咖啡; 青禾手机 with
competitor 远山手机), invented accounts across tiers (头部 ~3M followers, 腰部 ~300k, 尾部 ~30k,
KOC, 素人) on Weibo and Bilibili, about 7 days of ordinary background posts, and in the last ~4 hours
a food-safety incident for 鹿角咖啡 (several times the baseline volume, a 头部 KOL post, copy-paste
waves) that also reaches the Weibo hot list.

Run `python -m kolwatch.demo_data.generate` to rewrite scenario.json; the same seed gives the same file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

SEED = 20240321
DAYS = 7
OUT = Path(__file__).with_name("scenario.json")

COFFEE = {
    "鹿角咖啡": {"aliases": ["鹿角", "LuJiao"], "rate": 3.0},
    "星巢咖啡": {"aliases": ["星巢"], "rate": 2.0},
    "酷豆咖啡": {"aliases": ["酷豆"], "rate": 2.0},
}
PHONES = {"青禾手机": {"aliases": ["青禾"], "rate": 2.0}, "远山手机": {"aliases": ["远山"], "rate": 1.5}}
DRINKS = ["生椰拿铁", "燕麦拿铁", "冰美式", "冷萃", "桂花拿铁", "厚乳拿铁", "澳白", "橙C美式", "焦糖玛奇朵"]
PHONE_MODELS = {
    "青禾手机": ["青禾X5", "青禾X5 Pro", "青禾Note 3"],
    "远山手机": ["远山Pro 12", "远山S9", "远山Lite"],
}
CITIES = ["上海", "杭州", "成都", "北京", "深圳", "武汉", "南京", "长沙", "西安", "重庆"]
PLACES = ["地铁站旁边那家", "公司楼下", "商场三楼", "学校门口", "高铁站里", "步行街上"]

COFFEE_POS = [
    "今天在{city}{place}的{brand}买了杯{drink}，奶味刚好不腻，续命成功[赞]",
    "{brand}新出的{drink}真的可以，冰块少一点更好喝，推荐给打工人[心]",
    "第{n}次回购{brand}的{drink}，每天早上一杯已经成习惯了 #{short}上新#",
    "被同事安利了{brand}，{drink}居然比我常喝的那家还顺口[哈哈]",
    "{brand}店员小姐姐好温柔，记得我不要糖，{drink}一如既往稳定[太开心]",
    "周末带电脑去{brand}坐了一下午，环境安静，{drink}也在线，适合赶稿",
    "{brand}的会员券太香了，{drink}算下来十几块，性价比可以[doge]",
    "下雨天一杯热的{drink}，{brand}今天也没有让我失望[抱抱]",
]
COFFEE_NEG = [
    "{city}{place}的{brand}排队排了二十分钟，{drink}还做错了，有点无语[怒]",
    "{brand}的{drink}今天特别淡，像兑了水，是换豆子了吗[疑问]",
    "外卖点的{brand}送到洒了一半，客服说只能补券[汗]",
    "{brand}涨价了吧？{drink}比上个月贵了三块，钱包顶不住",
    "{brand}小程序下单一直转圈，取餐码都出不来，差评[怒]",
]
COFFEE_NEU = [
    "{brand}在{city}开了第{n}家门店，据说主打{drink} #{short}新店#",
    "路过{city}{place}，{brand}门口又在搞第二杯半价",
    "有人喝过{brand}的{drink}吗？和{other}的比哪个好",
    "{brand}和{other}都出了秋季限定，纠结今天喝哪个",
    "{brand}发布季度数据，门店数和会员数都有增长 #咖啡行业#",
    "据说{brand}要和某动画联名了，不知道周边好不好抢",
]
PHONE_POS = [
    "换了{model}一周，续航真的顶，一天重度使用还剩三成电[赞]",
    "{model}拍夜景比我想的好太多，发几张{city}的夜景给大家看看",
    "{brand}这次系统更新很丝滑，{model}用起来不卡了[哈哈]",
    "给爸妈买了{model}，字大声音大，老人家很满意[心]",
]
PHONE_NEG = [
    "{model}玩游戏发热有点严重，夏天拿着烫手[汗]",
    "{brand}售后太慢了，{model}换屏等了两周[怒]",
    "{model}信号在地铁里老是掉，{brand}能不能修一下",
]
PHONE_NEU = [
    "{brand}发布会定档下周，{model}的继任者要来了 #{short}发布会#",
    "{model}和{other}的新机参数对比，大家觉得哪个值",
    "{brand}官方公布{model}首销数据，还在等第三方评测",
]
INCIDENT_TEMPLATES = [
    "在{city}{place}的鹿角咖啡买的{drink}，喝到一半发现杯底有异物，像是塑料片[怒] #鹿角咖啡喝出异物#",
    "看到鹿角咖啡喝出异物的新闻，我昨天刚喝过同一款{drink}，现在有点慌[衰]",
    "鹿角咖啡的食品安全到底谁来管？门店后厨视频也太吓人了 #鹿角咖啡喝出异物#",
    "已经退了鹿角的会员，{drink}再好喝也不敢喝了[拜拜]",
    "鹿角咖啡客服回应说会调查，但是到现在没有公开说法[怒] #鹿角咖啡回应#",
    "朋友在{city}的鹿角门店也遇到过类似的问题，这不是第一次了吧",
    "LuJiao coffee这次翻车翻得有点大，{drink}里喝出异物太离谱了",
    "等一个鹿角咖啡的正式道歉，异物到底是什么要说清楚 #鹿角咖啡喝出异物#",
    "鹿角咖啡门店被曝卫生问题，市场监管部门已介入调查 #鹿角咖啡喝出异物#",
]
COPY_WAVES = [
    "鹿角咖啡喝出异物，食品安全无小事，必须给消费者一个交代！#鹿角咖啡喝出异物#",
    "抵制鹿角咖啡！门店卫生这么差还有人喝？转发让更多人看到 #鹿角咖啡喝出异物#",
]
LONG_TAIL = (
    "\n说几点个人看法：第一，连锁品牌扩张太快，门店培训跟不上是常见问题；第二，出问题后的响应速度"
    "比问题本身更重要，官方越拖越被动；第三，消费者能做的是保留小票和照片，通过正规渠道投诉。"
    "希望这次能有一个透明的调查结果，也希望整个现制饮品行业都能引以为戒。"
)


def _accounts() -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = []

    def add(
        platform: str, uid: str, name: str, followers: int, vt: int = -1, desc: str = "", paging: str = ""
    ) -> None:
        row: dict[str, Any] = {
            "platform": platform,
            "id": uid,
            "name": name,
            "followers": followers,
            "verified_type": vt,
            "description": desc,
        }
        if paging:
            row["paging"] = paging
        accounts.append(row)

    add("weibo", "6100000001", "咖啡研究所所长", 3_020_000, 0, "知名美食博主 咖啡从业十年", "since_id")
    add("weibo", "6100000002", "城市探店日记", 312_000, 0, "探店 | 吃喝玩乐", "page")
    add("weibo", "6100000003", "小鹿爱喝拿铁", 31_500, -1, "一天不喝咖啡会死星人", "since_id")
    add("weibo", "6100000004", "数码老炮", 2_480_000, 0, "科技博主 手机评测", "page")
    add("weibo", "6100000005", "科技小白测评", 287_000, 220, "用小白能听懂的话讲手机", "since_id")
    add("weibo", "6100000010", "鹿角咖啡官方微博", 865_000, 2, "鹿角咖啡官方账号", "since_id")
    add("weibo", "6100000011", "星巢咖啡", 1_210_000, 2, "星巢咖啡官方账号", "page")
    add("weibo", "6100000012", "酷豆咖啡", 402_000, 2, "酷豆咖啡官方账号", "since_id")
    add("weibo", "6100000013", "青禾手机", 1_960_000, 2, "青禾手机官方微博", "page")
    add("weibo", "6100000014", "远山手机", 1_150_000, 2, "远山手机官方微博", "since_id")
    kocs = ["拿铁少冰", "周末去哪儿喝", "打工人续命指南", "阿杰的数码日常", "南京吃货小分队", "搞机少女"]
    for i, name in enumerate(kocs):
        add("weibo", f"62000000{i:02d}", name, 2_000 + 1_100 * i, -1, "", "page" if i % 2 else "since_id")
    regular = [
        "momo",
        "今天也要加油鸭",
        "橘子汽水",
        "一只胖虎",
        "小王同学",
        "风吹麦浪",
        "不吃香菜",
        "夜猫子",
        "阿珍",
        "晴天娃娃",
        "大白兔",
        "咸鱼翻身",
        "山海",
        "木子李",
        "北方的狼",
        "奶茶续命",
        "慢慢来",
        "草莓味的风",
        "老陈",
        "小雨点",
        "十一",
        "半糖",
        "柠檬精",
        "好好吃饭",
        "阿木",
    ]
    for i, name in enumerate(regular):
        add("weibo", f"63000000{i:02d}", name, 20 + 31 * i, -1, "", "page" if i % 3 else "since_id")
    add("bilibili", "100000001", "咖啡实验室阿北", 1_180_000, 0, "每周一杯咖啡实验")
    add("bilibili", "100000002", "数码老炮Official", 2_950_000, 0, "手机评测 | 开箱")
    add("bilibili", "100000003", "探店小分队", 296_000, -1, "城市探店vlog")
    add("bilibili", "100000004", "学生党测评", 28_400, -1, "穷学生的真实测评")
    add("bilibili", "100000005", "鹿角咖啡", 152_000, 1, "鹿角咖啡官方账号")
    return accounts


def _fill(rng: random.Random, template: str, brand: str, others: list[str], model: str = "") -> str:
    short = brand[:2]
    return template.format(
        brand=brand,
        short=short,
        drink=rng.choice(DRINKS),
        city=rng.choice(CITIES),
        place=rng.choice(PLACES),
        n=rng.randint(2, 60),
        other=rng.choice(others),
        model=model or brand,
    )


def build(seed: int = SEED) -> dict[str, Any]:
    rng = random.Random(seed)
    accounts = _accounts()
    weibo_people = [
        a["id"]
        for a in accounts
        if a["platform"] == "weibo" and a["followers"] < 400_000 and a["verified_type"] != 2
    ]
    head = {"咖啡": "6100000001", "手机": "6100000004"}
    official = {
        "鹿角咖啡": "6100000010",
        "星巢咖啡": "6100000011",
        "酷豆咖啡": "6100000012",
        "青禾手机": "6100000013",
        "远山手机": "6100000014",
    }
    raw: list[dict[str, Any]] = []

    def post(platform: str, author: str, text: str, minutes_ago: float, **extra: Any) -> dict[str, Any]:
        followers = next(a["followers"] for a in accounts if a["id"] == author)
        reach = max(1, followers // 2000)
        row = {
            "platform": platform,
            "author": author,
            "text": text,
            "minutes_ago": round(minutes_ago, 1),
            "likes": rng.randint(0, reach * 3 + 5),
            "reposts": rng.randint(0, reach + 2),
            "comments": rng.randint(0, reach + 3),
        }
        row.update(extra)
        raw.append(row)
        return row

    total_minutes = DAYS * 24 * 60
    for family, table, pools in (
        ("咖啡", COFFEE, (COFFEE_POS, COFFEE_NEG, COFFEE_NEU)),
        ("手机", PHONES, (PHONE_POS, PHONE_NEG, PHONE_NEU)),
    ):
        brands = list(table)
        for brand, spec in table.items():
            others = [b for b in brands if b != brand]
            count = int(spec["rate"] * DAYS * 24)
            for _ in range(count):
                minutes_ago = rng.uniform(180, total_minutes)
                roll = rng.random()
                pool = pools[0] if roll < 0.45 else pools[1] if roll < 0.65 else pools[2]
                model = rng.choice(PHONE_MODELS[brand]) if family == "手机" else ""
                text = _fill(rng, rng.choice(pool), brand, others, model)
                if rng.random() < 0.25:
                    alias = rng.choice(spec["aliases"])
                    text = text.replace(brand, alias, 1)
                author = rng.choice(weibo_people)
                if rng.random() < 0.04:
                    author = official[brand]
                elif rng.random() < 0.02:
                    author = head[family]
                post("weibo", author, text, minutes_ago, long=rng.random() < 0.03)
                if rng.random() < 0.03:  # 水军-style copies of an ordinary post
                    for _ in range(rng.randint(2, 4)):
                        post(
                            "weibo",
                            rng.choice(weibo_people),
                            text + rng.choice(["", "！", " 同感", "+1"]),
                            minutes_ago - rng.uniform(1, 30),
                        )
    # The incident: last ~4 hours (~24 posts/h against ~3-5), a 头部 KOL, copy-paste waves. Four
    # hours, not three: at ~5 scored posts per ordinary hour the hourly sentiment detector needs
    # about three closed incident hours, and the demo runs at any minute of the hour.
    for _ in range(95):
        post(
            "weibo",
            rng.choice(weibo_people),
            _fill(rng, rng.choice(INCIDENT_TEMPLATES), "鹿角咖啡", ["星巢咖啡"]),
            rng.uniform(1, 235),
        )
    kol = post(
        "weibo",
        head["咖啡"],
        "鹿角咖啡喝出异物这件事，我联系了当事人也看了照片，情况基本属实[怒] #鹿角咖啡喝出异物#" + LONG_TAIL,
        95.0,
        long=True,
        likes=48_000,
        reposts=12_500,
        comments=9_800,
    )
    for wave, text in enumerate(COPY_WAVES):
        start = 80 - wave * 45
        for _ in range(18):
            post("weibo", rng.choice(weibo_people), text, start - rng.uniform(0, 20))
    post(
        "weibo",
        official["鹿角咖啡"],
        "关于网传门店饮品异物一事，我们已第一时间下架相关批次原料并配合监管部门调查，"
        "调查结果将第一时间公布。给大家带来困扰，深表歉意。",
        40.0,
        likes=3_200,
        reposts=900,
        comments=5_600,
    )
    # Bilibili videos: background reviews and a few about the incident.
    video_topics = [
        ("咖啡实验", "100000001", ["鹿角咖啡", "星巢咖啡", "酷豆咖啡"]),
        ("开箱", "100000002", ["青禾X5", "远山Pro 12", "青禾Note 3"]),
        ("探店", "100000003", ["鹿角咖啡", "酷豆咖啡"]),
        ("测评", "100000004", ["青禾X5 Pro", "远山S9", "星巢咖啡"]),
    ]
    for _ in range(140):
        kind, mid, subjects = rng.choice(video_topics)
        subject = rng.choice(subjects)
        title = rng.choice(
            [
                f"【{kind}】{subject}到底值不值？真实体验一周",
                f"{subject}深度{kind}：优缺点都在这里了",
                f"花了三百块，把{subject}全系列{kind}了一遍",
                f"{subject}新品{kind}，这次有惊喜吗",
            ]
        )
        desc = rng.choice(["不是广告，自费购买。", "欢迎在评论区说说你的体验~", "有问题请指出，下期见！", ""])
        post(
            "bilibili",
            mid,
            desc,
            rng.uniform(180, total_minutes),
            title=title,
            views=rng.randint(2_000, 900_000),
        )
    for minutes_ago, title in (
        (60.0, "鹿角咖啡异物事件始末，我们去了涉事门店"),
        (30.0, "鹿角咖啡还能喝吗？聊聊连锁咖啡的食品安全"),
    ):
        post(
            "bilibili",
            "100000003",
            "整理了目前能确认的信息，不带节奏。",
            minutes_ago,
            title=title,
            views=420_000,
        )
    post(
        "bilibili",
        "100000005",
        "官方情况说明",
        35.0,
        title="鹿角咖啡关于门店饮品异物事件的说明",
        views=88_000,
    )

    # Ids grow with time like the real platforms': Weibo mids, Bilibili BV ids (here just unique).
    raw.sort(key=lambda r: -r["minutes_ago"])
    weibo_posts = [r for r in raw if r["platform"] == "weibo"]
    for i, row in enumerate(weibo_posts):
        row["id"] = str(5_010_000_000_000_000 + i * 97)
    for i, row in enumerate(r for r in raw if r["platform"] == "bilibili"):
        row["id"] = f"BV1kw{i:06d}"
    # Reposts of earlier posts, one of whose original has been deleted.
    for row in rng.sample(weibo_posts[100:], 40):
        earlier = [r for r in weibo_posts if r["minutes_ago"] > row["minutes_ago"] + 30]
        if earlier:
            row["repost_of"] = rng.choice(earlier[-200:])["id"]
            row["text"] = rng.choice(["转发微博", "说得对", "马一下", "[doge]"]) + "//" + row["text"][:30]
    weibo_posts[-5]["repost_of"] = "5009999999999999"  # a deleted original (user null)
    kol_index = weibo_posts.index(kol)
    for row in weibo_posts[kol_index + 1 : kol_index + 40 : 3]:
        row["repost_of"] = kol["id"]
        row["text"] = "转发微博"
    hot = {
        "weibo": [
            {"word": "高考倒计时", "num": 2_310_000, "label": "热"},
            {"word": "某地暴雨预警", "num": 1_980_000, "label": ""},
            {"word": "鹿角咖啡喝出异物", "num": 1_560_000, "label": "沸"},
            {"word": "周末去哪儿玩", "num": 820_000, "label": ""},
            {"word": "青禾X5续航实测", "num": 410_000, "label": "新"},
            {"word": "鹿角咖啡回应", "num": 390_000, "label": "新"},
        ]
    }
    return {
        "seed": seed,
        "brands": {"coffee": ["鹿角咖啡", "星巢咖啡", "酷豆咖啡"], "phone": ["青禾手机", "远山手机"]},
        "accounts": accounts,
        "posts": raw,
        "hot": hot,
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
