"""TextFrontend.sentences: laziness, tokens that keep the original text, SSML segments, budget cuts, explain."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttsd.errors import TextError
from ttsd.text.frontend import TextFrontend
from ttsd.text.normalize import TextNormalizer
from ttsd.text.types import SOURCES, Budget, Prosody, Segment
from ttsd.voices.baker.phones import baker_budget, sentence_phones, token_cost

BUDGET = baker_budget(160)


class CountingNormalizer(TextNormalizer):
    """The real normalizer, counting its calls (a fake that proves laziness without mocking)."""

    calls = 0

    def normalize(self, text: str) -> str:
        CountingNormalizer.calls += 1
        return super().normalize(text)


@pytest.fixture(scope="module")
def front(text_cache_dir: Path) -> TextFrontend:
    return TextFrontend(cache_dir=text_cache_dir)


def test_sentences_are_read_one_at_a_time(text_cache_dir: Path) -> None:
    frontend = TextFrontend(cache_dir=text_cache_dir)
    frontend._normalizer = CountingNormalizer(cache_dir=text_cache_dir)
    CountingNormalizer.calls = 0
    iterator = frontend.sentences("第一句话。" * 50, budget=BUDGET)
    first = next(iterator)
    assert first.text == "第一句话。"
    assert CountingNormalizer.calls == 1
    assert len(list(iterator)) == 49


def test_tokens_keep_the_original_text(front: TextFrontend) -> None:
    (sentence,) = front.sentences("您的验证码是382915，5分钟内有效。", budget=BUDGET)
    code = next(t for t in sentence.tokens if t.text == "382915")
    assert code.spoken == "三八二九一五"
    assert code.source == "normalized"
    assert code.syllables == ("san1", "ba1", "er4", "jiu3", "yi1", "wu3")
    assert sentence.text == "您的验证码是382915，5分钟内有效。"
    assert all(t.source in SOURCES for t in sentence.tokens)


def test_latin_words_punctuation_and_erhua(front: TextFrontend) -> None:
    (sentence,) = front.sentences("GPU在哪儿？", budget=BUDGET)
    by_text = {t.text: t for t in sentence.tokens}
    assert by_text["GPU"].source == "latin"
    assert by_text["GPU"].syllables == ("ji4", "pi1", "you1")
    assert by_text["哪儿"].syllables == ("nar3",)
    assert by_text["？"].silent
    assert by_text["？"].source == "silent"


def test_nothing_pronounceable_raises_on_first_next(front: TextFrontend) -> None:
    iterator = front.sentences("😀😀。", budget=BUDGET)
    with pytest.raises(TextError, match="nothing pronounceable"):
        next(iterator)


def test_over_budget_sentences_are_cut_on_tokens(front: TextFrontend) -> None:
    budget = baker_budget(40)
    sentences = list(front.sentences("今天天气很好，我们一起去公园散步吧，然后回家吃饭。", budget=budget))
    assert len(sentences) > 1
    assert all(budget.cost(s.tokens) <= 40 for s in sentences)
    assert "".join(s.text for s in sentences) == "今天天气很好，我们一起去公园散步吧，然后回家吃饭。"


def test_pinyin_alias_and_say_as_segments(front: TextFrontend) -> None:
    segments = [
        Segment("银行", pinyin=("yin2", "xing2")),
        Segment("WTO", alias="世贸组织"),
        Segment("电话"),
        Segment("13812345678", say_as="telephone"),
        Segment("2024-09-17", say_as="date", say_as_format="ymd"),
        Segment("。"),
    ]
    (sentence,) = front.sentences(segments, budget=BUDGET)
    tokens = {t.text: t for t in sentence.tokens}
    assert tokens["银"].syllables == ("yin2",)
    assert tokens["行"].source == "markup"
    assert tokens["WTO"].syllables == ("shi4", "mao4", "zu3", "zhi1")
    assert tokens["WTO"].spoken == "世贸组织"
    assert tokens["13812345678"].syllables[0] == "yao1"
    assert tokens["2024-09-17"].spoken == "二零二四年九月十七日"


@pytest.mark.parametrize("pinyin", [("yin2",), ("yin2", "xxx9")])
def test_bad_pinyin_markup_is_a_text_error(front: TextFrontend, pinyin: tuple[str, ...]) -> None:
    with pytest.raises(TextError):
        list(front.sentences([Segment("银行", pinyin=pinyin)], budget=BUDGET))


def test_breaks_prosody_and_voice(front: TextFrontend) -> None:
    fast = Prosody(rate=1.5)
    segments = [
        Segment("你好。", break_after_s=1.0),
        Segment("", break_after_s=0.5),
        Segment("我们", prosody=fast),
        Segment("走吧", prosody=fast),
        Segment("再见", voice="other", sentence_end=True),
    ]
    sentences = list(front.sentences(segments, budget=BUDGET))
    assert [s.text for s in sentences] == ["你好。", "", "我们走吧", "再见"]
    assert sentences[0].pause_after_s == 1.0  # the break replaced the full stop's pause
    assert sentences[1].tokens == ()
    assert sentences[1].pause_after_s == 0.5
    assert sentences[2].prosody == fast
    assert sentences[3].voice == "other"


def test_baker_phones_and_spans(front: TextFrontend) -> None:
    (sentence,) = front.sentences("你好GPU。", budget=BUDGET)
    phones, spans = sentence_phones(sentence)
    assert phones[0] == "sil"
    assert phones[-1] == "sil"
    assert phones[1:4] == ("n", "i3", "#0")
    gpu = [t.text for t in sentence.tokens].index("GPU")
    start, end = spans[gpu]
    assert phones[start:end] == ("j", "i4", "#0", "p", "i1", "#0", "^", "iou1")
    assert BUDGET.cost(sentence.tokens) == len(phones) + 1
    assert token_cost(sentence.tokens[gpu]) == 9


def test_explain_names_sources(front: TextFrontend) -> None:
    rows = front.explain("我得去银行取382915元。")
    by_text = {r.text: r for r in rows}
    assert by_text["得"].pinyin == "dei3"
    assert by_text["得"].source == "rule"
    assert by_text["382915"].source == "normalized"
    assert by_text["382915"].spoken
    assert by_text["行"].source in ("rule", "dictionary", "model")


_SEGMENT = st.builds(
    Segment,
    text=st.text(alphabet="银行你好123 ABC。，😀\x00", max_size=12),
    say_as=st.sampled_from([None, "digits", "cardinal", "telephone", "characters", "date", "time", "currency", "x"]),
    alias=st.sampled_from([None, "别名", "", "😀"]),
    prosody=st.sampled_from([Prosody(), Prosody(rate=2.0)]),
    break_after_s=st.sampled_from([None, 0.0, 0.4]),
    sentence_end=st.booleans(),
)
_SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(segments=st.lists(_SEGMENT, max_size=6), limit=st.integers(20, 80))
@_SETTINGS
def test_random_segments_never_crash(front: TextFrontend, segments: list[Segment], limit: int) -> None:
    budget = Budget(limit=limit, per_token=token_cost, overhead=2)
    try:
        sentences = list(front.sentences(segments, budget=budget))
    except TextError:
        return
    assert any(s.syllables for s in sentences)
    for s in sentences:
        assert all(t.source in SOURCES for t in s.tokens)
        assert not s.tokens or budget.cost(s.tokens) <= limit


@given(text=st.text(max_size=60))
@_SETTINGS
def test_arbitrary_text_never_crashes_sentences_or_explain(front: TextFrontend, text: str) -> None:
    try:
        rows = front.explain(text)
    except TextError:
        return
    assert all(r.source in SOURCES for r in rows)


@pytest.mark.slow
def test_huge_mixed_text(front: TextFrontend) -> None:
    text = ("订单号2024091712345，总价￥35.5万元😀 GPU iPhone15 。" * 200)[:8000]
    budget = baker_budget(96)
    sentences = list(front.sentences(text, budget=budget))
    assert all(budget.cost(s.tokens) <= 96 for s in sentences)


def test_one_frontend_serves_many_threads(front: TextFrontend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    text = "您的验证码是382915，5分钟内有效。他慢慢地走了过来，我得去银行还钱。"
    expected = [s.syllables for s in front.sentences(text, budget=BUDGET)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: [s.syllables for s in front.sentences(text, budget=BUDGET)], range(12)))
    assert all(r == expected for r in results)
