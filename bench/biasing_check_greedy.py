"""Check our decoder against CTranslate2: greedy tokens must match token for token."""

from __future__ import annotations

import sys
import time

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio

from hotasr.biasing.decoder import DecoderState, load_decoder

model_dir = sys.argv[1]
wav = sys.argv[2]
wm = WhisperModel(model_dir, device="cpu", compute_type="int8" if len(sys.argv) > 3 else "default", cpu_threads=2)
audio = decode_audio(wav)
feats = wm.feature_extractor(audio)[..., :-1][:, :3000]
feats = np.pad(feats, ((0, 0), (0, 3000 - feats.shape[1])))
tok = wm.hf_tokenizer
sot = tok.token_to_id("<|startoftranscript|>")
eot = tok.token_to_id("<|endoftext|>")
prompt = [sot]
if wm.model.is_multilingual:
    prompt += [tok.token_to_id("<|en|>"), tok.token_to_id("<|transcribe|>")]
prompt += [tok.token_to_id("<|notimestamps|>")]
enc = wm.encode(np.ascontiguousarray(feats[None]))
t = time.time()
res = wm.model.generate(enc, [prompt], beam_size=1, return_scores=True, suppress_blank=False, suppress_tokens=[])
print("ct2", time.time() - t, res[0].sequences_ids[0], res[0].scores)
print(tok.decode(res[0].sequences_ids[0]))
encn = np.array(enc)[0].astype(np.float32)
t = time.time()
w = load_decoder(model_dir, int8=wm.model.compute_type.startswith("int8"))
print("load", time.time() - t)
t = time.time()
st = DecoderState(w, encn, 1, 448)
logits = st.forward(np.array([prompt]))
out = []
for _ in range(200):
    nxt = int(np.argmax(logits[0]))
    if nxt == eot:
        break
    out.append(nxt)
    logits = st.forward(np.array([[nxt]]))
print("np", time.time() - t, out)
print(tok.decode(out))
print("MATCH" if out == res[0].sequences_ids[0] else "DIFF")
