"""Recorded-file transcription as async tasks (docs/dashscope-protocol.md §5), free of HTTP.

- `models`: statuses, request parameters and the stored task record.
- `store`: tasks in the database, with compare-and-set claims and leases.
- `fetch`: file URLs to local files (downloads with limits and an SSRF guard; uploads).
- `results`: the results directory (transcripts, uploads); `signing`: signed URLs.
- `runner`: runs one claimed task; `pool`: in-process worker threads; `janitor`: recovery and cleanup.
- `queue`: the Celery app for `hotasr worker`; `client`: submit local files to a remote server.
"""
