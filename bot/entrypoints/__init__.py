"""Entry points: the CLI (and later the web app and the worker). Thin by design."""
