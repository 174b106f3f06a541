"""A hotword list made ready for one engine, once: the one place lists are compiled and cached.

    compiled = engine.compile(hotwords)        # cached by the engine, keyed by the list's terms
    request = DecodeRequest(samples, hotwords=compiled, ...)

`CompiledHotwords` holds what every layer needs of a list: the terms the engine can apply (and why
the others cannot), the token graph of each language's terms (built on first use: a bilingual list
biases Chinese sentences with its Chinese terms and English ones with its English terms), and what
respells listed terms heard right and written otherwise after decoding: the Chinese homophone
corrector and the English sounds-alike respeller. Nothing else keeps a copy or a cache key.

The cache is keyed by the terms themselves (text, weight, lang): a stored list and the same list
sent inline share one entry, an edited list (any term changed) is another. A list's id and version
name the same thing less exactly: two versions with equal terms compile alike.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property

import tokenizers

from hotasr.biasing.graph import HotwordGraph, compile_hotwords
from hotasr.biasing.homophones import HomophoneCorrector
from hotasr.biasing.respelling import SoundsAlikeRespeller, whole_words
from hotasr.hotwords import Hotword, hotwords_for_language
from hotasr.transcript import Transcript

# Transcripts in Han characters, where a hotword can be heard right and spelled wrong.
HOMOPHONE_LANGS = frozenset({"zh", "yue"})
_CACHE_SIZE = 8


class CompiledHotwords:
    """A list's usable terms, their token graphs per language, and its homophone corrector.
    Shared across requests and threads; read-only once built (graphs are added under a lock)."""

    def __init__(
        self, terms: Sequence[Hotword], tokenizer: tokenizers.Tokenizer, *, multilingual: bool,
        refused: Sequence[str] = (), known: frozenset[str] = frozenset(),
    ) -> None:
        self.terms: tuple[Hotword, ...] = tuple(terms)
        self.warnings: tuple[str, ...] = tuple(refused)  # why some terms cannot be applied at all
        self._tokenizer = tokenizer
        self._known = known  # words the model's vocabulary holds whole (respelling.whole_words)
        self._multilingual = multilingual
        self._graphs: dict[str | None, HotwordGraph] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.terms)

    def for_language(self, language: str | None) -> list[Hotword]:
        """The terms that apply to a sentence in `language` (None: all)."""
        return hotwords_for_language(self.terms, language)

    def graph(self, language: str | None = None) -> HotwordGraph:
        """The token graph of the terms for `language` (None: all), compiled once."""
        with self._lock:
            graph = self._graphs.get(language)
            if graph is None:
                graph = compile_hotwords(self.for_language(language), self._tokenizer,
                                         multilingual=self._multilingual)
                self._graphs[language] = graph
            return graph

    @cached_property
    def corrector(self) -> HomophoneCorrector:
        return HomophoneCorrector(self.terms)

    @cached_property
    def respeller(self) -> SoundsAlikeRespeller:
        return SoundsAlikeRespeller(self.terms, known=self._known)

    def correct(self, transcript: Transcript) -> int:
        """Respell listed terms heard right and written otherwise: Chinese sentences with other
        characters of the same sound (`homophones`), English ones by sound key (`respelling`);
        return how many sentences changed."""
        changed = 0
        if any((s.language or transcript.language) in HOMOPHONE_LANGS for s in transcript.sentences):
            corrector = self.corrector
            changed += corrector.correct(transcript) if corrector else 0
        respeller = self.respeller
        return changed + (respeller.correct(transcript) if respeller else 0)


class HotwordCache:
    """The lists an engine compiled last, by their terms (least recently used goes first)."""

    def __init__(self, tokenizer: tokenizers.Tokenizer, *, multilingual: bool, size: int = _CACHE_SIZE) -> None:
        self._tokenizer = tokenizer
        self._known: frozenset[str] | None = None
        self._multilingual = multilingual
        self._size = size
        self._lists: OrderedDict[tuple[tuple[Hotword, ...], tuple[str, ...]], CompiledHotwords] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, terms: Sequence[Hotword], refused: Sequence[str] = ()) -> CompiledHotwords:
        key = (tuple(terms), tuple(refused))
        with self._lock:
            compiled = self._lists.get(key)
            if compiled is None:
                if self._known is None:  # once per engine: ~50k vocabulary entries
                    self._known = whole_words(self._tokenizer.get_vocab())
                compiled = CompiledHotwords(terms, self._tokenizer, multilingual=self._multilingual, refused=refused,
                                            known=self._known)
                self._lists[key] = compiled
            self._lists.move_to_end(key)
            while len(self._lists) > self._size:
                self._lists.popitem(last=False)
            return compiled
