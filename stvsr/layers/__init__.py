"""Reusable nn.Modules that users compose (one idea per file)."""
