"""Hotword lists ("vocabularies") of one account: the rules of hotasr.hotwords plus storage.

Adapters (the DashScope HTTP API, the console, recognition) call this service; it never
speaks HTTP. Errors are domain errors (hotasr.errors), each with a message fit for the user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from sqlalchemy import Row, Select, and_, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hotasr.accounts import KEY_PREFIX, live_key
from hotasr.catalog import HOTWORD_MODELS, MODELS
from hotasr.config import Settings
from hotasr.errors import QuotaExceeded
from hotasr.errors import VocabularyNotFound as VocabularyNotFound  # re-exported: raised here
from hotasr.hotwords import Hotword, HotwordError, parse_hotword_list, show, validate_prefix
from hotasr.storage.db import loop_reader, reading, write_lock
from hotasr.storage.tables import Account, Vocabulary, utcnow

Status = Literal["OK", "UNDEPLOYED"]
MAX_PAGE_SIZE = 100
# Far past any account's lists; keeps page_index * page_size inside a 64-bit OFFSET.
MAX_PAGE_INDEX = 1_000_000


def _quota_exceeded(limit: int) -> QuotaExceeded:
    return QuotaExceeded(f"this account already has {limit} hotword lists, the most allowed; delete one first")


@dataclass(frozen=True)
class VocabularyRecord:
    vocabulary_id: str
    prefix: str
    target_model: str
    created_at: datetime
    modified_at: datetime
    version: int
    # The stored wire items, validated on the way in; empty when only a summary was loaded.
    items: list[dict[str, Any]] = field(default_factory=list)

    @cached_property
    def hotwords(self) -> list[Hotword]:
        return [Hotword(i["text"], i["weight"], i.get("lang")) for i in self.items]



_SUMMARY_COLUMNS = (Vocabulary.id, Vocabulary.prefix, Vocabulary.target_model, Vocabulary.created_at,
                    Vocabulary.modified_at, Vocabulary.version)


def _owned(account_id: int, vocabulary_id: str) -> Select[Any]:
    """The list's row, if this account has it (another account's list reads as absent)."""
    return select(*_SUMMARY_COLUMNS, Vocabulary.items).where(
        Vocabulary.id == vocabulary_id, Vocabulary.account_id == account_id
    )


def _owned_by_key(secret: str, vocabulary_id: str) -> Select[Any]:
    """The key's (account id, key id) and, if that account has it, the list's row; nothing for a
    key that is not live."""
    key = live_key(secret).subquery()
    return (
        select(key.c.account_id, key.c.id, *_SUMMARY_COLUMNS, Vocabulary.items)
        .select_from(key)
        .outerjoin(Vocabulary, and_(Vocabulary.id == vocabulary_id, Vocabulary.account_id == key.c.account_id))
    )


@dataclass(frozen=True, slots=True)
class KeyedRead:
    """A list read together with the check of the key that asks for it (`get_by_key_on_loop`)."""

    key: tuple[int, str] | None  # (account id, key id) of the live key; None: no such key
    vocabulary_id: Any
    row: tuple[Any, ...] | None  # the list's columns, None where the account has no such list

    def record(self) -> VocabularyRecord:
        """The list, once the key is admitted; the same errors as `VocabularyService.get`."""
        return _record(_check_id(self.vocabulary_id), self.row)


def _check_id(vocabulary_id: Any) -> str:
    if not isinstance(vocabulary_id, str) or not vocabulary_id:
        raise HotwordError("vocabulary_id is required and must be a string")
    return vocabulary_id


def _record(vocabulary_id: str, row: Row[Any] | tuple[Any, ...] | None) -> VocabularyRecord:
    if row is None:
        raise VocabularyNotFound(vocabulary_id)
    return VocabularyRecord(*row)


def _check_target_model(target_model: Any) -> str:
    if not isinstance(target_model, str) or not target_model:
        raise HotwordError("target_model is required: the model the list will be used with")
    if target_model not in HOTWORD_MODELS:
        raise HotwordError(
            f"target_model {show(target_model)} is not a model that supports hotwords; "
            f"use one of: {', '.join(sorted(HOTWORD_MODELS))}"
        )
    return target_model


class VocabularyService:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._write_lock = write_lock(sessions)
        self._reader = loop_reader(sessions)

    def status(self, record: VocabularyRecord) -> Status:
        return "OK" if self._settings.is_served(record.target_model) else "UNDEPLOYED"

    def _parse_items(self, items: Any, target_model: str) -> list[dict[str, Any]]:
        hotwords = parse_hotword_list(
            items,
            MODELS[target_model].hotword_langs,
            max_terms=self._settings.max_terms_per_vocabulary,
        )
        return [h.to_dict() for h in hotwords]

    def create(self, account_id: int, *, target_model: Any, prefix: Any, items: Any) -> str:
        target = _check_target_model(target_model)
        valid_prefix = validate_prefix(prefix)
        parsed = self._parse_items(items, target)
        limit = self._settings.max_vocabularies_per_account
        now = utcnow()
        vocabulary_id = f"vocab-{valid_prefix}-{uuid.uuid4().hex}"
        with self._write_lock, self._sessions.begin() as session:
            # Lock first, count second: concurrent creates on one account queue up here.
            session.execute(
                update(Account)
                .where(Account.id == account_id)
                .values(write_serial=Account.write_serial + 1)
            )
            count = session.scalar(
                select(func.count()).select_from(Vocabulary).where(Vocabulary.account_id == account_id)
            )
            if (count or 0) >= limit:
                raise _quota_exceeded(limit)
            session.add(
                Vocabulary(
                    id=vocabulary_id,
                    account_id=account_id,
                    prefix=valid_prefix,
                    target_model=target,
                    items=parsed,
                    created_at=now,
                    modified_at=now,
                    version=1,
                )
            )
        return vocabulary_id

    def list(
        self, account_id: int, *, prefix: Any = None, page_index: Any = 0, page_size: Any = 10
    ) -> list[VocabularyRecord]:
        if prefix is not None and prefix != "":
            prefix = validate_prefix(prefix)
        for name, value, low, high in (
            ("page_index", page_index, 0, MAX_PAGE_INDEX),
            ("page_size", page_size, 1, MAX_PAGE_SIZE),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise HotwordError(f"{name} must be an integer from {low} to {high}, got {show(value)}")
        # Summaries only: a page of lists never needs their (up to 500) terms.
        query = select(*_SUMMARY_COLUMNS).where(Vocabulary.account_id == account_id)
        if prefix:
            query = query.where(Vocabulary.prefix == prefix)
        query = query.order_by(Vocabulary.created_at, Vocabulary.id)
        query = query.offset(page_index * page_size).limit(page_size)
        with reading(self._sessions) as session:
            return [VocabularyRecord(*row) for row in session.execute(query)]

    def get(self, account_id: int, vocabulary_id: Any) -> VocabularyRecord:
        vid = _check_id(vocabulary_id)
        with reading(self._sessions) as session:
            return _record(vid, session.execute(_owned(account_id, vid)).first())

    async def get_on_loop(self, account_id: int, vocabulary_id: Any) -> VocabularyRecord:
        """`get` for the event loop (see `LoopReader`)."""
        vid = _check_id(vocabulary_id)
        return _record(vid, await self._reader.first(_owned(account_id, vid)))

    async def get_by_key_on_loop(self, secret: str, vocabulary_id: Any) -> KeyedRead:
        """The key check and `get` in one statement, on the event loop: one network round trip
        on PostgreSQL instead of two. The caller admits the key before it asks for the record."""
        vid = vocabulary_id if isinstance(vocabulary_id, str) else ""
        row = await self._reader.first(_owned_by_key(secret, vid)) if secret.startswith(KEY_PREFIX) else None
        if row is None:
            return KeyedRead(None, vocabulary_id, None)
        values = tuple(row)
        return KeyedRead((values[0], values[1]), vocabulary_id, values[2:] if values[2] is not None else None)

    def update(self, account_id: int, vocabulary_id: Any, *, items: Any) -> None:
        record = self.get(account_id, vocabulary_id)
        # Validate fully before touching the row: a rejected update leaves the old list intact.
        parsed = self._parse_items(items, record.target_model)
        with self._write_lock, self._sessions.begin() as session:
            result = session.execute(
                update(Vocabulary)
                .where(Vocabulary.id == record.vocabulary_id, Vocabulary.account_id == account_id)
                .values(items=parsed, modified_at=utcnow(), version=Vocabulary.version + 1)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]  # deleted meanwhile
                raise VocabularyNotFound(record.vocabulary_id)

    def delete(self, account_id: int, vocabulary_id: Any) -> None:
        vid = _check_id(vocabulary_id)
        with self._write_lock, self._sessions.begin() as session:
            result = session.execute(
                delete(Vocabulary).where(Vocabulary.id == vid, Vocabulary.account_id == account_id)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise VocabularyNotFound(vid)
