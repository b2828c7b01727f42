"""Customer-service readings the grammar gets wrong, rewritten into Chinese characters before it runs.

WeTextProcessing reads every digit run as a quantity or a date. Mandarin speakers read codes digit by
digit, so before the grammar sees a sentence these rules rewrite, in order:

1. **Codes after a keyword** (验证码, 订单号, 房间号, 尾号, 邮编, 航班...): the code (digits, letters, ``-``)
   digit by digit, up to the next punctuation (``验证码是382915，5分钟`` ends at the full-width comma).
   1 is read 幺 where that is the convention (phone, room, tail, flight, train, extension, job numbers).
2. **Telephone numbers**: mobiles (``1[3-9]`` + 9 digits), ``400``/``800`` lines, landlines with an area
   code, ``+86``: digit by digit with 幺.
3. **Long digit runs that are not amounts** (7 or more digits, no currency before, no unit after):
   digit by digit.
4. **Money with a symbol**: ``￥35.5万元`` 三十五点五万元, ``$25.99`` 二十五点九九美元, ``€``, ``£``.
5. **Temperatures below zero**: ``-3℃`` 零下三摄氏度.
6. **Scores and ratios**: ``3:1`` where the right side is not a two-digit minute, or after 比分/比例/以.
7. **A comma between digits** that does not group thousands (any full-width one) ends a number (``1,23``).
8. **Ranges after a unit**: ``3点-5点`` 三点到五点.

Dates are left to the grammar, which only reads ``2024-09-17``, ``2024/9/17`` and ``2024年9月17日`` as
dates; rule 3 keeps ``2024091712345`` a code.
"""

from __future__ import annotations

import re

from ttsd.text.numbers import read_cardinal, read_digits

# Keyword -> 1 read as 幺?  (phone-like numbers: 幺; codes and accounts: 一)
CODE_KEYWORDS: dict[str, bool] = {
    **dict.fromkeys(("验证码", "校验码", "动态码", "取件码", "取餐码", "提货码", "兑换码", "密码", "口令"), False),
    **dict.fromkeys(("编号", "订单号", "订单编号", "单号", "运单号", "快递单号", "流水号", "序列号"), False),
    **dict.fromkeys(("卡号", "账号", "帐号", "会员号", "客户号", "身份证号", "证件号", "合同号", "批次号"), False),
    **dict.fromkeys(("邮编", "邮政编码", "版本号", "型号", "条码", "票号", "座位号", "车牌", "车牌号"), False),
    **dict.fromkeys(("尾号", "工号", "房间号", "房号", "门牌号", "车次", "航班", "航班号", "分机", "分机号"), True),
    **dict.fromkeys(("电话", "手机", "手机号", "手机号码", "电话号码", "热线", "客服电话", "传真", "座机"), True),
    **dict.fromkeys(("联系电话", "服务热线", "号码", "房间", "线路", "公交", "班次"), True),
}
_KEYWORD = "|".join(sorted(map(re.escape, CODE_KEYWORDS), key=len, reverse=True))
_CODE = re.compile(
    rf"(?P<key>{_KEYWORD})(?P<link>(?:是|为|：|:|\s|（[^）]{{0,6}}）)*)"
    r"(?P<code>[A-Za-z]*\d[A-Za-z0-9]*(?:[- ][A-Za-z0-9]+)*)"
)
_MOBILE = re.compile(r"(?<![\d.])(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?![\d.])")
_SERVICE = re.compile(r"(?<![\d.])[48]00[- ]?\d{3}[- ]?\d{4}(?![\d.])")
_LANDLINE = re.compile(r"(?<![\d.])0\d{2,3}-\d{7,8}(?:-\d{1,6})?(?![\d.])")
# Characters that make a preceding digit run an amount (units, measure words, currency).
_AMOUNT_AFTER = "元块角分万亿千百十个人次件台辆米克吨升里年月日号天小时秒倍位名条张本%‰℃度岁"
_LONG_RUN = re.compile(rf"(?<![\d.,$¥￥€£])\d{{7,}}(?![\d.,]|\s*[{_AMOUNT_AFTER}])")
_MONEY = re.compile(
    r"(?P<sym>[￥¥$€£])\s*(?P<num>\d+(?:,\d{3})*(?:\.\d+)?)\s*(?P<big>[万亿]|千万|百万)?\s*(?P<yuan>元|美元|欧元|英镑)?"
)
_CURRENCY = {"￥": "元", "¥": "元", "$": "美元", "€": "欧元", "£": "英镑"}
_FROST = re.compile(r"(?<![\d.])[-−](\d+(?:\.\d+)?)\s*(℃|°C|度)")
_RATIO_CONTEXT = re.compile(r"(?P<pre>比分|比例|比|以|战胜|击败|打出|赢了|输了)\s*(?P<a>\d+)\s*[:：]\s*(?P<b>\d+)")
_RATIO_SHORT = re.compile(r"(?<![\d:.])(?P<a>\d+)\s*:\s*(?P<b>\d)(?![\d:])")
_LIST_COMMA = re.compile(r"(?<![\d.:/-])(\d+(?:\.\d+)?)[,，](?=\d)")
_UNIT_RANGE = re.compile(r"(?<=\d[点时天周年月日号元])\s*-\s*(?=\d)")


def rewrite(text: str) -> str:
    """``text`` with the customer-service rules applied (Chinese characters where a rule matched)."""
    text = _CODE.sub(_read_code, text)
    text = _MOBILE.sub(lambda m: _phone(m.group()), text)
    text = _SERVICE.sub(lambda m: _phone(m.group()), text)
    text = _LANDLINE.sub(lambda m: _phone(m.group()), text)
    text = _LONG_RUN.sub(lambda m: read_digits(m.group()), text)
    text = _MONEY.sub(_read_money, text)
    text = _FROST.sub(lambda m: f"零下{read_cardinal(m.group(1))}{'摄氏度' if m.group(2) != '度' else '度'}", text)
    text = _RATIO_CONTEXT.sub(lambda m: f"{m['pre']}{read_cardinal(m['a'])}比{read_cardinal(m['b'])}", text)
    text = _RATIO_SHORT.sub(lambda m: f"{read_cardinal(m['a'])}比{read_cardinal(m['b'])}", text)
    text = _LIST_COMMA.sub(_list_comma, text)
    return _UNIT_RANGE.sub("到", text)


def _read_code(match: re.Match[str]) -> str:
    code = match["code"].rstrip(" -")
    rest = match["code"][len(code) :]
    yao = CODE_KEYWORDS[match["key"]]
    spoken = read_digits(code.replace(" ", "").replace("-", ""), yao=yao)
    return f"{match['key']}{match['link']}{spoken}{rest}"


def _phone(number: str) -> str:
    number = number.replace(" ", "").replace("-", "")
    prefix = ""
    if number.startswith("+"):
        prefix, number = "加", number[1:]
    return prefix + read_digits(number, yao=True)


def _read_money(match: re.Match[str]) -> str:
    currency = match["yuan"] or _CURRENCY[match["sym"]]
    if match["yuan"] == "元" and match["sym"] not in "￥¥":
        currency = _CURRENCY[match["sym"]]
    return f"{read_cardinal(match['num'])}{match['big'] or ''}{currency}"


def _list_comma(match: re.Match[str]) -> str:
    """A comma between digits that does not group thousands (those were removed before) ends a number."""
    return read_cardinal(match.group(1)) + "，"
