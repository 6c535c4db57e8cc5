"""Flows: what happens on each event or command, written once for every entry point."""
