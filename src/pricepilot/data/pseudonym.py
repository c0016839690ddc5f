"""Pseudonymisation of visitor ids with a keyed hash (HMAC-SHA256), applied at ingestion.

The same raw id and key always give the same pseudonym, so a visitor's history stays joined; without
the key the pseudonym cannot be reversed or recomputed from a guessed id. Raw ids are hashed as soon as
a source is read and never stored. The key comes from the ``key`` argument or, when that is None, from
the environment variable ``PRICEPILOT_PSEUDONYM_KEY``; keep it out of the data and out of the code.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pricepilot.data.events import NO_USER, ObjectArray
from pricepilot.types import IntArray

ENV_VAR = "PRICEPILOT_PSEUDONYM_KEY"
MIN_KEY_BYTES = 16


class MissingKeyError(ValueError):
    """No pseudonymisation key was given and ``PRICEPILOT_PSEUDONYM_KEY`` is not set."""


def resolve_key(key: str | bytes | None = None) -> bytes:
    """The key as bytes: ``key`` itself, or the environment variable's value when ``key`` is None.

    Raises
    ------
    MissingKeyError
        When neither gives a key, or the key is shorter than 16 bytes.
    """
    if key is None:
        key = os.environ.get(ENV_VAR)
    if key is None or key == "" or key == b"":
        raise MissingKeyError(
            f"no pseudonymisation key: pass key=... or set the environment variable {ENV_VAR} to a secret "
            "of at least 16 characters (for example: export "
            f'{ENV_VAR}="$(python -c "import secrets; print(secrets.token_hex(32))")")'
        )
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if len(raw) < MIN_KEY_BYTES:
        raise MissingKeyError(f"pseudonymisation key has {len(raw)} bytes; use at least {MIN_KEY_BYTES}")
    return raw


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def _text(value: Any) -> str:
    """Canonical text of an id, so that ``42``, ``42.0`` and ``'42'`` are the same visitor."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True, slots=True)
class Pseudonymiser:
    """Keyed hash of ids. ``Pseudonymiser.from_key(None)`` reads the key from the environment.

    Attributes
    ----------
    key : bytes, the HMAC key (not shown in ``repr``)
    """

    key: bytes = field(repr=False)

    @classmethod
    def from_key(cls, key: str | bytes | None = None) -> Pseudonymiser:
        return cls(resolve_key(key))

    def digest(self, raw_id: Any) -> bytes:
        """HMAC-SHA256 of one id's canonical text."""
        return hmac.new(self.key, _text(raw_id).encode(), hashlib.sha256).digest()

    def _each(self, values: Iterable[Any], fn: Any, missing: Any, dtype: Any) -> Any:
        series = pd.Series(list(values) if not isinstance(values, pd.Series) else values, dtype=object)
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        mapped = np.array([missing if _missing(u) else fn(self.digest(u)) for u in uniques], dtype=dtype)
        out = np.full(len(series), missing, dtype=dtype)
        ok = codes >= 0
        out[ok] = mapped[codes[ok]]
        return out

    def int64(self, values: Iterable[Any]) -> IntArray:
        """Pseudonyms as non-negative int64 (the first 63 bits of the HMAC); missing ids give -1.

        Hashes each distinct id once, so a column with few visitors and many rows is fast.
        """
        return np.asarray(
            self._each(values, lambda d: int.from_bytes(d[:8], "big") >> 1, NO_USER, np.int64),
            dtype=np.int64,
        )

    def hex(self, values: Iterable[Any]) -> ObjectArray:
        """Pseudonyms as 64 hex digits (the full HMAC); missing ids give ``''``."""
        return np.asarray(self._each(values, lambda d: d.hex(), "", object), dtype=object)


def pseudonymise_column(
    frame: pd.DataFrame, column: str, pseudonymiser: Pseudonymiser, out: str = "user"
) -> pd.DataFrame:
    """A copy of ``frame`` with ``column`` (raw ids) replaced by ``out`` (int64 pseudonyms)."""
    pseudonyms = pseudonymiser.int64(frame[column])
    result = frame.drop(columns=[column])
    result[out] = pseudonyms
    return result
