"""Decodes that run side by side share CTranslate2's `generate`: one batched call for all of them.

Why this module exists: a recording in two languages is decoded a stretch at a time
(`WhisperEngine._decode_sentences`), and one stretch's beam search steps a few hypotheses through
Whisper's decoder, which on a CPU waits on its weights more than on arithmetic. Several stretches
stepped together in one batch cost little more than one. faster-whisper's segment loop (prompts,
temperature fallback, timestamps, word alignment) stays as it is: each stretch is decoded by its
own thread, and its `DecodePass` reaches the model through a `GenerationBatcher`, which holds every
`generate` call until each decode still running has made one (or finished), then runs the calls
that can share a batch as one. Which calls share a batch depends only on the decodes, never on
timing, and each decode gets the tokens it would get alone (a batch generates each item as if
alone; `tests/test_bilingual.py` checks the text against the decodes one at a time).

Calls share a batch when their encoder outputs have one shape, their start-of-transcript token sits
at one position in their prompts, and their options are equal but for `max_length`: the batch runs
to the longest, and a result longer than its own call allowed is generated again alone.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from hotasr.engine.request import CancelToken


@dataclass(eq=False, slots=True)
class _Call:
    encoder_output: Any
    prompt: list[int]
    options: dict[str, Any]
    result: Any = None
    error: BaseException | None = None
    done: bool = False

    def key(self, sot: int) -> tuple[Any, ...]:
        """What calls sharing a batch must have alike: CTranslate2 needs one encoder shape and the
        start-of-transcript token (after any previous text) at one position."""
        shared = tuple(sorted((k, repr(v)) for k, v in self.options.items() if k != "max_length"))
        position = self.prompt.index(sot) if sot in self.prompt else -1
        return tuple(self.encoder_output.shape), position, "max_length" in self.options, shared


class GenerationBatcher:
    """Stands in for a CTranslate2 Whisper model (`DecodePass.model`) for `participants` decodes on
    their own threads; each calls `leave()` once it is done, whatever happened. `sot`: the
    start-of-transcript token's id; `cancel`: the request's token, checked before each batch (a
    CTranslate2 call cannot be stopped once it runs)."""

    def __init__(self, model: Any, participants: int, sot: int, cancel: CancelToken | None = None) -> None:
        self._model = model
        self._sot = sot
        self._cancel = cancel
        self._live = participants
        self._waiting: list[_Call] = []
        self._lock = threading.Condition()
        self.batches = 0  # generate calls made (for tests and benchmarks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)  # encode, align, detect_language, ...: as they are

    def generate(self, encoder_output: Any, prompts: list[list[int]], **options: Any) -> list[Any]:
        if len(prompts) != 1:  # not faster-whisper's call: run as it is
            return self._model.generate(encoder_output, prompts, **options)
        call = _Call(encoder_output, list(prompts[0]), options)
        with self._lock:
            self._waiting.append(call)
            self._run_if_all_wait()
            while not call.done:
                self._lock.wait()
        if call.error is not None:
            raise call.error
        return [call.result]

    def leave(self) -> None:
        with self._lock:
            self._live -= 1
            self._run_if_all_wait()

    def _run_if_all_wait(self) -> None:
        if not self._waiting or len(self._waiting) < self._live:
            return
        calls, self._waiting = self._waiting, []
        try:
            groups: defaultdict[tuple[Any, ...], list[_Call]] = defaultdict(list)
            for call in calls:
                groups[call.key(self._sot)].append(call)
            for group in groups.values():
                self._run(group)
        except BaseException as exc:  # whatever failed, no decode is left waiting
            for call in calls:
                if not call.done:
                    call.error, call.done = exc, True
        finally:
            self._lock.notify_all()

    def _run(self, group: list[_Call]) -> None:
        try:
            if self._cancel is not None:
                self._cancel.check()
            options = dict(group[0].options)
            bounds = [c.options["max_length"] for c in group if "max_length" in c.options]
            if bounds:
                options["max_length"] = max(bounds)
            if len(group) == 1:
                encoder_output = group[0].encoder_output
            else:
                encoder_output = _storage(np.concatenate([np.asarray(c.encoder_output) for c in group]))
            self.batches += 1
            results = self._model.generate(encoder_output, [c.prompt for c in group], **options)
            for call, result in zip(group, results, strict=True):
                own = call.options.get("max_length")
                if own is not None and own < options["max_length"] and \
                        len(call.prompt) + len(result.sequences_ids[0]) >= own:
                    # It reached its own bound: alone it would have stopped there.
                    result = self._model.generate(call.encoder_output, [call.prompt], **call.options)[0]
                call.result = result
        except BaseException as exc:  # each waiting decode gets the error, none hangs
            for call in group:
                call.error = exc
        finally:
            for call in group:
                call.done = True


def _storage(array: np.ndarray) -> Any:
    import ctranslate2

    return ctranslate2.StorageView.from_array(np.ascontiguousarray(array))
