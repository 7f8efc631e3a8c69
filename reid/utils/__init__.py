"""Shared helpers used by every stage: images, progress, devices."""
