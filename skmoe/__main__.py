"""Command line: ``python -m skmoe demo``, ``python -m skmoe --version``."""

import argparse
import sys


def _seed(text):
    """``--random-state``: an int NumPy accepts as a seed, or argparse's usage
    error rather than NumPy's traceback from inside the demo."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 0 <= seed <= 2**32 - 1:
        raise argparse.ArgumentTypeError(
            f"must be an int in the range [0, {2**32 - 1}]; got {seed}"
        )
    return seed


def main(argv=None):
    from . import __version__

    parser = argparse.ArgumentParser(prog="python -m skmoe")
    parser.add_argument("--version", action="version", version=f"skmoe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{demo}", required=True)
    demo = commands.add_parser(
        "demo", help="fit skmoe beside linear models and print a table of scores"
    )
    demo.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        help="seed of the data, splits and models: an int in [0, 2**32 - 1] "
        "(default: 0)",
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        run_demo(random_state=args.random_state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
