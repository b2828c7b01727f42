"""Mandarin text front end (pure Python, no torch): text or SSML -> sentences, normalized, read once as TONE3
pinyin and cut to each voice's budget (:class:`ttsd.text.types.Sentence`); every voice turns them into its own
ids (``Voice.encode``).

Entry point: :class:`ttsd.text.frontend.TextFrontend`. :func:`ttsd.text.plan.plan` (sentence units) is cheap and
needs neither the normalizer nor pypinyin.
"""
