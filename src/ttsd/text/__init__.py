"""Mandarin text front end (pure Python, no torch): normalization, sentence splitting, pinyin, Baker ids.

Entry point: :class:`ttsd.text.frontend.TextFrontend`. :func:`ttsd.text.split.split_sentences` is cheap and
needs neither the normalizer nor pypinyin.
"""
