"""Is there any speech in this recording? Asked before Whisper sees a whole file.

Why: Whisper invents text for noise, and pays dearly for it: its temperature fallback decodes a
noisy window up to six times, so 6 s of full-scale noise cost more CPU than a minute of speech
(bench/noise_cost.py). Silero VAD over a whole file costs about 0.3 % of real time, and with the
stream's noise floor (hotasr.streaming.vad) it hears no speech in white, pink or Gaussian noise
while every LibriSpeech, command and Mandarin clip in the evaluation data has 40+ speech windows.
A file with no speech comes back with no sentences and a warning instead of invented text.
"""

from __future__ import annotations

import numpy as np

from hotasr.audio import SAMPLE_RATE

NO_SPEECH_WARNING = "no speech was detected in the audio (voice activity detection); it was not transcribed"

SPEECH_PROBABILITY = 0.5
MIN_SPEECH_WINDOWS = 8  # 256 ms of speech windows, a short "yes"; noise scored 0 of them
_BLOCK = 30 * SAMPLE_RATE  # VAD input per call: bounded memory on hour-long files


def has_speech(samples: np.ndarray, min_windows: int = MIN_SPEECH_WINDOWS) -> bool:
    """True as soon as `min_windows` 32 ms windows of 16 kHz mono `samples` score as speech."""
    from hotasr.streaming.vad import StreamingVad  # loads faster-whisper's Silero model

    vad = StreamingVad()
    found = 0
    for start in range(0, len(samples), _BLOCK):
        probabilities = vad(np.asarray(samples[start : start + _BLOCK], dtype=np.float32))
        found += int(np.count_nonzero(probabilities >= SPEECH_PROBABILITY))
        if found >= min_windows:
            return True
    return False
