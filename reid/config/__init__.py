"""The pipeline's configuration: one typed tree (`schema`), loaded and validated before any work (`load`)."""
