"""`Authorization: Bearer <key>` (scheme case-insensitive: SDK 1.x sends `bearer`)."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from hotasr.accounts import AccountService
from hotasr.api.limits import RateLimiter
from hotasr.errors import RateLimited, Unauthenticated


def bearer_token(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(connection: HTTPConnection) -> int:
    """The caller's account id; 401 InvalidApiKey for a bad key, 429 Throttling.RateQuota past its rate."""
    accounts: AccountService = connection.app.state.accounts
    return admit(connection, await accounts.identify_on_loop(required_token(connection)))


def required_token(connection: HTTPConnection) -> str:
    token = bearer_token(connection)
    if token is None:
        raise Unauthenticated("No API-key provided: send 'Authorization: Bearer <key>'.")
    return token


def admit(connection: HTTPConnection, found: tuple[int, str] | None) -> int:
    """The account id of a key found live (`AccountService.identify`), or the 401 or 429 above."""
    if found is None:
        raise Unauthenticated("Invalid API-key provided.")
    account_id, key_id = found
    limiter: RateLimiter = connection.app.state.rate_limiter
    if not limiter.allow(key_id):
        raise RateLimited("Requests rate limit exceeded, please try again later.")
    return account_id
