"""MUVA domain-generalised person re-identification: library code (knows nothing about DVC)."""

__version__ = "0.1.0"
