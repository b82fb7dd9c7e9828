"""The ``hurricane`` console script (and ``python -m hurricane``): the same subcommands
and options as the ``hurricane`` binary."""

import sys

from hurricane._launch import launch


def main() -> None:
    launch(["hurricane", *sys.argv[1:]])


if __name__ == "__main__":
    main()
