"""Embedded synthetic multi-domain Re-ID benchmark (MA, D, MS, C3 look-alikes) drawn with OpenCV.

Lets the pipeline run end to end where no real dataset can be downloaded; see `generate`.
"""

from reid.synth.config import SynthConfig
from reid.synth.generate import generate_benchmark

__all__ = ["SynthConfig", "generate_benchmark"]
