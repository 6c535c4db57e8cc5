"""Local HTTP doubles of the vendors' APIs (GitHub and the management planes), for tests and the demo.

Each double is a small server on 127.0.0.1 that holds state, checks every request against the
vendor's published description and can inject faults. They ship in the package because
``eucora demo`` runs them in-process; nothing in ``bot.core``, ``bot.flows``, ``bot.adapters`` or
``connectors`` may import them (an import-linter contract says so).
"""
