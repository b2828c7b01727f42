"""Polyphone readings: everyday sentences (expected reading and why) and the CPP benchmark subset."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttsd.text.g2p import G2P
from ttsd.text.lexicon import builtin_lexicon
from ttsd.text.polyphone import PolyphoneModel

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MARK = "\u2581"

# (sentence, character index, expected reading, why)
EVERYDAY = [
    ("我得去上班了", 1, "dei3", "得 before a verb after the subject: 'must'"),
    ("你得好好休息", 1, "dei3", "'must': subject + 得 + adverb + verb"),
    ("他跑得很快", 2, "de5", "complement marker after a verb"),
    ("他长得很高", 2, "de5", "complement marker after 长"),
    ("他得了第一名", 1, "de2", "the verb 得 (to get) with 了"),
    ("得到了", 0, "de2", "得到, to obtain"),
    ("觉得很累", 1, "de5", "觉得 is a dictionary word with neutral 得"),
    ("为人民服务", 0, "wei4", "为 'for' before the one served"),
    ("感谢您的耐心等待，我们会尽快为您处理。", 14, "wei4", "为您: 'for you'"),
    ("他被选为班长", 3, "wei2", "选为: 'elected as' (copula)"),
    ("为了保护环境", 0, "wei4", "为了: 'in order to'"),
    ("背在身上", 0, "bei1", "背 'carry on the back' (verb)"),
    ("他慢慢地走了过来", 3, "de5", "adverbial 地 after a reduplication"),
    ("她把花瓶轻轻地放在桌子上", 6, "de5", "adverbial 地 in 轻轻地"),
    ("他们在数钱", 3, "shu3", "数 'to count' (verb)"),
    ("数学很难", 0, "shu4", "数学: mathematics (noun)"),
    ("我还你钱", 1, "huan2", "还 'give back' before a person"),
    ("这件事还没完", 3, "hai2", "还 'still' before 没"),
    ("还给你", 0, "huan2", "还给: give back"),
    ("银行在哪里", 1, "hang2", "银行: bank"),
    ("一行人走了", 1, "xing2", "一行人: a group travelling together"),
    ("长江很长", 3, "chang2", "很长: long (adjective)"),
    ("他长大了", 1, "zhang3", "长大: to grow up"),
    ("体重很重", 3, "zhong4", "很重: heavy"),
    ("重新开始", 0, "chong2", "重新: again"),
    ("音乐很好听", 1, "yue4", "音乐: music"),
    ("快乐的一天", 1, "le4", "快乐: happy"),
    ("我们都会好起来的", 2, "dou1", "都 'all' before 会"),
    ("首都北京", 1, "du1", "首都: capital city"),
    ("睡觉了", 1, "jiao4", "睡觉: to sleep"),
    ("出差", 1, "chai1", "出差: business trip"),
    ("差不多", 0, "cha4", "差不多: almost"),
    ("便宜", 0, "pian2", "便宜: cheap"),
    ("方便", 1, "bian4", "方便: convenient"),
    ("爱好", 1, "hao4", "爱好: hobby (verb 好 hao4)"),
    ("不要着急", 2, "zhao2", "着急: anxious"),
    ("看着我", 1, "zhe5", "aspect particle 着"),
    ("了解情况", 0, "liao3", "了解: to understand"),
    ("他的头发很长", 3, "fa4", "头发: hair"),
    ("一只猫", 1, "zhi1", "measure word 只"),
    ("好像似的", 2, "shi4", "似的: as if (shi4)"),
    ("那个孩子正在院子里玩耍", 3, "zi5", "孩子: neutral-tone suffix"),
    ("你好，很高兴认识你", 5, "xing4", "高兴: glad"),
    ("她长得很漂亮", 1, "zhang3", "长得: looks (grow), not long"),
    ("我们一起去看电影吧", 8, "ba5", "sentence-final particle 吧 is neutral"),
    ("明天会下雨吗", 5, "ma5", "sentence-final question particle"),
    ("我们会尽快给您回复", 3, "jin3", "尽快: as soon as possible"),
    ("会计正在算账", 0, "kuai4", "会计: accountant"),
]


@pytest.fixture(scope="module")
def reader() -> G2P:
    return G2P(builtin=builtin_lexicon(), model=PolyphoneModel.load())


def _reading(g2p: G2P, text: str, index: int) -> str:
    return next(r.syllables[0] for r in g2p.read(text) if r.start <= index < r.end)


@pytest.mark.parametrize(("text", "index", "expected", "why"), EVERYDAY)
def test_everyday_polyphones(reader: G2P, text: str, index: int, expected: str, why: str) -> None:
    assert _reading(reader, text, index) == expected, why


def test_model_restricts_readings_to_the_characters_own() -> None:
    model = PolyphoneModel.load()
    assert set(model.candidates("了")) == {"le5", "liao3", "liao4"}
    assert model.candidates("天") == ()
    for index, reading in model.predict("这个问题我们还没有了解清楚，还得再想想。").items():
        assert reading in model.candidates("这个问题我们还没有了解清楚，还得再想想。"[index])


def test_model_is_deterministic_and_shared_between_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = PolyphoneModel.load()
    text = "他长得很高，长江很长，银行行长来了。"
    expected = model.predict(text)
    with ThreadPoolExecutor(4) as pool:
        assert all(r == expected for r in pool.map(lambda _: model.predict(text), range(16)))


def _cpp_rows() -> list[tuple[int, str, str]]:
    rows = []
    for line in (FIXTURES / "cpp_dev_subset.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            index, sentence, label = line.split("\t")
            rows.append((int(index), sentence, label.replace("u:", "v")))
    return rows


@pytest.mark.slow
def test_cpp_dev_subset_accuracy(reader: G2P) -> None:
    rows = _cpp_rows()
    assert len(rows) > 800
    hits = 0
    for _, marked, label in rows:
        at = marked.index(MARK)
        hits += _reading(reader, marked.replace(MARK, ""), at) == label
    assert hits / len(rows) >= 0.97


def test_cpp_subset_dictionary_baseline_is_much_lower() -> None:
    """The model is what lifts accuracy: pypinyin alone stays near its published 86-88%."""
    rows = _cpp_rows()
    plain = G2P()
    hits = sum(_reading(plain, m.replace(MARK, ""), m.index(MARK)) == lb for _, m, lb in rows)
    assert hits / len(rows) < 0.92
