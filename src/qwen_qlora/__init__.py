"""Qwen-QLoRA: adapt a small open LLM with QLoRA to write poems in one poet's style."""

__version__ = "0.1.0"
