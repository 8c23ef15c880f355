"""User, movie and interaction features, computed from the training split only."""
