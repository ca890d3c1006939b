"""Decoding: the form decoder (meter automaton, rhyme planning, the stressed word table)."""
