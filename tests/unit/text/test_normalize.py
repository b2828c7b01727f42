"""Text normalization with WeTextProcessing plus our pre/post fixes, and the grammar cache."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ttsd.text.normalize import TextNormalizer, clean, prefix_for_grammar, read_leftovers, spell_latin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10:43开会", "十点四十三分开会"),
        ("下午3:05出发", "下午三点零五分出发"),
        ("2024年3月5日", "二零二四年三月五日"),
        ("2024-01-05", "二零二四年一月五日"),
        ("价格是￥12.5元", "价格是十二点五元"),
        ("$100", "一百美元"),
        ("涨了3.5%", "涨了百分之三点五"),
        ("电话13812345678", "电话幺三八幺二三四五六七八"),
        ("气温-3℃", "气温零下三摄氏度"),
        ("重量5kg", "重量五千克"),
        ("3/4的人", "四分之三的人"),
        ("1-2天", "一到两天"),
        ("3～5个", "三到五个"),
        ("10%-20%", "百分之十到百分之二十"),
        ("1990-2000年", "一九九零到二零零零年"),
        ("1,000人", "一千人"),
        ("12,345,678元", "一千二百三十四万五千六百七十八元"),
        ("我有2个苹果", "我有两个苹果"),
        ("PM2.5超标", "PM二点五超标"),
        ("COVID-19", "COVID 十九"),
        ("１２３", "一百二十三"),
    ],
)
def test_normalizes_numbers_dates_money_units(normalizer: TextNormalizer, text: str, expected: str) -> None:
    assert normalizer.normalize(text) == expected


def test_keeps_plain_chinese_erhua_and_punctuation(normalizer: TextNormalizer) -> None:
    text = "窗外的鸟儿在唱歌，啊，真好！"
    assert normalizer.normalize(text) == text


def test_no_digit_survives(normalizer: TextNormalizer) -> None:
    out = normalizer.normalize("型号X9-3000a、编号007、1st、v1.2.3")
    assert not any(ch.isdigit() for ch in out)


def test_clean_handles_controls_fullwidth_and_spaces() -> None:
    assert clean("a\x01b\t\tc\u3000d\u200b") == "a b c d "
    assert clean("ＧＰＵ１") == "GPU1"
    assert clean("一\r\n二") == "一\n二"
    assert clean("①½²Ⅻ") == "11/22XII"
    assert clean("a\ud800b") == "a b"


def test_prefix_fixes_and_leftovers() -> None:
    assert prefix_for_grammar("¥1,234元") == "1234元"
    assert prefix_for_grammar("3—5") == "3~5"
    assert read_leftovers("A3@") == "A三艾特"


def test_spell_latin_reads_letters_case_insensitively() -> None:
    assert spell_latin("GPU") == ["ji4", "pi1", "you1"]
    assert spell_latin("gpu") == spell_latin("GPU")
    assert spell_latin("") == []


def test_grammar_cache_is_written_and_reused(tmp_path: Path, normalizer: TextNormalizer) -> None:
    normalizer.load()
    files = sorted(p.name for p in normalizer.cache_dir.iterdir())
    assert files == ["zh_tn_tagger.fst", "zh_tn_verbalizer.fst"]
    # A second instance on the same cache reads the files instead of rebuilding (seconds -> well under one).
    start = time.perf_counter()
    again = TextNormalizer(cache_dir=normalizer.cache_dir.parent)
    again.load()
    assert time.perf_counter() - start < 5.0
    assert again.normalize("10:43") == "十点四十三分"


def test_cache_dir_defaults_under_user_cache() -> None:
    assert "ttsd" in str(TextNormalizer().cache_dir)
    assert TextNormalizer(cache_dir=Path("/x")).cache_dir.parent == Path("/x")


def test_unusable_cache_dir_degrades_to_digit_reading(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    broken = TextNormalizer(cache_dir=blocker)
    assert broken.normalize("第12号") == "第一二号"
    assert broken.normalize("10%") == "一零百分号"


@pytest.mark.slow
def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    cache = TextNormalizer(cache_dir=tmp_path).cache_dir
    cache.mkdir(parents=True)
    (cache / "zh_tn_tagger.fst").write_bytes(b"not an fst")
    (cache / "zh_tn_verbalizer.fst").write_bytes(b"not an fst")
    assert TextNormalizer(cache_dir=tmp_path).normalize("第12号") == "第十二号"
    assert sorted(p.name for p in cache.iterdir()) == ["zh_tn_tagger.fst", "zh_tn_verbalizer.fst"]


def test_grammar_islands_cover_numbers_with_context() -> None:
    from ttsd.text.normalize import islands

    text = "您好您的订单已于2024年9月17日10:43发货请注意查收谢谢"
    spans = islands(text, context=4)
    assert len(spans) == 1
    start, end = spans[0]
    assert text[start:end] == "订单已于2024年9月17日10:43发货请注"
    assert islands("没有数字的句子") == []


@pytest.mark.parametrize(
    "text",
    [
        "苹果iPhone15售价5999元起，内存256GB，屏幕6.1英寸",
        "他在2003年-2005年间去了第3-5名的学校，花了1.5-2小时",
        "共有3.5亿人口和2个百分点的增长，时速120km/h",
        "您的订单号2024091712345已于2024年9月17日10:43发货，总价￥35.5万元。",
    ],
)
def test_islands_read_like_the_whole_sentence(normalizer: TextNormalizer, text: str) -> None:
    """The grammar on islands around numbers gives exactly what it gives on the whole sentence."""
    from ttsd.text import normalize as module
    from ttsd.text.rewrite import rewrite

    fst = normalizer._ensure_loaded()
    assert fst is not None
    prepared = rewrite(module.prefix_for_grammar(module.clean(text)))
    whole = "".join(module._apply_once(fst, clause) for clause in module._CLAUSE_END.split(prepared))
    assert normalizer.normalize(text) == module.read_leftovers(whole)
