"""Datasets: layouts (data), the generic reader, ingestion, summaries and protocols."""
