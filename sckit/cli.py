"""The sckit console script.

sckit demo    builds succinct structures from model-like weights and prints sizes and timings.
sckit report  executes the quickstart notebook for a zoo model or .sck file and writes HTML.

Help text is plain (argparse prints it as written): no reST markup here or in the help strings.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    import numpy as np

    from sckit.succinct import HuffmanWaveletMatrix, WaveletMatrix

    rng = np.random.default_rng(args.seed)
    # N(0, 0.02) is the initialisation scale of transformer weights (and close to trained conv
    # weights): the sign+exponent field is what sckit puts into the wavelet matrices.
    weights = (rng.standard_normal(args.n) * 0.02).astype(np.float32)
    symbols = (weights.view(np.uint32) >> 23).astype(np.uint16)
    counts = np.bincount(symbols)
    p = counts[counts > 0] / symbols.size
    h0 = float(-(p * np.log2(p)).sum())
    print(f"{args.n:,} float32 weights ~ N(0, 0.02); sign+exponent symbols: "
          f"{np.count_nonzero(counts)} distinct, H0 = {h0:.3f} bits/symbol")
    print(f"{'structure':<24}{'bits/sym':>10}{'build Msym/s':>14}{'decode Msym/s':>15}"
          f"{'access ns':>11}")
    idx = rng.integers(0, args.n, 100_000)
    for cls in (WaveletMatrix, HuffmanWaveletMatrix):
        cls(symbols[:1000])  # load the compiled build kernels before timing (numba's cache)
        t0 = time.perf_counter()
        wm = cls(symbols)
        t_build = time.perf_counter() - t0
        wm.decode(0, min(args.n, 1000))  # compile/warm the decode path before timing it
        t0 = time.perf_counter()
        out = wm.decode(0, args.n)
        t_dec = time.perf_counter() - t0
        if not np.array_equal(out, symbols):
            print(f"{cls.__name__}: decode mismatch", file=sys.stderr)
            return 1
        wm.access_many(idx[:10])
        t0 = time.perf_counter()
        wm.access_many(idx)
        t_acc = time.perf_counter() - t0
        print(f"{cls.__name__:<24}{8 * wm.nbytes / args.n:>10.3f}{args.n / t_build / 1e6:>14.1f}"
              f"{args.n / t_dec / 1e6:>15.1f}{t_acc / idx.size * 1e9:>11.1f}")
    everything = np.arange(args.n)
    t0 = time.perf_counter()
    symbols.take(everything)
    t_take = time.perf_counter() - t0
    print(f"{'numpy take (uint16)':<24}{16:>10.3f}{'':>14}{args.n / t_take / 1e6:>15.1f}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from sckit.report import ReportError, build_report

    try:
        path = build_report(args.model, out=args.out, parameters=dict(args.param or []),
                            keep_notebook=args.keep_notebook)
    except ReportError as exc:
        print(f"sckit report: {exc}", file=sys.stderr)
        return 1
    print(f"report written to {path}")
    if args.keep_notebook:
        print(f"executed notebook kept at {path.with_suffix('.ipynb')}")
    return 0


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    from sckit import __version__

    parser = argparse.ArgumentParser(
        prog="sckit", description="Succinct Compression for PyTorch models: lossless, queryable "
        "weights. Each command has its own --help.")
    parser.add_argument("--version", action="version", version=f"sckit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="build wavelet matrices from model-like weights")
    demo.add_argument("--n", type=int, default=4_000_000, help="number of weights")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    report = sub.add_parser("report", help="run the quickstart notebook and write an HTML report")
    report.add_argument("model", help="zoo model name (see sckit.zoo.list_models()) or a .sck file")
    report.add_argument("--out", default="report.html", help="HTML file to write")
    report.add_argument("--keep-notebook", action="store_true",
                        help="also keep the executed notebook, as OUT with .ipynb")
    report.add_argument("--param", "-p", type=_param, action="append",
                        help="notebook parameter override NAME=VALUE (repeatable)")
    report.set_defaults(func=_report)
    from sckit.cli_pack import add_parsers  # pack / unpack (checkpoints)

    add_parsers(sub)
    from sckit.warmup import add_parser as add_warmup  # warmup (numba's cache)

    add_warmup(sub)
    args = parser.parse_args(argv)
    if getattr(args, "n", 1) <= 0:
        parser.error("--n must be positive")
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError) as exc:  # bad user input: a message, not a traceback
        parser.exit(2, f"sckit: error: {exc}\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
