"""The two-tower retrieval model: towers, losses, configuration."""
