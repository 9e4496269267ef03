"""``python -m serving`` runs the ``citybrain`` command line."""

from serving.cli import main

main()
