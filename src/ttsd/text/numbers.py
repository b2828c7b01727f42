"""Numbers read in Chinese characters: cardinals, decimals, digit strings (pure functions, no grammar).

Conventions follow WeTextProcessing's (so that our rewrites and the grammar read alike): ``10`` 十 and
``12`` 十二 at the start, 零 for every run of missing units (``1203`` 一千二百零三), 两 for a leading 2
before 千/万/亿 (``2000`` 两千), 点 and digits one by one after the decimal point.
"""

from __future__ import annotations

DIGITS = "零一二三四五六七八九"
_SMALL_UNITS = ("", "十", "百", "千")
_BIG_UNITS = ("", "万", "亿", "万亿")


def read_digits(digits: str, *, yao: bool = False) -> str:
    """Each ASCII digit as a Chinese digit (``yao``: 1 as 幺, as in phone and room numbers); others kept."""
    table = DIGITS.replace("一", "幺") if yao else DIGITS
    return "".join(table[int(ch)] if "0" <= ch <= "9" else ch for ch in digits)


def read_cardinal(number: str) -> str:
    """``-12.50`` -> 负十二点五零; plain digit strings of any length (over 16 digits: read one by one)."""
    sign = ""
    if number.startswith(("-", "−")):
        sign, number = "负", number[1:]
    number = number.replace(",", "")
    whole, _, fraction = number.partition(".")
    whole = whole.lstrip("0") or "0"
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        return sign + read_digits(number)
    text = read_integer(whole) if len(whole) <= 16 else read_digits(whole)
    if fraction:
        text += "点" + read_digits(fraction)
    return sign + text


def read_integer(digits: str) -> str:
    """A non-negative integer of at most 16 digits in Chinese characters."""
    digits = digits.lstrip("0")
    if not digits:
        return "零"
    groups: list[str] = []
    while digits:
        groups.insert(0, digits[-4:])
        digits = digits[:-4]
    out = ""
    pending_zero = False
    for index, group in enumerate(groups):
        unit = _BIG_UNITS[len(groups) - 1 - index]
        if int(group) == 0:
            pending_zero = bool(out)
            continue
        if out and (pending_zero or len(group.lstrip("0")) < 4):
            out += "零"
        out += _read_group(group.lstrip("0")) + unit
        pending_zero = False
    if out.startswith("一十"):
        out = out[1:]
    if out.startswith("二") and len(out) > 1 and out[1] in "千万亿":
        out = "两" + out[1:]
    return out


def _read_group(group: str) -> str:
    """1..9999 without leading zeros."""
    out = ""
    zero = False
    for position, ch in enumerate(group):
        unit = _SMALL_UNITS[len(group) - 1 - position]
        if ch == "0":
            zero = True
            continue
        if zero:
            out += "零"
            zero = False
        out += DIGITS[int(ch)] + unit
    return out
