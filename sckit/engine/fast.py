"""Fast mode of a ``SuccinctModel``: install, replace and check the per-layer kernels.

``calibrate`` measures (``sckit.engine.plan``) and installs; ``apply_plan`` rebuilds a stored
plan without measuring; filter-pruned chains (``sckit.engine.chains``) are kept where the whole
forward measures faster. A kernel is installed as its module's instance ``forward``, and the
runtime is rebuilt so that weights a kernel computes from are no longer decoded per forward.
The mixin expects ``SuccinctModel``'s state: ``module``, ``_units``, ``_info``, ``_runtime``,
``device`` and ``_rebuild_runtime``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sckit.engine.outputs import fast_tolerance, max_abs_diff
from sckit.engine.plan import LayerPlan, calibrate, eligible_units
from sckit.engine.schedule import decode_ras
from sckit.engine.trace import call_model

__all__ = ["FastMode"]


def _pname(unit: str, attr: str) -> str:
    return f"{unit}.{attr}" if unit else attr


class FastMode:
    """Mixin of ``SuccinctModel``: everything that differs in ``mode="fast"``."""

    module: nn.Module
    _units: dict[str, list[str]]
    _info: dict[str, dict[str, Any]]
    _runtime: Any
    _plan: dict[str, LayerPlan]
    _kernels: dict[str, Any]
    _fast_note: str
    _chain_note: str
    _verified: dict[str, Any] | None

    def _rebuild_runtime(self) -> None:  # pragma: no cover - provided by SuccinctModel
        raise NotImplementedError

    @property
    def device(self) -> torch.device:  # pragma: no cover - provided by SuccinctModel
        raise NotImplementedError

    def _run(self, example_input: Any) -> Any:
        model: Any = self  # a SuccinctModel: an nn.Module
        return call_model(model, example_input)

    def _cpu_only(self, eligible: dict[str, str]) -> bool:
        """Off the CPU every layer takes the exact route (the kernels hold CPU structures)."""
        if self.device.type == "cpu":
            return False
        self._plan = {u: LayerPlan("dense", "fast kernels run on the CPU only") for u in eligible}
        return True

    @property
    def mode(self) -> str:
        """"fast" when any layer computes with a fast kernel or was calibrated, else "exact"."""
        return "fast" if self._plan else "exact"

    @property
    def plan(self) -> dict[str, dict[str, Any]]:
        """Fast mode's per-layer choice: unit -> {"kernel", "why", "ms"} (empty in exact mode)."""
        return {u: p.to_json() for u, p in self._plan.items()}

    def calibrate(self, example_input: Any) -> None:
        """Switch to fast mode: measure, on ``example_input``, each eligible layer's kernels and
        install the fastest (``sckit.engine.plan``). Weights stay bit-exact; outputs may differ
        from exact mode by reassociation. Safe to call again (re-measures)."""
        self._uninstall_kernels()
        eligible = eligible_units(self.module, self._units, self._runtime.ras)
        if self._cpu_only(eligible):
            return
        plans, built = calibrate(self, example_input, eligible)
        self._install_kernels(plans, built)
        self._try_chains(example_input, eligible)

    def _exact_param(self, name: str) -> torch.Tensor | None:
        """The exact value of parameter ``name`` (decoded if encoded; None if there is none)."""
        r = self._runtime.ras.get(name)
        if r is not None:
            return decode_ras(r)
        p = self._runtime.params.get(name)
        return None if p is None else p.detach()

    def _chains(self, eligible: dict[str, str]) -> list[Any]:
        """The conv -> BN -> conv chains whose modules own and alone use their parameters."""
        from sckit.engine.chains import find_chains

        def owns(unit: str) -> bool:
            mine = set(self._units.get(unit, []))
            others = {n for u, ps in self._units.items() if u != unit for n in ps}
            return mine <= {f"{unit}.weight", f"{unit}.bias"} and not (mine & others)

        # a dense (unencoded) conv may join a chain too: its kernel holds a sliced copy
        ok = ("", "weight not encoded")
        return [ch for ch in find_chains(self.module)
                if eligible.get(ch.producer) in ok and eligible.get(ch.consumer) in ok
                and owns(ch.producer) and owns(ch.consumer)
                and all(owns(t) for k, t in ch.steps if k == "bn")]

    def _try_chains(self, example_input: Any, eligible: dict[str, str]) -> None:
        """Keep filter-pruned chains shrunk across layers where that measures faster for the
        whole forward than the per-layer kernels (and stays within the reassociation bound)."""
        from sckit.engine.chains import build_chain_kernels
        from sckit.timing import interleaved

        chains = self._chains(eligible)
        if not chains:
            return
        kernels, notes = build_chain_kernels(self.module, chains, self._exact_param)
        if not kernels:
            return
        before_plan, before_k = dict(self._plan), dict(self._kernels)
        with torch.no_grad():
            ref = self._run(example_input)
            t0 = interleaved({"f": lambda: self._run(example_input)}, repeats=3)["f"].median
            plan = dict(before_plan)
            for u in kernels:
                old = plan.get(u)
                plan[u] = LayerPlan("shrunk", notes[u], dict(old.ms) if old else {}, chain=True)
            self._install_kernels(plan, {**before_k, **kernels})
            try:
                out = self._run(example_input)
                t1 = interleaved({"f": lambda: self._run(example_input)}, repeats=3)["f"].median
            except (RuntimeError, ValueError) as exc:  # fast mode never fails where exact works
                self._install_kernels(before_plan, before_k)
                self._chain_note = f"chains failed: {type(exc).__name__}: {str(exc)[:80]}"
                return
        diff, tol = max_abs_diff(out, ref), fast_tolerance(ref, self._longest_reduction(kernels))
        ok = diff <= tol
        self._chain_note = (f"chains: forward {t0:.3g} -> {t1:.3g} ms on example_input, "
                            f"max diff {diff:.3g} (bound {tol:.3g})")
        if not ok or not t1 < 0.95 * t0:
            self._install_kernels(before_plan, before_k)
            self._chain_note += "; kept per-layer kernels"
            return
        for u in kernels:
            self._plan[u].why += f" ({self._chain_note})"

    def apply_plan(self, plan: dict[str, Any]) -> None:
        """Install a stored plan (``sm.plan`` of a fast model) without measuring again."""
        from sckit.engine.kernels import build

        self._uninstall_kernels()
        eligible = eligible_units(self.module, self._units, self._runtime.ras)
        plans = {u: LayerPlan.from_json(p) for u, p in plan.items()}
        chained = {u for u, lp in plans.items() if lp.chain}
        unknown = sorted(set(plans) - set(eligible) - chained)
        if unknown:
            raise ValueError(f"plan names layers this model has no kernel slot for: {unknown[:5]}")
        if self._cpu_only(eligible):
            return
        modules = dict(self.module.named_modules())
        built: dict[str, Any] = {}
        if chained:
            from sckit.engine.chains import build_chain_kernels

            chains = [ch for ch in self._chains(eligible) if ch.producer in chained]
            kernels, _ = build_chain_kernels(self.module, chains, self._exact_param)
            if set(kernels) != chained:
                raise ValueError(f"plan chains {sorted(chained)[:5]} do not match this model's "
                                 f"graph ({sorted(kernels)[:5]})")
            built.update(kernels)
        for unit, lp in plans.items():
            if lp.kernel == "dense" or lp.chain:
                continue
            if eligible[unit]:
                raise ValueError(f"plan asks {lp.kernel!r} for {unit!r}, which cannot take it: {eligible[unit]}")
            w = self._exact_param(_pname(unit, "weight"))
            assert w is not None  # eligible: the weight is encoded
            built[unit] = build(lp.kernel, modules[unit], w, self._exact_param(_pname(unit, "bias")))
        self._install_kernels(plans, built)

    def _install_kernels(self, plans: dict[str, LayerPlan], built: dict[str, Any]) -> None:
        modules: dict[str, Any] = dict(self.module.named_modules())
        for unit in set(self._kernels) - set(built):
            modules[unit].__dict__.pop("forward", None)  # replaced plans leave no stale kernel
        self._plan = dict(plans)
        self._kernels = dict(built)
        for unit, k in built.items():
            # an instance attribute shadows the class's forward: hooks, names and state stay
            modules[unit].forward = k
        self._rebuild_runtime()

    def _uninstall_kernels(self, note: str = "") -> None:
        if self._kernels or self._plan:
            self._install_kernels({}, {})
            self._fast_note = note

    @property
    def max_reduction(self) -> int:
        """Longest dot product among layers that run a fast kernel (0 in exact mode)."""
        return self._longest_reduction(self._kernels)

    def _longest_reduction(self, units: Any) -> int:
        """Longest dot product (inputs per output) among the Linear/Conv2d ``units``."""
        modules = dict(self.module.named_modules())
        best = 0
        for unit in units:
            info = self._info.get(_pname(unit, "weight"))
            if info is None or not isinstance(modules.get(unit), (nn.Linear, nn.Conv2d)):
                continue  # a BatchNorm over kept channels reduces nothing
            best = max(best, int(torch.Size(info["shape"][1:]).numel()))
        return best

    def verify_fast(self, example_input: Any, reference: Any) -> float:
        """Check fast-mode outputs on ``example_input`` against ``reference`` (the source's) within
        :func:`fast_tolerance`; returns the largest difference, RuntimeError beyond the bound."""
        out = self._run(example_input)
        tol = fast_tolerance(reference, self.max_reduction)
        diff = max_abs_diff(out, reference)
        self._verified = {"max_abs_diff": diff, "tolerance": tol,
                          "rule": "K * eps(dtype) * max|output|, K = longest reduction of a fast layer"}
        if not diff <= tol:
            raise RuntimeError(
                f"fast mode output differs from the source by {diff:.3g}, beyond the reassociation "
                f"bound {tol:.3g} (longest reduction {self.max_reduction}); use mode='exact' and "
                "report this")
        return diff

    @property
    def fast_nbytes(self) -> int:
        """Resident bytes of fast mode's structures (shrunk weights, CSR indices and values)."""
        return sum(k.nbytes for k in self._kernels.values())
