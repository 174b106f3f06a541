"""Evaluation of hotword biasing: manifests, scoring (WER/U-WER/B-WER, CER, recall/precision), runner."""

from hotasr.evaluation.manifest import Manifest, ManifestError, Utterance, load_manifest
from hotasr.evaluation.runner import EvalReport, EvaluationError, ModeScore, evaluate

__all__ = [
    "EvalReport",
    "EvaluationError",
    "Manifest",
    "ManifestError",
    "ModeScore",
    "Utterance",
    "evaluate",
    "load_manifest",
]
