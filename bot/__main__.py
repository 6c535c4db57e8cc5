"""Allow ``python -m bot`` as a synonym for the ``eucora`` console script."""

from bot.entrypoints.cli import main

main()
