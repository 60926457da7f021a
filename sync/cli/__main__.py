"""``python -m sync.cli``: the same as the ``upsync`` command."""

from sync.cli import main

main()
