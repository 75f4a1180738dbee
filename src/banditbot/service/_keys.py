"""API keys with roles, stored hashed (SHA-256): ``read`` ⊂ ``decide`` ⊂ ``admin``.

Keys come from the config file (hash only) or from ``banditbot keys create``, which stores
the hash in the store (one document, changed under optimistic concurrency) and prints the
key once. Lookups are cached for a couple of seconds per process, so a revocation takes
effect everywhere within that time. A key the cached list does not hold has the list read
again (at most once per :data:`_MISS_SECONDS`; a miss while that read runs is answered from
the list it has), so a key works as soon as ``banditbot keys create`` returns, and a flood
of unknown keys costs the store a few reads a second at most.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from .._config import ApiKeySpec
from .._errors import ConfigError, StoreError
from ..stores import Store

__all__ = ["ROLES", "ApiKey", "KeyRing", "hash_key", "role_allows"]

ROLES = ("read", "decide", "admin")
_DOCUMENT = "api-keys"
_CACHE_SECONDS = 2.0
#: how often an unknown key may have the key list read again (a new key is unknown until
#: then; a flood of made-up keys costs one read per interval, not one per key)
_MISS_SECONDS = 0.2
#: how far ahead :meth:`KeyRing.needs_reload` looks: a list that expires, or a miss read that
#: comes due, within this time counts as due now (the server asks it, then authenticates
#: on the event loop microseconds later: a list that expired between the two was read
#: there, under the lock, stalling every request)
_AHEAD = 0.01


def hash_key(key: str) -> str:
    """SHA-256 of a key, hex (keys are 192 random bits, so no salt is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` requires.

    Examples
    --------
    >>> role_allows("admin", "read"), role_allows("read", "decide")
    (True, False)
    """
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class ApiKey:
    """A key's public facts (never the key itself)."""

    name: str
    role: str
    sha256: str
    created_at: float = 0.0
    revoked: bool = False
    source: str = "store"


class KeyRing:
    """The API keys of a deployment: config keys plus keys kept in the store.

    Parameters
    ----------
    store
        Where created keys are kept (hashed).
    config_keys
        Keys given in the config file (hashed).
    cache_seconds
        How long a process trusts its copy of the key list: the bound on how soon a
        revocation takes effect everywhere.
    miss_seconds
        How often a key not in the cached list may have the list read again (the bound on
        the reads a flood of unknown keys causes; a key created within that time of the
        last such read waits for the next one).
    clock
        Monotonic seconds (tests pass a fake clock).
    """

    def __init__(self, store: Store, config_keys: Sequence[ApiKeySpec] = (), *,
                 cache_seconds: float = _CACHE_SECONDS, miss_seconds: float = _MISS_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self.miss_seconds = miss_seconds
        self.clock = clock
        self.config_keys = [ApiKey(k.name, k.role, k.sha256, source="config")
                            for k in config_keys]
        self._lock = threading.Lock()
        self._cache: tuple[float | None, dict[str, ApiKey]] = (None, {})  # (loaded at, by hash)
        # when a key the list did not hold last had it read (the bound on a flood's reads;
        # the list's own reads do not count: a key created just after one is not refused)
        self._missed_at = -math.inf

    def _load(self) -> tuple[list[ApiKey], int]:
        text, version = self.store.read_document(_DOCUMENT)
        keys = [ApiKey(**k) for k in json.loads(text)] if text else []
        return keys, version

    def list(self) -> list[ApiKey]:
        """All keys (config and store), revoked ones included."""
        return self.config_keys + self._load()[0]

    def create(self, name: str, role: str) -> tuple[str, ApiKey]:
        """A new key: returns ``(key, record)``; only the hash is stored."""
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}", hint="use read, decide or admin")
        if not name or len(name) > 64:
            raise ConfigError("a key needs a name of 1–64 characters")
        key = "bb_" + secrets.token_urlsafe(24)
        record = ApiKey(name, role, hash_key(key), time.time())
        for _ in range(20):
            keys, version = self._load()
            if any(k.name == name and not k.revoked for k in keys + self.config_keys):
                raise ConfigError(f"an active key named {name!r} exists",
                                  hint="revoke it first or pick another name")
            body = json.dumps([asdict(k) for k in [*keys, record]])
            if self.store.write_document(_DOCUMENT, body, version):
                self._cache = (None, {})
                return key, record
        raise StoreError("the key list is being changed concurrently", hint="retry")

    def revoke(self, name: str) -> bool:
        """Revoke the store key(s) with that name; False if there is none."""
        for _ in range(20):
            keys, version = self._load()
            if not any(k.name == name and not k.revoked for k in keys):
                return False
            updated = [ApiKey(k.name, k.role, k.sha256, k.created_at, True, k.source)
                       if k.name == name else k for k in keys]
            if self.store.write_document(_DOCUMENT, json.dumps([asdict(k) for k in updated]),
                                         version):
                self._cache = (None, {})
                return True
        raise StoreError("the key list is being changed concurrently", hint="retry")

    def needs_reload(self, key: str | None = None) -> bool:
        """Whether the next :meth:`authenticate` (of ``key``, if given) reads the store: the
        cached list expired, or ``key`` is not in it and may have it read again; either
        within the next 10 ms counts (an authentication that follows at once, told no read
        is due, never reads)."""
        return self._must_read(self._cache, hash_key(key) if key else None,
                               self.clock() + _AHEAD)

    def _must_read(self, cache: tuple[float | None, dict[str, ApiKey]], digest: str | None,
                   now: float) -> bool:
        """Whether the key list is read for the key of hash ``digest`` at ``now``: the
        cached list expired, or it lacks the key and no miss read began within
        ``miss_seconds``."""
        loaded_at, by_hash = cache
        if loaded_at is None or now - loaded_at > self.cache_seconds:
            return True
        return digest is not None and digest not in by_hash \
            and now - self._missed_at >= self.miss_seconds

    def authenticate(self, key: str | None) -> ApiKey | None:
        """The active key record for a presented key, or ``None``.

        A key the cached list does not hold reads the list again, unless such a read began
        less than ``miss_seconds`` ago: then it is answered from the list as it is, without
        waiting (a key created elsewhere may be refused while another miss's read runs).
        Misses queued on the lock behind one read share it."""
        if not key:
            return None
        digest = hash_key(key)
        asked_at = self.clock()
        cache = self._cache
        if not self._must_read(cache, digest, asked_at):
            # a fresh list that holds the key, or a miss with no read due, takes no lock:
            # it never waits on another request's read (as :meth:`needs_reload` says, the
            # server's event loop runs these; the reads run off it)
            found: ApiKey | None = cache[1].get(digest)
        else:
            found = self._reload(digest, asked_at).get(digest)
        if found is not None and hmac.compare_digest(found.sha256, digest):
            return found
        return None

    def _reload(self, digest: str, asked_at: float) -> dict[str, ApiKey]:
        """The key list for :meth:`authenticate`, read again when it is stale or, for a key
        it does not hold, when no such read came within ``miss_seconds`` (the interval
        starts before the read: a store that fails does not let a flood read at each
        key)."""
        with self._lock:
            loaded_at, by_hash = self._cache
            stale = loaded_at is None or asked_at - loaded_at > self.cache_seconds
            # (a read that began after this key was presented answers it: the misses that
            # queued on the lock meanwhile do not each read again)
            missed = digest not in by_hash and loaded_at is not None \
                and loaded_at < asked_at and self.clock() - self._missed_at >= self.miss_seconds
            if stale or missed:
                now = self.clock()
                if missed and not stale:
                    self._missed_at = now
                by_hash = {k.sha256: k for k in self.list() if not k.revoked}
                self._cache = (now, by_hash)
            return by_hash

    @property
    def empty(self) -> bool:
        """Whether no active key exists yet."""
        return not any(not k.revoked for k in self.list())
