"""Hostile input to a text-in session's two pure parts: any frame gets a message or a ProtocolError (never another
exception), and any text in any pieces gets the segmenter's units (never an exception, a hang, or a lost or
invented character). The live server's side (close codes, floods, 10 MB frames) is tests/service/test_ws_hostile.py.
"""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttsd.api.session_messages import ClientMessage, ProtocolError, parse
from ttsd.text.incremental import Segmenter
from ttsd.text.split import CLOSERS, FULL_STOPS

PROPERTY = settings(max_examples=300, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_TYPES = st.sampled_from(["config", "text", "flush", "end", "speak", "", None, 1])
_FIELDS = st.dictionaries(
    st.sampled_from(["text", "voice", "speed", "response_format", "sample_rate", "timestamps", "volume", "x"]),
    _JSON,
    max_size=4,
)
_MESSAGES = st.builds(lambda kind, fields: json.dumps({"type": kind, **fields}), _TYPES, _FIELDS)
_PIECES = st.lists(
    st.text(alphabet=st.sampled_from([*"你好。，！？；…2.5Ab <>/\"'”\n"]), max_size=8)
    | st.sampled_from(["<say-as>", "</say-as>", "<break", "/>"])
    | st.text(max_size=8),
    max_size=40,
)


def _missing(said: str, sent: str) -> list[str]:
    """The characters of ``sent`` that ``said`` skips, if ``said`` is a subsequence of it (else raise)."""
    missing, k = [], 0
    for ch in sent:
        if k < len(said) and said[k] == ch:
            k += 1
        else:
            missing.append(ch)
    assert k == len(said), "the units say something that was not sent, or out of order"
    return missing


@PROPERTY
@given(frame=st.one_of(st.binary(max_size=64), st.text(max_size=64), _JSON.map(json.dumps), _MESSAGES))
def test_any_frame_is_a_message_or_a_protocol_error(frame: str | bytes) -> None:
    refused: ProtocolError | None = None
    try:
        message: ClientMessage | None = parse(frame)
    except ProtocolError as exc:
        message, refused = None, exc
    if refused is not None:
        assert refused.code in {"binary_not_accepted", "invalid_json", "invalid_message", "invalid_parameter"}
        assert refused.message
        assert refused.close in (1003, 1007, 1008)
    else:
        assert message is not None
        assert message.type in ("config", "text", "flush", "end")


@PROPERTY
@given(pieces=_PIECES, flush_every=st.integers(min_value=0, max_value=5))
def test_any_pieces_lose_and_invent_nothing(pieces: list[str], flush_every: int) -> None:
    seg = Segmenter()
    given_out = []
    for k, piece in enumerate(pieces):
        given_out += seg.feed(piece)
        if flush_every and k % flush_every == 0:
            given_out += seg.flush()
    given_out += seg.end()
    assert seg.pending == ""
    silent = set(FULL_STOPS | CLOSERS | {"."})  # stops and closers a sentence already out takes in are dropped
    said = "".join("".join(u.text.split()) for u in given_out)
    sent = "".join("".join(piece.split()) for piece in pieces)
    assert set(_missing(said, sent)) <= silent
    assert all(u.text and u.text == u.text.strip() for u in given_out)
