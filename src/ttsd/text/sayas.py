"""SSML ``<say-as interpret-as=... format=...>``: how a segment's text is read, as Chinese text.

Supported ``interpret-as`` values (W3C "SSML say-as" note) and formats:

* ``digits``, ``characters``, ``spell-out``, ``verbatim``: one by one (digits 零一二..., letters spelled with
  the Mandarin letter names, each its own piece so no word is read as English; Han characters as themselves,
  other symbols dropped);
* ``telephone``: digit by digit with 幺 for 1, ``+`` read 加, separators silent;
* ``cardinal`` / ``number``: ``12,345.6`` 一万两千三百四十五点六; ``ordinal``: 第 + the cardinal;
* ``date`` with format ``ymd`` (default), ``mdy``, ``dmy``, ``ym``, ``my``, ``md``, ``dm``, ``y``, ``m``,
  ``d``: the year digit by digit, month and day as numbers (二零二四年九月十七日);
* ``time`` with format ``hms24`` (default), ``hms12`` (``am``/``pm`` suffix -> 上午/下午), ``hm``, ``hms``;
* ``currency``: a symbol (``￥ ¥ $ € £``) or ISO code (``CNY RMB USD EUR GBP JPY HKD``) and an amount.

Anything else returns ``None``: the caller normalizes the text as usual.
"""

from __future__ import annotations

import re

from ttsd.errors import TextError
from ttsd.text.numbers import read_cardinal, read_digits, read_integer

_CURRENCIES = {
    "￥": "元", "¥": "元", "$": "美元", "€": "欧元", "£": "英镑",
    "CNY": "元", "RMB": "元", "USD": "美元", "EUR": "欧元", "GBP": "英镑", "JPY": "日元", "HKD": "港元",
}  # fmt: skip
_NUMBER = re.compile(r"[-−]?\d[\d,]*(?:\.\d+)?")
_DATE_FIELDS = {"y": "年", "m": "月", "d": "日"}


def read_say_as(text: str, interpret_as: str, fmt: str | None = None) -> str | None:
    """The Chinese text to read for ``text`` interpreted as ``interpret_as``, or ``None`` if unsupported."""
    kind = interpret_as.strip().lower()
    text = text.strip()
    if kind in ("digits", "characters", "spell-out", "verbatim", "letters"):
        return "".join(_one_by_one(ch) for ch in text if ch.isalnum())
    if kind == "telephone":
        return ("加" if text.startswith("+") else "") + read_digits("".join(c for c in text if c.isdigit()), yao=True)
    if kind in ("cardinal", "number", "ordinal"):
        match = _NUMBER.search(text)
        if match is None:
            raise TextError(f"say-as {kind}: {text!r} is not a number")
        spoken = read_cardinal(match.group().replace("−", "-"))
        return "第" + spoken if kind == "ordinal" else spoken
    if kind == "date":
        return _date(text, (fmt or "ymd").lower())
    if kind == "time":
        return _time(text, (fmt or "hms24").lower())
    if kind == "currency":
        return _currency(text)
    return None


def _one_by_one(ch: str) -> str:
    if ch.isdigit():
        return read_digits(ch)
    return ch + " " if ch.isascii() else ch  # a space after each letter: one letter, one piece


def _date(text: str, fmt: str) -> str:
    fields = re.findall(r"\d+", text)
    if not fields or any(ch not in _DATE_FIELDS for ch in fmt) or len(fields) != len(fmt):
        raise TextError(f"say-as date: {text!r} does not match format {fmt!r} (one number per letter of y, m, d)")
    by_field = dict(zip(fmt, fields, strict=True))
    out = ""
    for field in "ymd":
        if field in by_field:
            value = by_field[field]
            out += (read_digits(value) if field == "y" else read_integer(value)) + _DATE_FIELDS[field]
    return out


def _time(text: str, fmt: str) -> str:
    fields = re.findall(r"\d+", text)
    if not 1 <= len(fields) <= 3:
        raise TextError(f"say-as time: {text!r} is not a time (h:mm or h:mm:ss)")
    prefix = ""
    if fmt == "hms12":
        lower = text.lower()
        prefix = "下午" if "pm" in lower or "p.m" in lower else "上午" if "am" in lower or "a.m" in lower else ""
    hour, *rest = (int(f) for f in fields)
    out = prefix + ("两" if hour == 2 else read_integer(str(hour))) + "点"
    if rest and rest[0]:
        out += read_integer(str(rest[0])) + "分"
    if len(rest) > 1 and rest[1]:
        out += read_integer(str(rest[1])) + "秒"
    return out


def _currency(text: str) -> str:
    match = _NUMBER.search(text)
    if match is None:
        raise TextError(f"say-as currency: {text!r} has no amount")
    outside = (text[: match.start()] + text[match.end() :]).strip().upper()
    unit = next((name for code, name in _CURRENCIES.items() if code in outside), "元")
    return read_cardinal(match.group().replace(",", "")) + unit
