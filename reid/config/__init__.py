"""The pipeline's configuration: the blocks every section is made of (`section`), the one typed tree that
composes each package's sections (`schema`), loaded and validated before any work (`load`)."""
