"""Real-time recognition: incremental decoding, voice activity, sentence segmentation."""
