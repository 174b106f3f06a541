"""Recorded-file transcription as async tasks (spec §5): placeholder until that work lands."""

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the transcription and task routes (and their background workers) to `app`."""
