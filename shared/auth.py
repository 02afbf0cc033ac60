"""Operator and booth authentication.

Operator passwords are argon2id hashes. Verifying one costs tens of milliseconds and
64 MiB by design, and the UI makes many requests, so a successful check is remembered for a
minute under a key derived from the credentials *and* the stored hash: changing the password
invalidates it at once. Booth upload passwords are compared in constant time. Failures of
either are throttled per client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.access import Access, Level
from shared.apikeys import ApiKeys
from shared.concurrency import run_cpu
from shared.domain import Tenant
from shared.errors import Unauthorized
from shared.repository import Repository
from shared.throttle import Throttle

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): ~50 ms here, instead of the library
# default's 64 MiB × 4 lanes, which takes over a second on a 2-core box or a small Lambda.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_CACHE_SECONDS = 60.0
_CACHE_MAX = 1024


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_dummy_hash: str | None = None


def _dummy() -> str:
    """A well-formed hash to verify against when the user does not exist, so the answer
    takes the same time whether or not the name is known. Made on first need, not at import."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("no such user")
    return _dummy_hash


class Authenticator:
    # Reads accounts and API-key digests, counts failures; never writes an account or a key.
    ACCESS = Access(tables={"tenants": Level.READ, "lookups": Level.READ,
                            "throttle": Level.CRUD})

    def __init__(self, *, repo: Repository, api_keys: ApiKeys, throttle: Throttle) -> None:
        self.repo = repo
        self.api_keys = api_keys
        self.throttle = throttle
        self._verified: dict[str, float] = {}

    def _cache_key(self, tenant: Tenant, password: str) -> str:
        material = f"{tenant.name}\0{password}\0{tenant.password_hash}".encode()
        return hashlib.sha256(material).hexdigest()

    async def operator(self, username: str, password: str, client: str) -> Tenant:
        """The tenant for Basic Auth credentials, or Unauthorized / TooManyAttempts."""
        await self.throttle.check("login", client)
        tenant = await self.repo.get_tenant(username) if username else None
        if tenant is not None:
            key = self._cache_key(tenant, password)
            if self._verified.get(key, 0.0) > time.monotonic():
                return tenant
            stored = tenant.password_hash
            ok = await run_cpu(lambda: verify_password(stored, password))
        else:
            await run_cpu(lambda: verify_password(_dummy(), password))
            ok = False
        if not ok:
            await self.throttle.failed("login", client)
            raise Unauthorized("wrong user name or password")
        if len(self._verified) >= _CACHE_MAX:
            self._verified.clear()
        self._verified[key] = time.monotonic() + _CACHE_SECONDS
        return tenant

    async def api_client(self, authorization: str, client: str) -> Tenant:
        """API callers: `Authorization: Bearer <api key>`, or HTTP Basic whose password is an
        API key (any user name, as in `user:api-key`) or the operator's own password."""
        await self.throttle.check("api", client)
        scheme, _, value = authorization.partition(" ")
        username, secret = "", value.strip()
        if scheme.lower() == "basic":
            try:
                username, _, secret = base64.b64decode(secret).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                secret = ""
        elif scheme.lower() != "bearer":
            secret = ""
        tenant_name = await self.api_keys.tenant_for(secret) if secret else None
        if tenant_name is not None:
            tenant = await self.repo.get_tenant(tenant_name)
            if tenant is not None:
                return tenant
        if scheme.lower() == "basic" and username:
            return await self.operator(username, secret, client)
        await self.throttle.failed("api", client)
        raise Unauthorized("send an API key: Authorization: Bearer <key>")

    async def booth(self, tenant: Tenant, supplied: str, client: str) -> None:
        """Check the upload password a booth sent with its photo."""
        await self.throttle.check("upload", client)
        if not hmac.compare_digest(supplied.encode(), tenant.upload_password.encode()):
            await self.throttle.failed("upload", client)
            raise Unauthorized("wrong upload password")
