"""Text folding for matching Polish and English keywords regardless of case and diacritics."""

from __future__ import annotations

import unicodedata

_NOT_DECOMPOSED = str.maketrans({"ł": "l", "Ł": "l"})


def fold(text: str) -> str:
    """'Cześć, ŁÓDŹ!' -> 'czesc, lodz!'"""
    decomposed = unicodedata.normalize("NFKD", text.translate(_NOT_DECOMPOSED))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
