"""English words for the Kokoro voices: misaki's lexicon (port), eSpeak NG, joining with the Mandarin phonemes.

tests/fixtures/kokoro/misaki_en.json holds misaki 0.9.4's own output (scripts/misaki_en_fixture.py): 77 words
and 12 mixed sentences.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ttsd.errors import AssetError
from ttsd.text.frontend import TextFrontend
from ttsd.text.types import Budget, LatinInfo, Sentence, Token
from ttsd.voices.kokoro import english_lexicon
from ttsd.voices.kokoro.english import ESPEAK_SOURCE, LEXICON_SOURCE, EnglishG2P, english_reader
from ttsd.voices.kokoro.espeak import Espeak, to_misaki
from ttsd.voices.kokoro.phonemizer import JiebaCutter, Phonemizer, load_vocab

FIXTURE = Path(__file__).parents[2] / "fixtures" / "kokoro" / "misaki_en.json"


@pytest.fixture(scope="module")
def g2p() -> EnglishG2P:
    return EnglishG2P()


def test_words_read_as_misaki_reads_them(g2p: EnglishG2P) -> None:
    words = json.loads(FIXTURE.read_text(encoding="utf-8"))["words"]
    assert len(words) >= 70
    assert {w: g2p.read(w).phonemes for w in words} == words


def test_sources(g2p: EnglishG2P) -> None:
    assert g2p.read("Google").source == LEXICON_SOURCE
    assert g2p.read("iPhone").source == LEXICON_SOURCE  # i + Phone, second stress demoted
    assert g2p.read("Hifigan").source == ESPEAK_SOURCE


def test_every_phoneme_is_in_the_model_vocabulary(g2p: EnglishG2P) -> None:
    vocab = load_vocab()
    for word in ("Starbucks", "Sambert-Hifigan", "Kubernetes", "Xiaomi", "ChatGPT", "Settings", "downloaded"):
        assert set(g2p.read(word).phonemes) <= set(vocab), word


def test_espeak_ipa_is_rewritten_the_way_misaki_does() -> None:
    assert to_misaki("stˈɑː^ɹbʌks") == "stˈɑɹbʌks"
    assert to_misaki("ɡˈuːɡə^l") == "ɡˈuɡᵊl"
    assert to_misaki("hˈɛlo^ʊ") == "hˈɛlO"
    assert to_misaki("bˈʌɾɚ") == "bˈʌTəɹ"


def test_missing_espeak_names_the_fix(tmp_path: Path) -> None:
    broken = Espeak(tmp_path / "libespeak-ng.so", tmp_path)
    with pytest.raises(AssetError, match="pip install espeakng-loader"):
        broken.ipa("hello")


def test_missing_misaki_lexicon_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoPackage:
        @staticmethod
        def files(name: str) -> Path:
            raise ModuleNotFoundError(name)

    monkeypatch.setattr(english_lexicon, "resources", NoPackage)
    with pytest.raises(AssetError, match=r"pip install misaki==0\.9\.4"):
        english_lexicon.load_dictionaries()


def test_assets_are_installed() -> None:
    EnglishG2P.check()  # the project's dependencies: misaki and espeakng-loader


def _token(text: str, english: str = "", phonemes: str = "", syllables: tuple[str, ...] = ()) -> Token:
    info = LatinInfo("word", "letters of a word", english=english, phonemes=phonemes) if english else None
    return Token(text, syllables, "latin" if english else "dictionary", latin=info)


def test_english_words_are_their_own_words_and_one_span() -> None:
    phonemizer = Phonemizer(vocab=load_vocab(), english=lambda word: {"iPhone": "ˈIfˌOn"}[word])
    tokens = (
        _token("买", syllables=("mai3",)),
        _token("iPhone", "iPhone", syllables=("ai4",)),
        _token("了", syllables=("le5",)),
    )
    out = phonemizer(Sentence(tokens))
    assert out.phonemes == "mai↓ ˈIfˌOn lɤ"
    start, end = out.spans[1]
    assert end - start == len(" ˈIfˌOn")


def test_lexicon_phonemes_win_and_no_reader_spells() -> None:
    token = _token("Hifigan", "Hifigan", phonemes="hˈIfiɡæn", syllables=("ei1",))
    assert Phonemizer(vocab=load_vocab()).token_text(token) == "hˈIfiɡæn"
    spelled = _token("Zoom", "Zoom", syllables=("zei4",))
    assert Phonemizer(vocab=load_vocab()).token_text(spelled) == "ʦei↘"


@pytest.fixture(scope="module")
def frontend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TextFrontend:
    cache = getattr(request.config, "cache", None)  # the grammar cache the text tests keep (building it: ~10 s)
    root = Path(cache.mkdir("ttsd-text-cache")) if cache is not None else tmp_path_factory.mktemp("text-cache")
    return TextFrontend(cache_dir=root)


def test_mixed_sentences_against_misaki(frontend: TextFrontend) -> None:
    phonemizer = Phonemizer(vocab=load_vocab(), cutter=JiebaCutter(), english=english_reader())
    budget = Budget(limit=1 << 30, per_token=lambda token: 1)
    cases = json.loads(FIXTURE.read_text(encoding="utf-8"))["mixed"]
    got = {
        c["text"]: " ".join(phonemizer(s).phonemes for s in frontend.sentences(c["text"], budget=budget)) for c in cases
    }
    expected = {c["text"]: c["misaki"] for c in cases}
    # The one known difference (docs/kokoro.md): misaki joins its segments with a space, so a full stop after an
    # English word gets one before it; ttsd keeps punctuation attached, as in Mandarin-only strings.
    expected["她买了一台新的iPhone。"] = expected["她买了一台新的iPhone。"].replace(" .", ".")
    assert got == expected


def test_mandarin_only_sentences_are_unchanged(frontend: TextFrontend) -> None:
    """Without Latin words the ids are exactly those of the Mandarin-only phonemizer (so is the audio)."""
    plain = Phonemizer(vocab=load_vocab(), cutter=JiebaCutter())
    with_english = Phonemizer(vocab=load_vocab(), cutter=JiebaCutter(), english=english_reader())
    budget = Budget(limit=1 << 30, per_token=lambda token: 1)
    text = "您的验证码是382915，5分钟内有效。他慢慢地走了过来，我得去银行还钱。"
    for sentence in frontend.sentences(text, budget=budget):
        assert with_english(sentence) == plain(sentence)
