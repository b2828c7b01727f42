"""Polyphone disambiguation: g2pM's character BiLSTM (Apache-2.0, weights shipped in the ``g2pM`` wheel).

The model (Park and Lee, Interspeech 2020) reads a whole sentence of characters and predicts, for every
polyphonic character, one of 876 TONE3 readings. We use its weights and dictionary but our own numpy
inference, which differs from the package's in three ways:

* float32 and the input projections of all steps in one matrix product (the package runs float64 step by
  step): about 1 ms for a 30-character sentence;
* the prediction is restricted to the readings the dictionary lists for that character (the package takes
  the arg-max over all 876 classes and can answer a reading the character does not have);
* the object is immutable after construction, so one instance serves every thread without a lock.

``g2pM`` writes ü as ``u:``; readings returned here use ``v`` (``lv4``), as pypinyin's TONE3 style does.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from importlib import resources
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from ttsd.errors import BackendUnavailable

_F32 = npt.NDArray[np.float32]
_BOS, _EOS, _UNK = "시", "끝", "<UNK>"  # the package's own boundary and unknown symbols


class PolyphoneModel:
    """Readings of the polyphonic characters of a sentence. Load once with :meth:`load`; thread-safe."""

    def __init__(
        self,
        *,
        weights: Mapping[str, _F32],
        char_ids: Mapping[str, int],
        classes: Sequence[str],
        readings: Mapping[str, tuple[str, ...]],
    ) -> None:
        self._emb = np.ascontiguousarray(weights["embedding.weight"], dtype=np.float32)
        self._fw = _Direction(weights, "")
        self._bw = _Direction(weights, "_reverse")
        self._w0 = np.ascontiguousarray(weights["logit_layer.0.weight"].T, dtype=np.float32)
        self._b0 = weights["logit_layer.0.bias"].astype(np.float32)
        self._w1 = np.ascontiguousarray(weights["logit_layer.2.weight"].T, dtype=np.float32)
        self._b1 = weights["logit_layer.2.bias"].astype(np.float32)
        self._char_ids = MappingProxyType(dict(char_ids))
        self._classes = tuple(c.replace("u:", "v") for c in classes)
        class_index = {c: i for i, c in enumerate(self._classes)}
        self._candidates = MappingProxyType(
            {
                ch: np.array(ids, dtype=np.int64)
                for ch, prons in readings.items()
                if len(prons) > 1
                and len(
                    ids := [class_index[p.replace("u:", "v")] for p in prons if p.replace("u:", "v") in class_index]
                )
                > 1
            }
        )

    @classmethod
    def load(cls) -> PolyphoneModel:
        """The weights shipped in the ``g2pM`` package (raises :class:`BackendUnavailable` if it is missing)."""
        try:
            root = resources.files("g2pM")
        except ModuleNotFoundError as exc:
            raise BackendUnavailable("the polyphone model needs the g2pM package: pip install g2pM==0.1.2.5") from exc

        def read(name: str) -> object:
            # The package ships its weights and tables as pickles of numpy arrays and dicts (trusted: from PyPI).
            return pickle.loads(root.joinpath(name).read_bytes())

        weights = read("np_ckpt.pkl")
        char_ids = read("char2idx.pkl")
        class_ids = read("class2idx.pkl")
        cedict = read("digest_cedict.pkl")
        assert isinstance(weights, dict)
        assert isinstance(char_ids, dict)
        assert isinstance(class_ids, dict)
        assert isinstance(cedict, dict)
        classes = [c for c, _ in sorted(class_ids.items(), key=lambda item: item[1])]
        return cls(
            weights=weights,
            char_ids=char_ids,
            classes=classes,
            readings={ch: tuple(p) for ch, p in cedict.items()},
        )

    def candidates(self, char: str) -> tuple[str, ...]:
        """The readings the model chooses from for ``char`` (empty when it is not a polyphone)."""
        ids = self._candidates.get(char)
        return () if ids is None else tuple(self._classes[i] for i in ids)

    def predict(self, sentence: str) -> dict[int, str]:
        """``index -> reading`` for every polyphonic character of ``sentence`` (other indices are absent)."""
        return {i: max(p, key=p.__getitem__) for i, p in self.scores(sentence).items()}

    def scores(self, sentence: str) -> dict[int, dict[str, float]]:
        """``index -> {reading: probability}`` over each polyphonic character's own readings."""
        targets = [i for i, ch in enumerate(sentence) if ch in self._candidates]
        if not targets:
            return {}
        unk = self._char_ids[_UNK]
        ids = [self._char_ids[_BOS], *(self._char_ids.get(ch, unk) for ch in sentence), self._char_ids[_EOS]]
        x = self._emb[np.array(ids, dtype=np.int64)]
        positions = [i + 1 for i in targets]
        forward, backward = _run_both(self._fw, self._bw, x)
        hidden = np.concatenate([forward[positions], backward[positions]], axis=1)
        logits = np.maximum(hidden @ self._w0 + self._b0, 0.0) @ self._w1 + self._b1
        out: dict[int, dict[str, float]] = {}
        for row, index in enumerate(targets):
            allowed = self._candidates[sentence[index]]
            chosen = logits[row, allowed]
            probs = np.exp(chosen - chosen.max())
            probs /= probs.sum()
            out[index] = {self._classes[int(c)]: float(p) for c, p in zip(allowed, probs, strict=True)}
        return out


class _Direction:
    """One direction of the LSTM (PyTorch gate order i, f, g, o)."""

    def __init__(self, weights: Mapping[str, _F32], suffix: str) -> None:
        self.w_ih = np.ascontiguousarray(weights[f"lstm.weight_ih_l0{suffix}"].T, dtype=np.float32)
        self.w_hh = np.ascontiguousarray(weights[f"lstm.weight_hh_l0{suffix}"].T, dtype=np.float32)
        self.bias = (weights[f"lstm.bias_ih_l0{suffix}"] + weights[f"lstm.bias_hh_l0{suffix}"]).astype(np.float32)
        self.size = self.w_hh.shape[0]


def _run_both(fw: _Direction, bw: _Direction, x: _F32) -> tuple[_F32, _F32]:
    """Both directions in one loop (half the per-step Python overhead): hidden states ``[T, H]`` each,
    the backward ones in input order."""
    n = fw.size
    steps = x.shape[0]
    gin_f = x @ fw.w_ih + fw.bias
    gin_b = x[::-1] @ bw.w_ih + bw.bias
    h = np.zeros(2 * n, dtype=np.float32)
    c = np.zeros((2, n), dtype=np.float32)
    w_hh = np.zeros((2 * n, 8 * n), dtype=np.float32)
    w_hh[:n, : 4 * n] = fw.w_hh
    w_hh[n:, 4 * n :] = bw.w_hh
    out = np.empty((steps, 2, n), dtype=np.float32)
    for t in range(steps):
        gates = (np.concatenate([gin_f[t], gin_b[t]]) + h @ w_hh).reshape(2, 4 * n)
        sig = 1.0 / (1.0 + np.exp(-gates))
        c = sig[:, n : 2 * n] * c + sig[:, :n] * np.tanh(gates[:, 2 * n : 3 * n])
        hh = sig[:, 3 * n :] * np.tanh(c)
        out[t] = hh
        h = hh.reshape(-1)
    return out[:, 0], out[::-1, 1]
