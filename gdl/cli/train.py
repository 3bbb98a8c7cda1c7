"""``gdl-train``: placeholder until the training issue lands."""

import sys


def main() -> int:
    print("gdl-train: not yet available (the training issue has not landed).", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
