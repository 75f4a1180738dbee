"""``python -m banditbot`` runs the CLI."""

from ._entry import main

main()
