"""The movie vector index (Qdrant Edge in-process, or a Qdrant server)."""
