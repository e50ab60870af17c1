"""Files: atomic writes, provenance, verified downloads and the project's resource folders (no torch needed)."""
