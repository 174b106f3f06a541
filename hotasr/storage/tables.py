"""The schema. Changing it means adding an Alembic revision under migrations/versions/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Bumped by every vocabulary create: the UPDATE takes the account's row lock (PostgreSQL) or
    # the write lock (SQLite), which serializes quota checks for one account.
    write_serial: Mapped[int] = mapped_column(Integer, default=0)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the secret: keys are 190-bit random tokens, so a fast hash is safe and lets us
    # look a key up by its hash with an index.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))  # first characters, to recognise a key in lists
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Vocabulary(Base):
    __tablename__ = "vocabularies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    target_model: Mapped[str] = mapped_column(String(64))
    # The whole list as one JSON document: it is always read and replaced whole, and one row
    # makes an update atomic without a multi-row diff.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Incremented on every update; with the id it keys caches of compiled hotword graphs.
    version: Mapped[int] = mapped_column(Integer, default=1)


class TranscriptionTask(Base):
    """One recorded-file transcription task (docs/dashscope-protocol.md §5): its files, state and per-file outcomes."""

    __tablename__ = "transcription_tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(64))
    # PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED
    status: Mapped[str] = mapped_column(String(16), index=True)
    file_urls: Mapped[list[str]] = mapped_column(JSON)
    # The validated request parameters the runner needs (vocabulary_id, channel_id, ...).
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    # One dict per file, in file order, filled in as files finish: a resumed task skips those done.
    subtasks: Mapped[list[dict[str, Any] | None]] = mapped_column(JSON)  # None: a file not done yet
    warnings: Mapped[list[str]] = mapped_column(JSON)
    submit_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    scheduled_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # end_time + results_ttl_hours: the task and its results are deleted after this.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    usage_seconds: Mapped[int] = mapped_column(Integer, default=0)
    # Claims: a worker owns a RUNNING task while lease_until is in the future and renews it while
    # it works; attempts counts claims, so a task that kills its worker every time ends FAILED.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Queue mode: when the task was last sent to the queue (a lost message is sent again).
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
