"""Accounts and their API keys. Keys are shown once at creation and stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hotasr.errors import AccountError as AccountError  # re-exported: raised here
from hotasr.storage.db import loop_reader, reading
from hotasr.storage.tables import Account, ApiKey, utcnow

KEY_PREFIX = "sk-"
ACCOUNT_NAME_MAX = 64


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    account: str
    secret: str  # the only time the plain key exists outside the client


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    account: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None


def live_key(secret: str) -> Select[int, str]:
    """(account id, key id) of the live key with this secret: no row for a wrong or revoked key."""
    return select(ApiKey.account_id, ApiKey.id).where(
        ApiKey.secret_hash == hash_secret(secret), ApiKey.revoked_at.is_(None)
    )


def _found(row: Sequence[Any] | None) -> tuple[int, str] | None:
    return (row[0], row[1]) if row else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._reader = loop_reader(sessions)

    def create_key(self, account_name: str) -> NewKey:
        """A new key for `account_name`, creating the account when it does not exist yet."""
        name = account_name.strip()
        if not name or len(name) > ACCOUNT_NAME_MAX:
            raise AccountError(f"account name must be 1 to {ACCOUNT_NAME_MAX} characters")
        secret = KEY_PREFIX + secrets.token_hex(24)
        key_id = "key-" + secrets.token_hex(6)
        with self._sessions.begin() as session:
            account = session.scalar(select(Account).where(Account.name == name))
            if account is None:
                account = Account(name=name, created_at=utcnow(), write_serial=0)
                session.add(account)
                session.flush()
            session.add(
                ApiKey(
                    id=key_id,
                    account_id=account.id,
                    secret_hash=hash_secret(secret),
                    hint=secret[: len(KEY_PREFIX) + 4],
                    created_at=utcnow(),
                )
            )
        return NewKey(key_id=key_id, account=name, secret=secret)

    def list_keys(self) -> list[KeyInfo]:
        with self._sessions() as session:
            rows = session.execute(
                select(ApiKey, Account.name).join(Account).order_by(ApiKey.created_at, ApiKey.id)
            ).all()
            return [KeyInfo(k.id, name, k.hint, k.created_at, k.revoked_at) for k, name in rows]

    def revoke_key(self, key_id: str) -> None:
        with self._sessions.begin() as session:
            result = session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                exists = session.scalar(select(ApiKey.id).where(ApiKey.id == key_id))
                raise AccountError(
                    f"key {key_id} is already revoked" if exists else f"no key with id {key_id}"
                )

    def identify(self, secret: str) -> tuple[int, str] | None:
        """(account id, key id) of a live key, or None."""
        if not secret.startswith(KEY_PREFIX):
            return None
        with reading(self._sessions) as session:
            return _found(session.execute(live_key(secret)).first())

    async def identify_on_loop(self, secret: str) -> tuple[int, str] | None:
        """`identify` for the event loop (see `LoopReader`)."""
        if not secret.startswith(KEY_PREFIX):
            return None
        return _found(await self._reader.first(live_key(secret)))

    def authenticate(self, secret: str) -> int | None:
        """The account id a live key belongs to, or None."""
        found = self.identify(secret)
        return found[0] if found else None

    def has_accounts(self) -> bool:
        with self._sessions() as session:
            return bool(session.scalar(select(func.count()).select_from(Account)))
