"""``python -m banditbot`` runs the CLI."""

from .cli import main

main()
