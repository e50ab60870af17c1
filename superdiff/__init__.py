"""superdiff."""
