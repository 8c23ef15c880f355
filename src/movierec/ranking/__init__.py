"""The second stage: candidates from the two-tower model (and an item-to-item model), ordered by a learned
ranker over features of each (user, candidate) pair."""
