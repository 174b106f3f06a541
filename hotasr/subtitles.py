"""SRT and WebVTT subtitles of a transcript, for every output that offers them (the OpenAI
endpoint's `response_format`, `hotasr transcribe --format`): one cue per sentence with text."""

from __future__ import annotations

from hotasr.transcript import Sentence, Transcript


def clock(ms: int, separator: str) -> str:
    """`HH:MM:SS,mmm` (SRT, separator ",") or `HH:MM:SS.mmm` (WebVTT, ".")."""
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def to_srt(transcript: Transcript, *, speakers: bool = False) -> str:
    """Numbered SRT blocks; `speakers`: each cue opens with `[speaker N] ` where one is known."""
    blocks = [
        f"{n}\n{clock(s.begin_ms, ',')} --> {clock(s.end_ms, ',')}\n"
        f"{_label(s, '[speaker {}] ') if speakers else ''}{s.text.strip()}\n"
        for n, s in enumerate(transcript.spoken, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript, *, speakers: bool = False) -> str:
    """A WebVTT file; `speakers`: each cue opens with a `<v Speaker N>` voice tag where one is known."""
    blocks = [
        f"{clock(s.begin_ms, '.')} --> {clock(s.end_ms, '.')}\n"
        f"{_label(s, '<v Speaker {}>') if speakers else ''}{s.text.strip()}\n"
        for s in transcript.spoken
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def _label(sentence: Sentence, template: str) -> str:
    return "" if sentence.speaker_id is None else template.format(sentence.speaker_id)
