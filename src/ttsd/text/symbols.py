"""The Baker symbol inventory, read from the voice's ``baker_mapper.json``.

The file maps 219 symbols to ids (``pad``=0, ``sil``=1, ``#0``..``#3``, initials including the zero
initial ``^``, finals with tones 1-5, ``eos``=218). The front end never hard-codes ids: it reads them from
the file the model was trained with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ttsd.errors import AssetError

PAD = "pad"
SIL = "sil"
EOS = "eos"
WORD_SEP = "#0"  # between syllables, as the reference front end writes it


@dataclass(frozen=True, slots=True)
class SymbolTable:
    """Bidirectional symbol <-> id mapping. Immutable; safe to share between threads."""

    symbol_to_id: Mapping[str, int]
    id_to_symbol: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> SymbolTable:
        """Read ``symbol_to_id`` from a ``baker_mapper.json``; raise :class:`AssetError` if it is unusable."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            mapping = {str(k): int(v) for k, v in raw["symbol_to_id"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AssetError(f"cannot read the symbol inventory {path}: {exc}") from exc
        return cls.from_mapping(mapping, source=str(path))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, int], *, source: str = "mapping") -> SymbolTable:
        """Build from ``symbol -> id``; ids must be exactly ``0..n-1`` and include pad, sil, #0 and eos."""
        ids = sorted(mapping.values())
        if ids != list(range(len(ids))):
            raise AssetError(f"symbol ids in {source} are not a dense range 0..{len(ids) - 1}")
        missing = {PAD, SIL, EOS, WORD_SEP} - set(mapping)
        if missing:
            raise AssetError(f"symbol inventory {source} lacks {sorted(missing)}")
        by_id = [""] * len(ids)
        for symbol, index in mapping.items():
            by_id[index] = symbol
        return cls(symbol_to_id=MappingProxyType(dict(mapping)), id_to_symbol=tuple(by_id))

    def __len__(self) -> int:
        return len(self.id_to_symbol)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.symbol_to_id

    @property
    def eos_id(self) -> int:
        return self.symbol_to_id[EOS]

    def to_ids(self, symbols: Iterable[str], *, add_eos: bool = True) -> tuple[int, ...]:
        """Ids of ``symbols`` (``eos`` appended by default). Raises ``KeyError`` on an unknown symbol."""
        ids = [self.symbol_to_id[s] for s in symbols]
        if add_eos:
            ids.append(self.eos_id)
        return tuple(ids)
