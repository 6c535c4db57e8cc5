"""Local HTTP doubles of vendor APIs (GitHub and the five planes), for tests and the demo.

Each double serves on loopback, holds state, validates requests against the vendor's published
description (recording departures in ``violations``) and can inject faults. They ship in the
package only because the demo runs them in-process: nothing in ``bot.core``, ``bot.flows``,
``bot.adapters`` or ``connectors`` may import this package (an import-linter contract says so).
"""
