"""Customer-service normalization: codes, phone numbers, money, percent, ranges, units (expected text and why)."""

from __future__ import annotations

import pytest

from ttsd.text.normalize import TextNormalizer
from ttsd.text.numbers import read_cardinal

CASES = [
    (
        "您的验证码是382915，5分钟内有效。",
        "您的验证码是三八二九一五，五分钟内有效。",
        "code digit by digit; ， ends it",
    ),
    ("验证码：6048", "验证码：六零四八", "code after a colon"),
    ("您的房间号是1203", "您的房间号是幺二零三", "room numbers: digits, 1 as 幺"),
    ("您的订单号2024091712345", "您的订单号二零二四零九一七一二三四五", "order number, not a date"),
    ("总价￥35.5万元", "总价三十五点五万元", "￥ with 万元 read once"),
    ("邮编100080", "邮编一零零零八零", "postcode digit by digit"),
    ("请拨打13812345678", "请拨打幺三八幺二三四五六七八", "mobile number with 幺"),
    ("客服电话400-820-8820", "客服电话四零零八二零八八二零", "400 line, dashes silent"),
    ("航班CA1234", "航班CA幺二三四", "flight number digits, letters kept for spelling"),
    ("车次G1234", "车次G幺二三四", "train number"),
    ("尾号1234的卡", "尾号幺二三四的卡", "tail number"),
    ("卡号6222 0212 3456", "卡号六二二二零二一二三四五六", "card number with spaces"),
    ("工号007", "工号零零七", "job number keeps leading zeros"),
    ("快递单号SF1234567890", "快递单号SF一二三四五六七八九零", "tracking number"),
    ("取件码12-3-456", "取件码一二三四五六", "pickup code with dashes"),
    ("电话：010-12345678", "电话：零幺零幺二三四五六七八", "landline with area code"),
    ("+86 138 1234 5678", "加八六幺三八幺二三四五六七八", "international prefix"),
    ("金额$25.99", "金额二十五点九九美元", "dollar amount"),
    ("€30", "三十欧元", "euro"),
    ("£12.5", "十二点五英镑", "pound"),
    ("¥100", "一百元", "yen sign as yuan"),
    ("余额为12345.67元", "余额为一万二千三百四十五点六七元", "amount with 元 stays a number"),
    ("共1,234,567元", "共一百二十三万四千五百六十七元", "ASCII commas in groups of three"),
    ("1,23元", "一，二十三元", "comma not grouping thousands separates numbers"),
    ("涨幅3.5%", "涨幅百分之三点五", "percent"),
    ("上涨2个百分点", "上涨两个百分点", "percentage points"),
    ("10%-20%", "百分之十到百分之二十", "percent range"),
    ("3-5天送达", "三到五天送达", "day range"),
    ("营业时间10:00-22:00", "营业时间十点到二十二点", "opening hours range"),
    ("3点-5点", "三点到五点", "range after a unit"),
    ("气温-3℃到25℃", "气温零下三摄氏度到二十五摄氏度", "below zero read 零下"),
    ("时速120km/h", "时速每小时一百二十公里", "speed unit"),
    ("重量5kg", "重量五千克", "mass unit"),
    ("面积89m²", "面积八十九平方米", "area unit"),
    ("比分3:1", "比分三比一", "score"),
    ("以3:1获胜", "以三比一获胜", "score after 以"),
    ("比例1:2", "比例一比二", "ratio"),
    ("现在是10:43", "现在是十点四十三分", "clock time (two-digit minutes)"),
    ("2024年9月17日", "二零二四年九月十七日", "written date"),
    ("2024-09-17", "二零二四年九月十七日", "ISO date"),
    ("20240917", "二零二四零九一七", "bare 8 digits: a code, not a date"),
    ("人口14000000人", "人口一千四百万人", "long run followed by a measure word is an amount"),
    ("共2000元", "共两千元", "amount"),
    ("12306", "幺二三零六", "service number (grammar)"),
]


@pytest.mark.parametrize(("text", "expected", "why"), CASES)
def test_customer_service_texts(normalizer: TextNormalizer, text: str, expected: str, why: str) -> None:
    assert normalizer.normalize(text) == expected, why


@pytest.mark.parametrize(
    ("number", "spoken"),
    [
        ("0", "零"),
        ("10", "十"),
        ("12", "十二"),
        ("1203", "一千二百零三"),
        ("100080", "十万零八十"),
        ("2000", "两千"),
        ("20000", "两万"),
        ("100000000", "一亿"),
        ("35.5", "三十五点五"),
        ("-3", "负三"),
        ("1,234", "一千二百三十四"),
    ],
)
def test_read_cardinal(number: str, spoken: str) -> None:
    assert read_cardinal(number) == spoken
