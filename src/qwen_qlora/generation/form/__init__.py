"""Form by construction: a meter-and-rhyme constrained sampler over a stressed word table."""
