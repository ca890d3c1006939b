"""Scoring the model rows on held-out poems, and the memorisation checks."""
