"""MinHash signatures, LSH index and clustering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp import dedup

POST = "蜜雪冰城新品柠檬水今天第二杯半价，大家快去门店试试，真的超级好喝，冲冲冲"


def test_signature_is_stable_and_sized() -> None:
    sig = dedup.signature(POST)
    assert len(sig) == dedup.NUM_PERM
    assert sig == dedup.signature(POST)
    assert all(0 <= v < 2**31 for v in sig)
    assert dedup.signature("") == () and dedup.signature("@某人 http://t.cn/x [哈哈]") == ()


def test_copies_with_mentions_emoji_links_are_near_duplicates() -> None:
    copy = f"@水军{123} {POST}[doge] http://t.cn/abc //@另一个: 转发"
    a, b = dedup.signature(POST), dedup.signature(copy)
    assert dedup.similarity(a, b) >= 0.7
    other = dedup.signature("瑞幸咖啡发布了生椰拿铁的第三代配方，口感更顺滑，价格不变")
    assert dedup.similarity(a, other) < 0.2


def test_estimate_tracks_exact_jaccard() -> None:
    a = dedup.dedup_text(POST)
    b = dedup.dedup_text(POST[:-6] + "不好喝别去了")
    exact = dedup.jaccard(a, b)
    est = dedup.similarity(dedup.signature_of(a), dedup.signature_of(b))
    assert abs(exact - est) < 0.2


def test_short_texts_use_bigrams() -> None:
    assert dedup.shingles("好喝") == {"好喝"}
    assert dedup.shingles("瑞幸好喝") == {"瑞幸", "幸好", "好喝"}
    assert len(next(iter(dedup.shingles("一" * 20)))) == 3


def test_index_clusters_waves_and_keeps_distinct_posts_apart() -> None:
    texts = [
        POST,
        "今天下雨了，在家看电影吃火锅",
        POST + "[哈哈]",
        "@甲 " + POST,
        "今天下雨了，在家看电影吃火锅!!",
    ]
    assert dedup.cluster([dedup.signature(t) for t in texts]) == [0, 1, 0, 0, 1]


def test_index_rejects_wrong_sizes_and_empty_never_joins() -> None:
    index = dedup.NearDuplicateIndex()
    assert index.add("a", ()) == "a"
    assert index.add("b", ()) == "b"
    with pytest.raises(ValueError):
        index.add("c", (1, 2, 3))
    assert index.query((1, 2)) == []


def test_choose_bands() -> None:
    bands, rows = dedup.choose_bands(0.7)
    assert bands * rows <= dedup.NUM_PERM
    p = 1 - (1 - 0.8**rows) ** bands
    assert p > 0.95
    with pytest.raises(ValueError):
        dedup.choose_bands(1.0)


@given(st.text(max_size=200))
def test_signature_never_raises(text: str) -> None:
    sig = dedup.signature(text)
    assert len(sig) in (0, dedup.NUM_PERM)


def _reference_signature(reduced: str) -> tuple[int, ...]:
    # The definition, written the slow way: min over shingles of (a*crc32 + b) mod (2^31 - 1).
    import zlib

    from nlp.dedup import _A, _B, _PRIME, shingles

    grams = shingles(reduced)
    if not grams:
        return ()
    return tuple(
        min((int(a) * zlib.crc32(g.encode()) + int(b)) % _PRIME for g in grams)
        for a, b in zip(_A, _B, strict=True)
    )


def test_batched_signatures_match_the_definition_across_chunks() -> None:
    # Many texts, with empty and tiny ones (whole-text shingle, 2-grams) in between.
    texts = ["", "a", "好", "ab"] + [f"第{i}条微博内容重复转发抽奖活动真的假的{i * 7}" for i in range(400)]
    batch = dedup.signatures_of(texts)
    assert batch[0] == () and len(batch) == len(texts)
    for text, sig in zip(texts, batch, strict=True):
        assert sig == _reference_signature(text)
        assert dedup.signature_of(text) == sig


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=6))
def test_signatures_of_hostile_batches(texts: list[str]) -> None:
    reduced = [dedup.reduce_body(t) for t in texts]
    assert dedup.signatures_of(reduced) == [_reference_signature(r) for r in reduced]


def test_c_minhash_rejects_bad_parameters() -> None:
    from nlp import _speedups

    with pytest.raises(ValueError):
        _speedups.minhash("好好学习", b"", b"", 15)
    with pytest.raises(ValueError):
        _speedups.minhash("好好学习", b"\x01" * 8, b"\x01" * 16, 15)
    assert _speedups.minhash("", b"\x01" * 8, b"\x01" * 8, 15) == ()
