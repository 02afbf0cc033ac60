"""Operator and booth authentication.

Operator passwords are argon2id hashes. Verifying one costs tens of milliseconds and
64 MiB by design, and the UI makes many requests, so a successful check is remembered for a
minute under a key derived from the credentials *and* the stored hash: changing the password
invalidates it at once. Booth upload passwords are compared in constant time. Every check
reserves its place in a throttle first (per client, and per account for operators), and
hashes run on their own small lane with a short queue, so a burst of guesses can neither be
checked past the limit nor take the CPU from the booths.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.access import Access, Level
from shared.apikeys import ApiKeys
from shared.concurrency import HashQueueFull, run_hash
from shared.domain import Tenant
from shared.errors import SlotNotReady, TooManyAttempts, Unauthorized
from shared.repository import Repository
from shared.secret_box import SealedSecretError
from shared.throttle import Throttle

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): ~50 ms here, instead of the library
# default's 64 MiB × 4 lanes, which takes over a second on a 2-core box or a small Lambda.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_CACHE_SECONDS = 60.0
_CACHE_MAX = 1024
# Shown to the operator (console) and to the booth (its error text) when the stored upload
# password was sealed under another deployment key.
UNREADABLE_UPLOAD_PASSWORD = (
    "this account's upload password cannot be read with the server's current key (was "
    "BOOTHAI_SIGNING_KEY changed?): rotate the upload password in the console and enter the "
    "new one in the booth")


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

    def __init__(self, *, repo: Repository, api_keys: ApiKeys, throttle: Throttle,
                 account_limit: int | None = None) -> None:
        self.repo = repo
        self.api_keys = api_keys
        self.throttle = throttle
        self.account_limit = account_limit or throttle.limit * 10
        self._verified: dict[str, float] = {}

    def _cache_key(self, tenant: Tenant, password: str) -> str:
        material = f"{tenant.name}\0{password}\0{tenant.password_hash}".encode()
        return hashlib.sha256(material).hexdigest()

    async def operator(self, username: str, password: str, client: str) -> Tenant:
        """The tenant for Basic Auth credentials, or Unauthorized / TooManyAttempts.

        Credentials checked in the last minute pass at once (the UI sends them with every
        request). Any other check reserves a place per client and per account first
        (shared/throttle.py), then waits for the hash lane (shared/concurrency.run_hash)."""
        tenant = await self.repo.get_tenant(username) if username else None
        key = self._cache_key(tenant, password) if tenant is not None else ""
        if tenant is not None and self._verified.get(key, 0.0) > time.monotonic():
            return tenant
        async with self.throttle.attempt("login", client) as by_client:
            if tenant is None:
                # An unknown name costs the same hash as a known one (no user enumeration),
                # counted per client only: unknown names would each open an account bucket.
                await _hash(lambda: verify_password(_dummy(), password))
                by_client.failed()
                raise Unauthorized("wrong user name or password")
            async with self.throttle.attempt("account", tenant.name,
                                             limit=self.account_limit) as by_account:
                stored = tenant.password_hash
                if not await _hash(lambda: verify_password(stored, password)):
                    by_client.failed()
                    by_account.failed()
                    raise Unauthorized("wrong user name or password")
        if len(self._verified) >= _CACHE_MAX:
            self._verified.clear()
        self._verified[key] = time.monotonic() + _CACHE_SECONDS
        return tenant

    async def api_client(self, authorization: str, client: str) -> Tenant:
        """API callers: `Authorization: Bearer <api key>`, or HTTP Basic whose password is an
        API key (any user name, as in `user:api-key`) or the operator's own password."""
        scheme, _, value = authorization.partition(" ")
        username, secret = "", value.strip()
        if scheme.lower() == "basic":
            try:
                username, _, secret = base64.b64decode(secret).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                secret = ""
        elif scheme.lower() != "bearer":
            secret = ""
        async with self.throttle.attempt("api", client) as attempt:
            tenant_name = await self.api_keys.tenant_for(secret) if secret else None
            if tenant_name is not None:
                tenant = await self.repo.get_tenant(tenant_name)
                if tenant is not None:
                    return tenant
            if not (scheme.lower() == "basic" and username):
                attempt.failed()
                raise Unauthorized("send an API key: Authorization: Bearer <key>")
        # Not an API key: the operator's own password, throttled as a login.
        return await self.operator(username, secret, client)

    async def booth_locked(self, client: str) -> None:
        """TooManyAttempts when this client has used up its upload-password failures: asked
        before the booth's body is read, so a locked-out client sends nothing more."""
        await self.throttle.refuse_if_locked("upload", client)

    async def booth(self, tenant: Tenant, supplied: str, client: str) -> None:
        """Check the upload password a booth sent with its photo (constant time)."""
        try:
            expected = tenant.upload_password
        except SealedSecretError:
            # Not the booth's mistake and not a guess to count: the operator has to act.
            raise SlotNotReady(UNREADABLE_UPLOAD_PASSWORD, code="password_unreadable") from None
        async with self.throttle.attempt("upload", client) as attempt:
            if not hmac.compare_digest(supplied.encode(), expected.encode()):
                attempt.failed()
                raise Unauthorized("wrong upload password")


async def _hash(check: Callable[[], bool]) -> bool:
    try:
        return await run_hash(check)
    except HashQueueFull:
        raise TooManyAttempts("the server is busy checking passwords; try again in a moment",
                              retry_after=2) from None
