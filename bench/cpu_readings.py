"""Why the same audio reads differently on two CPUs: one variable at a time.

Each configuration runs in a process of its own (instruction sets and kernels are chosen when a
library loads) and transcribes the same LibriSpeech utterances with whisper-tiny.en, greedy, in int8 and in
float32. Configurations: native; CTranslate2 forced to AVX2 and to AVX (`CT2_FORCE_CPU_ISA`); numpy
without its AVX-512 kernels (`NPY_DISABLE_CPU_FEATURES`: the log-mel features); both; CTranslate2 on
oneDNN instead of Intel MKL (`CT2_USE_MKL=0`), alone and with AVX2. It prints,
against native, how many utterances read differently and how many words differ, and how far the
log-mel features move.

    .venv/bin/python bench/cpu_readings.py --limit 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NUMPY_AVX512 = "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"
CONFIGS = {
    "native": {},
    "ct2 AVX2": {"CT2_FORCE_CPU_ISA": "AVX2"},
    "ct2 AVX": {"CT2_FORCE_CPU_ISA": "AVX"},
    "numpy without AVX-512": {"NPY_DISABLE_CPU_FEATURES": NUMPY_AVX512},
    "ct2 AVX2 + numpy without AVX-512": {"CT2_FORCE_CPU_ISA": "AVX2", "NPY_DISABLE_CPU_FEATURES": NUMPY_AVX512},
    # CTranslate2 runs int8 products on Intel MKL on an Intel CPU and on oneDNN on any other (AMD):
    # CT2_USE_MKL=0 gives an Intel machine the kernels an AMD one runs.
    "ct2 oneDNN (as on AMD)": {"CT2_USE_MKL": "0"},
    "ct2 oneDNN + AVX2": {"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX2"},
}


def child(files: list[str], out: str) -> None:
    import numpy as np
    from faster_whisper import WhisperModel
    from faster_whisper.feature_extractor import FeatureExtractor

    from hotasr.audio import decode_audio
    from hotasr.engine.weights import resolve_weights

    model_dir = str(resolve_weights("whisper-tiny.en", REPO / "var" / "cache"))
    audio = [decode_audio(f).samples for f in files]
    result: dict[str, object] = {}
    features = FeatureExtractor()(audio[0])
    np.save(out + ".mel.npy", features)
    for compute in ("int8", "float32"):
        model = WhisperModel(model_dir, device="cpu", compute_type=compute, cpu_threads=2)
        texts = []
        for samples in audio:
            segments, _ = model.transcribe(samples, language="en", beam_size=1, temperature=0.0)
            texts.append(" ".join(s.text.strip() for s in segments))
        result[compute] = texts
    Path(out).write_text(json.dumps(result))


def words_differ(a: str, b: str) -> int:
    from tests.readings import misread, words_of

    return misread(" ".join(words_of(a)), " ".join(words_of(b))) if a != b else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.out)
        return
    import numpy as np

    root = REPO.parent / "shared" / "data" / "librispeech_test_subset" / "test-other"
    files = [str(p) for p in sorted(root.glob("*.flac"))[: args.limit]]
    outs = {}
    for name, extra in CONFIGS.items():
        out = f"/tmp/cpu_readings_{abs(hash(name))}.json"
        subprocess.run([sys.executable, __file__, "--child", *files, "--out", out], env={**os.environ, **extra},
                       check=True)
        outs[name] = (json.loads(Path(out).read_text()), np.load(out + ".mel.npy"))
    (native, native_mel) = outs["native"]
    print(f"{len(files)} utterances of LibriSpeech test-other, whisper-tiny.en, greedy; against native:")
    print("| configuration | int8: utterances read differently | int8: words | float32: utterances | float32: words "
          "| log-mel max abs diff |")
    print("|---|---|---|---|---|---|")
    for name, (result, mel) in outs.items():
        cells = []
        for compute in ("int8", "float32"):
            diffs = [words_differ(a, b) for a, b in zip(native[compute], result[compute], strict=True)]
            cells += [str(sum(d > 0 for d in diffs)), str(sum(diffs))]
        print(f"| {name} | " + " | ".join(cells) + f" | {float(np.max(np.abs(mel - native_mel))):.2e} |")


if __name__ == "__main__":
    main()
