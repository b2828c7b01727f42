"""Write tests/fixtures/kokoro/misaki_en.json: misaki 0.9.4's own English (and mixed) phoneme strings.

Not part of the package and not run by the tests: it needs misaki's English G2P, which pulls in spaCy. Run it
once in a scratch virtual environment (nothing here is downloaded at run time):

    python3.11 -m venv /tmp/mvenv
    /tmp/mvenv/bin/pip install --no-deps misaki==0.9.4
    /tmp/mvenv/bin/pip install addict regex num2words phonemizer-fork espeakng-loader==0.2.4 spacy \
        cn2an jieba pypinyin==0.55.0 ordered-set
    /tmp/mvenv/bin/python scripts/misaki_en_fixture.py > tests/fixtures/kokoro/misaki_en.json

spaCy's tagger model (en_core_web_sm) is not on the package registries this project uses, so misaki's G2P runs
with spaCy's blank English tokenizer and every token tagged ``NN`` (a noun: what ttsd assumes for an English
word inside Mandarin text). Mixed sentences are built as misaki's ZHG2P joins segments in its v1.1 path (each
English segment through the English G2P, segments joined by one space), with the Mandarin segments read by the
v1.0 path (``legacy_call``) that Kokoro v1.0's Mandarin voices were trained on.
"""

from __future__ import annotations

import json
import re
import sys

import spacy
from misaki import en, espeak, zh

WORDS = [
    "iPhone", "Google", "Wi-Fi", "WiFi", "Excel", "email", "App", "CEO", "NASA", "Starbucks", "iOS", "Settings",
    "PowerPoint", "YouTube", "Pro", "COVID", "Sambert", "Hifigan", "Sambert-Hifigan", "OK", "McDonald's", "apps",
    "Type", "GitHub", "ChatGPT", "Zoom", "PayPal", "Plus", "WhatsApp", "Amazon", "Inbox", "Gold", "MacBook", "Air",
    "Nike", "IKEA", "LEGO", "Intel", "Kindle", "Adidas", "Puma", "Python", "Linux", "MySQL", "bug", "Docker",
    "Netflix", "Instagram", "Billboard", "TikTok", "Spotify", "like", "Play", "settings", "downloaded", "loading",
    "Huawei", "Xiaomi", "Alipay", "WeChat", "Taobao", "Tesla", "Uber", "Airbnb", "Photoshop", "Outlook", "Teams",
    "Slack", "Notion", "Figma", "Kubernetes", "Redis", "Nginx", "JavaScript", "TypeScript", "Android", "Windows",
]  # fmt: skip
MIXED = [
    "她买了一台新的iPhone。",
    "欢迎使用Sambert-Hifigan中文语音合成服务",
    "连上Wi-Fi后打开App",
    "我在Starbucks买了一杯拿铁",
    "他在用ChatGPT写报告",
    "请把代码提交到GitHub",
    "这部电影在Netflix上线了",
    "我每天晚上都看YouTube",
    "他在Excel里做了一张表",
    "您可以通过Zoom参加线上说明会",
    "请在Google Play下载最新版本",
    "服务器部署在Linux上",
]


def english_g2p() -> en.G2P:
    nlp = spacy.blank("en")

    @spacy.Language.component("tag_nn")
    def tag_nn(doc):  # type: ignore[no-untyped-def]
        for token in doc:
            token.tag_ = "NN"
        return doc

    nlp.add_pipe("tag_nn")
    g2p = en.G2P.__new__(en.G2P)
    g2p.version, g2p.british, g2p.nlp, g2p.unk = None, False, nlp, "❓"
    g2p.lexicon = en.Lexicon(False)
    g2p.fallback = espeak.EspeakFallback(british=False)
    return g2p


def mixed(g2p: en.G2P, text: str) -> str:
    text = zh.ZHG2P.map_punctuation(text)
    segments = []
    for english, chinese in re.findall(r"([A-Za-z \'-]*[A-Za-z][A-Za-z \'-]*)|([^A-Za-z]+)", text):
        english, chinese = english.strip(), chinese.strip()
        if chinese:
            segments.append(zh.ZHG2P.legacy_call(chinese))
        else:
            segments.append(g2p(english)[0])
    return " ".join(segments)


def main() -> None:
    g2p = english_g2p()
    words = {w: g2p(w)[0] for w in WORDS}
    sentences = [{"text": t, "misaki": mixed(g2p, t)} for t in MIXED]
    source = "misaki 0.9.4 en.G2P (spaCy blank tokenizer, tag NN, EspeakFallback with espeakng-loader 0.2.4)"
    json.dump({"source": source, "words": words, "mixed": sentences}, sys.stdout, ensure_ascii=False, indent=1)
    print()


if __name__ == "__main__":
    main()
