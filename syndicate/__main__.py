"""``python -m syndicate ...``: the same as the ``syndicate`` console script."""

from syndicate.cli import main

main()
