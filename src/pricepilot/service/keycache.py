"""API keys looked up once per :data:`KEY_TTL_SECONDS` per worker, not once per request.

:func:`cached_key` answers from a small in-process cache of recent lookups (by the token's SHA-256 hash,
never the token) and asks the store, on a worker thread, only for a token it has not seen within the
last :data:`KEY_TTL_SECONDS`. A key revoked through :func:`pricepilot.service.auth.revoke_key` stops
working at once in the process that revoked it (:func:`forget_keys` empties every cache), and within
:data:`KEY_TTL_SECONDS` on every other worker (``pricepilot keys revoke`` runs in a process of its own).
Unknown and revoked tokens are cached too (as refusals), so a client sending a bad key does not cost a
database query per request.
"""

from __future__ import annotations

import threading
import time
import weakref

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from pricepilot.service.auth import ApiKey, hash_token, lookup_key

#: seconds a looked-up key (or refusal) is reused: a revoked key stops working within this on every worker
KEY_TTL_SECONDS = 2.0
#: most tokens remembered per engine (the oldest half is dropped beyond it)
MAX_CACHED = 10_000

_CACHES: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, ApiKey | None]]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def forget_keys() -> None:
    """Empty every cache of this process (after a key was revoked here)."""
    with _LOCK:
        for cache in _CACHES.values():
            cache.clear()


def known_key(engine: Engine, token: str) -> tuple[bool, ApiKey | None]:
    """``(True, key or None)`` when the cache of ``engine`` answered for ``token`` within the last
    :data:`KEY_TTL_SECONDS` (None: a refusal), else ``(False, None)``; never asks the store."""
    digest = hash_token(token)
    with _LOCK:
        cache = _CACHES.get(engine)
        found = None if cache is None else cache.get(digest)
    if found is not None and time.monotonic() - found[0] < KEY_TTL_SECONDS:
        return True, found[1]
    return False, None


async def cached_key(engine: Engine, token: str) -> ApiKey | None:
    """The key stored for ``token`` in ``engine``'s store, or None when there is none or it was revoked,
    as :func:`pricepilot.service.auth.lookup_key` answers it at most :data:`KEY_TTL_SECONDS` ago."""
    found, key = known_key(engine, token)
    if found:
        return key
    digest = hash_token(token)
    now = time.monotonic()
    key = await run_in_threadpool(lookup_key, engine, token)
    with _LOCK:
        cache = _CACHES.setdefault(engine, {})
        if len(cache) >= MAX_CACHED:
            for old in list(cache)[: MAX_CACHED // 2]:
                del cache[old]
        cache[digest] = (now, key)
    return key
