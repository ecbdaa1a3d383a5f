"""What the parsers of ``python -m lab`` share: lab/cli.py (run, sweep, export), lab/data/cli.py (data)
and lab/train/cli.py (train) each declare knob flags and store flags the same way, here.

- ``add_knob_flag``: one flag per knob, its values parsed and named by the knob (``knob_values``);
- ``given_knobs``: the knob flags given, as ``grid(**knobs)`` takes them;
- ``add_store_flags`` / ``chosen_store``: --store, --no-store, --force, and the store they choose.
"""
from __future__ import annotations

import argparse

STORE_HELP = "results store (default: $LAB_STORE or data/results/lab.sqlite)"


def knob_values(spec):
    """argparse type: one token of a knob's values, 'a' or 'a,b,c' -> [a, b, c], parsed and named by the knob."""
    def parse(text: str):
        try:
            return spec.parse_list(text)
        except ValueError as exc:  # a FieldError, or a knob's own parse error: one line either way
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = spec.name  # argparse names the type in its messages
    return parse


def add_knob_flag(parser: argparse.ArgumentParser, spec, help_text: str, *more_flags: str, **kwargs) -> None:
    """The flag of knob ``spec`` (its cli_flag, aliases and ``more_flags``); not given, it stays None, so
    a grid can tell a knob that was not given from one that was. ``kwargs`` go to add_argument (nargs=...)."""
    parser.add_argument(spec.cli_flag, *spec.aliases, *more_flags, dest=spec.name, type=knob_values(spec),
                        default=None, metavar=spec.name.upper(), help=help_text.replace("%", "%%"), **kwargs)


def given_knobs(args: argparse.Namespace, declared) -> dict[str, list]:
    """The knobs of ``declared`` given on the command line, each as one list of values in the order given,
    without repeats (a flag with nargs='+' holds a list per token, each token a comma list)."""
    return {name: list(dict.fromkeys(v for token in getattr(args, name) for v in token))
            for name in declared if getattr(args, name) is not None}


def add_store_flags(parser: argparse.ArgumentParser, *, verb: str = "measure",
                    force_help: str = "re-measure configurations already in the store") -> None:
    """--store, --no-store (``verb`` without storing) and --force (``force_help``)."""
    parser.add_argument("--store", default=None, help=STORE_HELP)
    parser.add_argument("--no-store", action="store_true", help=f"{verb} without storing")
    parser.add_argument("--force", action="store_true", help=force_help)


def chosen_store(args: argparse.Namespace):
    """What --store / --no-store ask for, as every path's ``store=`` takes it."""
    from lab.paths import DEFAULT_STORE  # here, not at the top: the path imports torch, a parser must not

    return None if args.no_store else (args.store or DEFAULT_STORE)
