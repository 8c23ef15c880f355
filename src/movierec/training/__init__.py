"""Training the two-tower model: batches, the loop, experiment tracking."""
