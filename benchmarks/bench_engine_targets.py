"""The engine's speed targets, measured: exact mode against dense, fast mode against the pruned
model run densely. Prints figures; asserts nothing (timings are not tests).

    .venv/bin/python benchmarks/bench_engine_targets.py            # everything (~15 min, 2 cores)
    .venv/bin/python benchmarks/bench_engine_targets.py --only resnet50_exact,zoo

torch runs one thread (a spare core is left for decode-ahead, whose default "auto" uses it);
medians of interleaved runs (``sckit.timing``). The CPU model is printed: compare ratios measured
in one run, not milliseconds across machines.
"""

from __future__ import annotations

import argparse

import torch

import sckit
from sckit import zoo
from sckit.timing import cpu_model, time_forward

TARGETS = {
    "resnet50_exact": "ResNet-50 dense, exact mode: <= 1.10x dense at batch 1, <= 1.03x at batch 32",
    "resnet50_pruned": "ResNet-50 magnitude 90% / 95%, fast: >= 1.5x / >= 2x faster than pruned-dense",
    "resnet50_filter": "ResNet-50 filter_l1 50%, fast: >= 1.6x faster than pruned-dense",
    "vgg16_classifier": "VGG-16 classifier pruned 95%: classifier >= 3x faster in fast mode",
    "lenet300": "LeNet-300-100 pruned 90% + 4-bit k-means, fast: same accuracy, >= 2x faster than dense",
    "zoo": "every zoo model, exact, batch 1: median compressed/dense <= 1.25x",
}


def _batch(x: torch.Tensor, n: int) -> torch.Tensor:
    return x.expand(n, *x.shape[1:]).contiguous()


def _ratio(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float, float]:
    t = time_forward({"a": a, "b": b}, x, repeats=repeats, warmup=1, threads=1)
    return t["a"].median, t["b"].median, t["b"].median / t["a"].median


def resnet50_exact(repeats: int) -> None:
    m = zoo.create_model("resnet50", seed=0).eval()
    for batch in (1, 32):
        x = _batch(zoo.default_input("resnet50"), batch)
        sm = sckit.compress(m, x, decode_ahead="auto")
        d, c, r = _ratio(m, sm, x, repeats if batch == 1 else 3)
        print(f"  batch {batch}: dense {d:.1f} ms, exact {c:.1f} ms -> {r:.3f}x dense "
              f"(decode-ahead {sm.decode_ahead})")


def _pruned_vs_fast(name: str, x: torch.Tensor, amount: float, method: str, repeats: int) -> None:
    m = zoo.create_model(name, seed=0).eval()
    pm = sckit.prune(m, amount, method=method).eval()
    sm = sckit.compress(pm, x, mode="fast")
    d, f, r = _ratio(pm, sm, x, repeats)
    kinds = sm.report()["kernel"].value_counts().to_dict()
    print(f"  {name} {method} {amount:.0%}: pruned-dense {d:.1f} ms, fast {f:.1f} ms -> "
          f"{1 / r:.2f}x faster; kernels {kinds}; resident {sm.resident_nbytes / 1e6:.1f} MB "
          f"(compressed {sm.nbytes / 1e6:.1f} MB + fast {sm.fast_nbytes / 1e6:.1f} MB)")


def resnet50_pruned(repeats: int) -> None:
    x = zoo.default_input("resnet50")
    for amount in (0.9, 0.95):
        _pruned_vs_fast("resnet50", x, amount, "magnitude", repeats)


def resnet50_filter(repeats: int) -> None:
    _pruned_vs_fast("resnet50", zoo.default_input("resnet50"), 0.5, "filter_l1", repeats)


def vgg16_classifier(repeats: int) -> None:
    m = zoo.create_model("vgg16", seed=0).eval()
    x = zoo.default_input("vgg16")
    with torch.no_grad():
        feats = torch.flatten(m.avgpool(m.features(x)), 1)
        for layer in m.classifier:
            if isinstance(layer, torch.nn.Linear):
                k = int(layer.weight.numel() * 0.95)
                thresh = layer.weight.abs().flatten().kthvalue(k).values
                layer.weight.mul_(layer.weight.abs() > thresh)
    head = m.classifier.eval()
    sm = sckit.compress(head, feats, mode="fast")
    d, f, r = _ratio(head, sm, feats, repeats)
    print(f"  classifier (fc6-fc8, 95% zeros): dense {d:.2f} ms, fast {f:.2f} ms -> {1 / r:.2f}x; "
          f"kernels {[p['kernel'] for p in sm.plan.values()]}")


def lenet300(repeats: int) -> None:
    m = zoo.create_model("lenet300_100", pretrained="digits").eval()
    pm = sckit.quantize(sckit.prune(m, 0.9, method="global_magnitude"), 4, method="kmeans").eval()
    for batch in (1, 32):
        x = _batch(zoo.default_input("lenet300_100"), batch)
        sm = sckit.compress(pm, x, mode="fast")
        acc_p, acc_f = sckit.data.evaluate(pm), sckit.data.evaluate(sm)
        d, f, r = _ratio(m, sm, x, max(repeats, 30))
        _, fp, rp = _ratio(pm, sm, x, max(repeats, 30))
        print(f"  batch {batch}: dense {d * 1e3:.0f} us, fast {f * 1e3:.0f} us -> {1 / r:.2f}x vs dense, "
              f"{1 / rp:.2f}x vs pruned-dense; accuracy pruned+quantized {acc_p:.4f}, fast {acc_f:.4f}; "
              f"kernels {[p['kernel'] for p in sm.plan.values()]}")


def zoo_exact(repeats: int) -> None:
    import statistics

    ratios = []
    for name in zoo.list_models():
        m = zoo.create_model(name, seed=0).eval()
        x = zoo.default_input(name)
        sm = sckit.compress(m, x, decode_ahead="auto")
        d, c, r = _ratio(m, sm, x, repeats)
        ratios.append(r)
        print(f"  {name:14s} dense {d:8.2f} ms, exact {c:8.2f} ms -> {r:.3f}x")
    print(f"  median {statistics.median(ratios):.3f}x over {len(ratios)} models")


RUNS = {"resnet50_exact": resnet50_exact, "resnet50_pruned": resnet50_pruned,
        "resnet50_filter": resnet50_filter, "vgg16_classifier": vgg16_classifier,
        "lenet300": lenet300, "zoo": zoo_exact}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=",".join(RUNS), help=f"comma-separated: {', '.join(RUNS)}")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, 1 thread; medians of interleaved runs")
    for key in args.only.split(","):
        if key not in RUNS:
            ap.error(f"unknown run {key!r}; expected one of {', '.join(RUNS)}")
        print(f"\n## {TARGETS[key]}")
        RUNS[key](args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
