"""``sckit pack`` / ``sckit unpack``: the console side of :mod:`sckit.checkpoint`.

``sckit pack model.safetensors -o model.sck`` (also a folder of shards, or a PyTorch ``.pt``)
and ``sckit unpack model.sck -o model.safetensors`` (``.pt``, or a folder for shards).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["add_parsers"]


def _pack(args: argparse.Namespace) -> int:
    from sckit.checkpoint import pack

    out = args.out if args.out is not None else Path(str(args.src).rstrip("/")).with_suffix(".sck")
    report = pack(args.src, out, threads=args.threads, force=args.force,
                  progress=not args.no_progress)
    print(report.summary())
    return 0


def _unpack(args: argparse.Namespace) -> int:
    from sckit.checkpoint import unpack

    path = unpack(args.src, args.out, threads=args.threads, force=args.force,
                  progress=not args.no_progress, format=args.format)
    print(f"unpacked {args.src} -> {path}")
    return 0


def _user_errors(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Bad input (a truncated file, an existing output without --force) exits with status 2 and
    one line naming the problem, not a traceback."""
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (ValueError, TypeError, OSError) as exc:
            print(f"sckit {args.command}: error: {exc}", file=sys.stderr)
            return 2

    return run


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all cores)")
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``pack`` and ``unpack`` on the ``sckit`` command's subparsers."""
    p = sub.add_parser("pack", help="compress a checkpoint (safetensors, shard folder, .pt) "
                                    "into a .sck file, losslessly")
    p.add_argument("src", type=Path, help="a .safetensors file, a folder of shards, or a .pt file")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="the .sck file to write (default: SRC with the suffix .sck)")
    _common(p)
    p.set_defaults(func=_user_errors(_pack))
    u = sub.add_parser("unpack", help="restore a packed checkpoint, bit-exact")
    u.add_argument("src", type=Path, help="a .sck file written by sckit pack")
    u.add_argument("-o", "--out", type=Path, required=True,
                   help="a .safetensors or .pt file, or a folder (sharded checkpoints)")
    u.add_argument("--format", choices=("safetensors", "folder", "torch"), default=None,
                   help="output format (default: from the name given to -o)")
    _common(u)
    u.set_defaults(func=_user_errors(_unpack))
