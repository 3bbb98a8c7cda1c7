"""``gdl-ablate``: placeholder until the ablation issue lands."""

import sys


def main() -> int:
    print("gdl-ablate: not yet available (the ablation issue has not landed).", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
