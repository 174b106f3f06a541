"""`Authorization: Bearer <key>` (scheme case-insensitive: SDK 1.x sends `bearer`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from hotasr.accounts import AccountService
from hotasr.api.errors import ApiError


def bearer_token(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(connection: HTTPConnection) -> int:
    """The caller's account id, or ApiError 401 InvalidApiKey."""
    token = bearer_token(connection)
    if token is None:
        raise ApiError(401, "InvalidApiKey", "No API-key provided: send 'Authorization: Bearer <key>'.")
    accounts: AccountService = connection.app.state.accounts
    account_id = await run_in_threadpool(accounts.authenticate, token)
    if account_id is None:
        raise ApiError(401, "InvalidApiKey", "Invalid API-key provided.")
    return account_id
