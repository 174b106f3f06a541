"""Speaker diarization of recorded files: who spoke when (DashScope's `diarization_enabled`)."""
