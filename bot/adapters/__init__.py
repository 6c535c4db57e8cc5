"""Adapters: each owns one outside thing and converts at the border."""
