"""DVC stage `ingest`: params `data` → data/manifests/ (manifests, quarantine.csv, summary.json)."""

from stages.common import main

if __name__ == "__main__":
    main("ingest")
