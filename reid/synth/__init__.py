"""Embedded synthetic multi-domain Re-ID benchmark (MA, D, MS, C3 look-alikes) drawn with OpenCV,
and captioned people in a web-photo style for the demo's CLIP pre-training (SPEC §8).

Lets the pipeline run end to end where no real dataset can be downloaded; see `generate`
and `captioned`.
"""
