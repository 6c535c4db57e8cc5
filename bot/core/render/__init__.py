"""Pure renderings of findings and results: each returns text, the caller prints it."""
