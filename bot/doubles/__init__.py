"""Local HTTP doubles of vendor APIs (GitHub and the five planes), for tests and the demo.

Each double is a small HTTP server on ``127.0.0.1`` that holds state, enforces auth, checks every
request against the vendor's published API description (kept under ``bot/doubles/data/``), counts
creates and launches, and can inject faults. ``eucora demo`` runs them in-process, which is why they
ship in the package. Nothing in ``bot.core``, ``bot.flows``, ``bot.adapters`` or ``connectors`` may
import this package.
"""
