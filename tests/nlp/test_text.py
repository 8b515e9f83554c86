"""Normalisation: folding, entity extraction, hostile input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.text import fold, normalize, split_emoticons


def test_traditional_and_full_width_fold() -> None:
    n = normalize("這個產品ＡＢＣ１２３，真的很讚！")
    assert n.text == "这个产品ABC123,真的很赞!"


def test_entities_extracted_and_body_cleaned() -> None:
    raw = "新品上线 #奶茶测评# @小红 看这里 https://t.cn/A6xYz 好喝[哈哈][doge] //@转发人:太甜了"
    n = normalize(raw)
    assert n.hashtags == ("奶茶测评",)
    assert n.mentions == ("小红", "转发人")
    assert n.urls == ("https://t.cn/A6xYz",)
    assert n.emoticons == ("[哈哈]", "[doge]")
    assert "@" not in n.body and "http" not in n.body and "#" not in n.body
    assert "奶茶测评" in n.body and "[哈哈]" in n.body and "太甜了" in n.body
    assert n.text.startswith("新品上线 #奶茶测评# @小红")


def test_repeats_and_whitespace_fold() -> None:
    assert normalize("哈哈哈哈哈哈哈   好\n\n\t吃！！！！！").text == "哈哈哈 好 吃!!!"
    assert normalize("[赞][赞][赞][赞][赞][赞]").text == "[赞][赞][赞]"


def test_invisible_and_control_characters_removed() -> None:
    assert normalize("瑞\u200b幸\u202e咖\x00啡\ufeff").text == "瑞幸咖啡"


def test_not_entities() -> None:
    n = normalize("联系 someone@example.com 参考[1] 价格#3 单个#号")
    assert n.mentions == ()
    assert n.emoticons == ()
    assert n.hashtags == ()


def test_mastodon_style_tags_and_url_punctuation() -> None:
    n = normalize("Trying #coffee today, see https://example.org/a?b=1).")
    assert n.hashtags == ("coffee",)
    assert n.urls == ("https://example.org/a?b=1",)


def test_weibo_link_placeholder_removed_from_body() -> None:
    assert normalize("看这个 O网页链接 展开全文").body == "看这个"


def test_fold_terms_like_texts() -> None:
    assert fold("瑞幸咖啡 ") == "瑞幸咖啡"
    assert fold("蜜雪冰城") == fold("蜜雪冰城")
    assert fold("庫迪") == "库迪"


def test_split_emoticons_keeps_codes_whole() -> None:
    assert split_emoticons("好[允悲]的[笑cry]") == [
        ("好", False),
        ("[允悲]", True),
        ("的", False),
        ("[笑cry]", True),
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_normalize_never_raises_and_is_idempotent_on_text(raw: str) -> None:
    n = normalize(raw)
    assert n.text == n.text.strip()
    assert "  " not in n.text
    assert normalize(n.text).text == n.text
    assert all(e.startswith("[") and e.endswith("]") for e in n.emoticons)


def test_large_input() -> None:
    raw = ("很好吃的蛋糕[哈哈] " * 10_000)[:100_000]
    n = normalize(raw)
    assert n.emoticons == ("[哈哈]",)
    assert len(n.text) > 50_000
