"""Compressed models that run: ``sckit.compress`` and ``SuccinctModel`` (Succinct Compression, sec. 5).

``compress`` copies a model, encodes every parameter it can as a RAS (element- or block-wise, chosen
per layer from the FPr test of ``sckit.inspect`` unless overridden) and returns a
``SuccinctModel``. Its forward decodes each layer's weights just before that layer runs and frees
them right after (``engine.schedule``), so resident weight memory is the compressed size plus one
layer's scratch (two with the optional decode-ahead). Decoding is bit-exact, so outputs are
bit-identical to the source model's. Buffers and parameters it does not encode are kept exactly,
and every such parameter is listed with its reason in ``report()``. Where the weights are decoded
(CPU, or sckit's CUDA kernels) is ``engine.decode``'s business.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from sckit.engine.decode import BackendChoice, choose_backend, make_decoder, model_device
from sckit.engine.fast import FastMode
from sckit.engine.outputs import bit_equal, fast_tolerance, max_abs_diff
from sckit.engine.plan import LayerPlan
from sckit.engine.ras_choice import kind_for, layer_choice, param_owners
from sckit.engine.schedule import Runtime, check_cache_bytes, decode_ras
from sckit.engine.trace import call_model, trace_parameter_use
from sckit.macs import weight_buffers
from sckit.model_checks import check_model
from sckit.warmup import shows_compile_progress

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MODES", "SuccinctModel", "bit_equal", "check_mode", "compress", "fast_tolerance",
           "max_abs_diff"]

MODES = ("exact", "fast")


@shows_compile_progress  # numba compiles on a first run: show it (sckit.warmup)
def compress(
    model: nn.Module,
    example_input: Any,
    *,
    ras: str | dict[str, str] = "auto",
    fpr_threshold: float | None = None,
    backend: str = "auto",
    mode: str = "exact",
    decode_ahead: bool | str = "auto",
    cache_bytes: int = 0,
    verify: bool = True,
) -> SuccinctModel:
    """Compress ``model`` into a ``SuccinctModel`` that keeps its weights as RAS and runs.

    ``example_input`` is a tensor (one positional argument), a tuple (positional arguments) or a
    dict (keyword arguments); one forward on it shows which module uses which parameter.
    ``ras``: "auto" (per-layer FPr test of ``sckit.inspect``, ``fpr_threshold`` as there),
    "element", "block", or a dict ``{module_or_param_name: "element"|"block"|"dense"}`` of
    overrides on top of "auto" (key ``"*"``: the kind for everything not named instead).
    The FPr test depends on ``example_input``'s size (FLOPs grow with it): at a small input, conv
    layers with short rows (3x3, 1x1) turn element-wise and cost a delimiter per row; ``"block"``
    is the smallest choice for them (docs/benchmarks.md, "Seed 000, Tables 1-2").
    ``backend`` says where weights are decoded (``sckit.engine.decode``): "cpu" (copied to the
    model's device if that is a GPU), "cuda" (the model runs on the GPU, moved there if needed; the
    compressed form lives on the GPU and sckit's CUDA kernels decode it), or "auto" ("cuda" for a
    model already on a CUDA device when the kernels are usable, else "cpu"; never moves a model).
    ``decode_ahead`` decodes the next layers' weights in a background thread while earlier
    layers compute (Succinct Compression, appendix B.3), up to a byte budget ahead
    (``sm._runtime.ahead_bytes``). "auto" (default) turns it on when torch leaves a core
    unused (``torch.get_num_threads()`` < usable cores): on the 2-core machines, ResNet-50 at
    batch 1 with one torch thread ran 1.08x dense with it against 1.30x without
    (docs/benchmarks.md). It only helps when that core is really free and the layers are big
    enough, so "auto" also times a few forwards on ``example_input`` each way and keeps the
    faster (``report().attrs["decode_ahead"]``). ``verify`` checks
    the result, raising ``RuntimeError`` on a mismatch: for an eval-mode model on the CPU, that
    the compressed output on ``example_input`` is bit-identical to the source's; on a GPU, that
    every weight decoded by the chosen route is bit-identical to the source's. Parameters whose
    RAS would not be smaller than the dense tensor, that RAS cannot encode, or that the traced
    forward never used stay dense; ``report()`` lists each with its reason. The input model is
    never modified.

    ``mode``: "exact" (outputs bit-identical to the source) or "fast": the same weights, bit
    for bit (``to_dense()`` equals the source), but each Linear/Conv2d computes in the layout
    measured fastest for it on ``example_input`` (``sckit.engine.plan``): its all-zero filters
    dropped ("shrunk"), sparse CSR ("csr"), or dense. Outputs then differ from the source by
    floating-point reassociation only, and ``verify`` checks them against the bound
    :func:`fast_tolerance` states. ``report()`` says per layer which kernel runs and why.
    ``cache_bytes``: keep up to this many bytes of decoded weights resident between forwards
    (0: none; the layers whose decode costs most per byte are kept).
    """
    check_mode(mode)
    check_cache_bytes(cache_bytes)  # before any work: a typo should not cost an encode
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, SuccinctModel):
        raise TypeError("model is already a SuccinctModel")
    check_model(model, "compress")
    route = choose_backend(backend, model)
    work = copy.deepcopy(model)
    check = (verify and route.device.type == "cpu"
             and not any(m.training for m in work.modules()))
    try:
        choice = layer_choice(work, example_input, ras, fpr_threshold)
        trace = trace_parameter_use(work, example_input)
        if check:
            # a plain forward, not the traced one: under a TorchFunctionMode some modules take
            # another code path (nn.MultiheadAttention skips its fused fast path), which can
            # differ in the last bit
            with torch.no_grad():
                reference = call_model(work, example_input)
    finally:
        # forwards in training mode update BatchNorm statistics: put the source's back exactly
        with torch.no_grad():
            for b_work, b_src in zip(work.buffers(), model.buffers(), strict=True):
                b_work.copy_(b_src)
    from sckit.tensor_io import encode_tensor

    params: dict[str, torch.Tensor] = dict(work.named_parameters())
    owners = param_owners(work)
    for bname, b in weight_buffers(work).items():
        # weights a converter (onnx2torch) stored as buffers are encoded like parameters
        params[bname] = b
        owners.setdefault(id(b), [(bname.rpartition(".")[0], bname.rpartition(".")[2])])
    used = {p for ps in trace.units.values() for p in ps}
    encoded: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for name, p in params.items():
        owner = owners[id(p)][0][0]
        kind = kind_for(name, owner, p.ndim, choice)
        if kind == "dense":
            reasons[name] = "kept dense by ras override"
            continue
        if name not in used:
            reasons[name] = "not used in the traced forward"
            continue
        if p.numel() == 0:
            reasons[name] = "empty tensor"
            continue
        try:
            # sckit's CUDA kernels decode the wavelet-matrix layout; on the CPU the byte-grouped
            # one is kept where smaller (sckit.ras.bytegroup)
            r = encode_tensor(p.detach().cpu(), kind=kind,
                              layout="wm" if route.kernels else "auto")
        except (ValueError, TypeError, NotImplementedError) as exc:
            reasons[name] = f"cannot encode: {exc}"
            continue
        dense_bytes = p.numel() * p.element_size()
        if r.nbytes >= dense_bytes:
            reasons[name] = f"RAS not smaller ({r.nbytes} >= {dense_bytes} bytes)"
            continue
        encoded[name] = r
    zoo = getattr(model, "_sckit_zoo", None)
    sm = SuccinctModel(
        work,
        encoded,
        reasons,
        trace.units,
        trace.schedule,
        decode_ahead=decode_ahead,
        cache_bytes=cache_bytes,
        backend=route,
        zoo=zoo,
    )
    source = {**dict(model.named_buffers()), **dict(model.named_parameters())}
    if verify and not check and route.device.type != "cpu":
        sm.verify_weights(source)
    if check:
        out = call_model(sm, example_input)
        if not bit_equal(out, reference):
            # name the real cause: a weight that decodes wrong, or a computation that differs
            sm.verify_weights(source)
            raise RuntimeError(
                "compressed model output differs from the source model on example_input although "
                "every weight decodes bit-exactly: a module computes differently on the engine's "
                "tensors or reads a weight outside the module that was traced using it (e.g. "
                "from a hook); pass ras={name: 'dense'} for that layer and report this"
            )
    if decode_ahead == "auto" and route.device.type == "cpu":
        sm.tune_decode_ahead(example_input)
    if mode == "fast":
        sm.calibrate(example_input)
        if check:
            sm.verify_fast(example_input, reference)
    return sm


def check_mode(mode: Any) -> str:
    """``mode`` if it is one of :data:`MODES`, else ValueError naming them."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}; expected one of {', '.join(map(repr, MODES))}")
    return mode


class SuccinctModel(FastMode, nn.Module):
    """A model whose weights live as RAS and are decoded layer by layer during forward.

    Build it with ``sckit.compress`` or ``sckit.load``. Inference only: forward runs under
    ``torch.no_grad()``; encoded parameters keep the source's ``requires_grad``. Between forwards an
    encoded parameter is an empty placeholder (its ``Parameter`` object stays, so weight tying and
    modules that read another module's weights keep working); use ``to_dense()`` for a plain model.
    One forward at a time: the decode state is per model, so do not call it from several threads
    at once.
    """

    def __init__(
        self,
        module: nn.Module,
        encoded: dict[str, Any],
        reasons: dict[str, str],
        units: dict[str, list[str]],
        schedule: list[str],
        *,
        decode_ahead: bool | str = False,
        cache_bytes: int = 0,
        backend: str | BackendChoice = "auto",
        zoo: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.module = module
        # mirror the wrapped model: helpers that save and restore .training (evaluate, predict)
        # would otherwise put an eval-mode model's BatchNorms into training mode
        self.training = module.training
        params: dict[str, torch.Tensor] = dict(module.named_parameters())
        # encoded weight buffers are materialised the same way (``tensor.data = decoded``)
        params.update({n: b for n, b in module.named_buffers() if n in encoded})
        self._info: dict[str, dict[str, Any]] = {
            n: {"dtype": p.dtype, "shape": tuple(p.shape), "requires_grad": p.requires_grad}
            for n, p in params.items()
            if n in encoded
        }
        # encoded parameters keep the source's requires_grad: some CPU kernels take another code
        # path by that flag even under no_grad (F.linear on a non-contiguous view, nn.GRU at
        # batch > 1), which changes the last bits of the output
        self._reasons = dict(reasons)
        self._units = {u: list(ps) for u, ps in units.items()}
        self._schedule = list(schedule)
        self._zoo = zoo
        choice = backend if isinstance(backend, BackendChoice) else choose_backend(backend, module)
        self._backend = choice
        # fast mode: unit -> LayerPlan (every eligible unit) and unit -> installed kernel
        self._plan: dict[str, LayerPlan] = {}
        self._kernels: dict[str, Any] = {}
        self._fast_note = ""
        self._chain_note = ""  # what the last chain measurement found (fast mode)
        self._verified: dict[str, Any] | None = None  # verify_fast's figures
        self._ahead_timing: dict[str, float] = {}  # tune_decode_ahead's figures
        self._runtime = self._make_runtime(encoded, params, make_decoder(choice, encoded),
                                           decode_ahead=decode_ahead, cache_bytes=cache_bytes)
        if choice.device != model_device(module):
            # after install, so encoded weights are already empty placeholders when moved
            module.to(choice.device)

    def _make_runtime(self, encoded: dict[str, Any], params: dict[str, torch.Tensor], decoder: Any,
                      **options: Any) -> Runtime:
        """A runtime whose hooks decode every encoded weight no fast kernel computes with."""
        skip = {n for u in self._kernels for n in self._units.get(u, [])}
        units = {u: [n for n in ps if n not in skip] for u, ps in self._units.items()}
        rt = Runtime(encoded, params, units, self._schedule, decoder=decoder, **options)
        rt.install(self.module)
        return rt

    def _rebuild_runtime(self) -> None:
        old = self._runtime
        old.remove()
        options: dict[str, Any] = {"decode_ahead": old.decode_ahead, "cache_bytes": old.cache_bytes}
        self._runtime = self._make_runtime(old.ras, old.params, old.decoder, **options)
        self._runtime.auto_pays = old.auto_pays

    def tune_decode_ahead(self, example_input: Any, repeats: int = 3) -> bool | None:
        """For ``decode_ahead="auto"``: time forwards on ``example_input`` with and without
        decode-ahead (interleaved medians) and keep it only where it ran faster. On small
        models the worker's hand-offs cost more than the decode it hides. Returns the decision
        (None: no spare core, nothing measured)."""
        from sckit.engine.schedule import _spare_core
        from sckit.timing import interleaved

        rt = self._runtime
        if not _spare_core() or not rt.schedule:
            return None
        saved = rt.decode_ahead

        def run(flag: bool) -> Any:
            def go() -> None:
                rt.decode_ahead = flag
                call_model(self, example_input)
            return go

        try:
            t = interleaved({"on": run(True), "off": run(False)}, repeats=repeats, warmup=1)
        finally:
            rt.decode_ahead = saved
        rt.auto_pays = t["on"].median < t["off"].median
        self._ahead_timing = {"on_ms": t["on"].median, "off_ms": t["off"].median}
        return rt.auto_pays

    @property
    def backend(self) -> str:
        """Who decodes the weights: "cuda" (sckit's kernels) or "cpu" (see ``backend_note``)."""
        return self._runtime.decoder.kind

    @property
    def backend_note(self) -> str:
        """One line: where the weights are decoded and, on a fallback, why."""
        return self._backend.note

    @property
    def device(self) -> torch.device:
        """Where the model computes (inputs go here)."""
        return self._backend.device

    def verify_weights(self, source: dict[str, torch.Tensor] | None = None) -> None:
        """Decode every encoded weight by this model's route and check it bit-for-bit against
        ``source`` (name -> tensor; default: the CPU decode), raising ``RuntimeError`` naming the
        first that differs."""
        dec = self._runtime.decoder
        for name, r in self._runtime.ras.items():
            got = dec.decode(name, r)
            want = source[name].detach() if source is not None else decode_ras(r)
            if not bit_equal(got.cpu(), want.cpu()):
                raise RuntimeError(f"weight {name!r} decoded by the {dec.kind} route differs from "
                                   "the source; use backend='cpu' and report this")

    # -- devices -----------------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> SuccinctModel:
        """Move to another device (``sm.to("cuda")``, ``sm.cpu()``); the decode route follows as
        for ``backend="auto"``. Dtype conversions are refused: they would not be lossless."""
        device, dtype, _, _ = torch._C._nn._parse_to(*args, **kwargs)
        if dtype is not None:
            raise TypeError("a SuccinctModel keeps its weights' dtypes exactly; convert a dense "
                            "copy (sm.to_dense().to(dtype)) and compress that instead")
        if device is None:
            return self
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"cannot move to {device}: torch sees no CUDA device here")
        if device.type != "cpu" and self._kernels:
            # fast kernels hold CPU structures: elsewhere every layer takes the exact route
            self._uninstall_kernels(f"fast kernels dropped on the move to {device}: CPU only")
        self.module.to(device)  # encoded weights are empty placeholders at rest: cheap
        choice = choose_backend("auto", self.module)
        self._runtime.set_decoder(make_decoder(choice, self._runtime.ras))
        self._backend = choice
        return self

    def cuda(self, device: int | torch.device | None = None) -> SuccinctModel:
        """Move to a CUDA device (see :meth:`to`)."""
        if isinstance(device, int):
            device = torch.device("cuda", device)
        return self.to(device if device is not None else torch.device("cuda"))

    def cpu(self) -> SuccinctModel:
        """Move to the CPU (see :meth:`to`)."""
        return self.to(torch.device("cpu"))

    def _refuse_dtype(self, *_: Any, **__: Any) -> SuccinctModel:
        raise TypeError("a SuccinctModel keeps its weights' dtypes exactly; convert a dense copy "
                        "(sm.to_dense()) and compress that instead")

    half = float = double = bfloat16 = type = _refuse_dtype

    # -- running -----------------------------------------------------------------------------
    @property
    def decode_ahead(self) -> bool | str:
        """Whether layer k+1 is decoded in the background while layer k computes (settable)."""
        return self._runtime.decode_ahead

    @decode_ahead.setter
    def decode_ahead(self, value: bool | str) -> None:
        self._runtime.decode_ahead = value  # the runtime validates (True, False or "auto")

    @property
    def ras(self) -> dict[str, Any]:
        """Canonical parameter name -> its RAS (a copy; ``sm.ras["conv1"]`` finds the one tensor
        a module owns, and a miss lists the names there are)."""
        from sckit.engine.rasmap import RasMap

        return RasMap(self._runtime.ras)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the wrapped model, decoding each layer's weights just in time."""
        rt = self._runtime
        rt.begin()
        try:
            with torch.no_grad():
                return self.module(*args, **kwargs)
        finally:
            rt.end()

    # -- accounting --------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Resident bytes of the model's state: RAS sizes + dense parameters + buffers.

        Tied parameters count once; decoded scratch (one or two layers, only during forward) is not
        included.
        """
        total = sum(r.nbytes for r in self._runtime.ras.values())
        for name, p in self.module.named_parameters():
            if name not in self._runtime.ras:
                total += p.numel() * p.element_size()
        total += sum(b.numel() * b.element_size() for b in self.module.buffers())
        return total

    @property
    def cache_nbytes(self) -> int:
        """Resident bytes of decoded weights kept between forwards (``cache_bytes``)."""
        return int(self._runtime.cache_nbytes)

    @property
    def resident_nbytes(self) -> int:
        """Everything this model keeps in memory between forwards: :attr:`nbytes` (compressed
        weights, dense parameters, buffers) + decoded-weight cache + fast-mode structures."""
        return self.nbytes + self.cache_nbytes + self.fast_nbytes

    def peak_scratch_nbytes(self) -> int:
        """Decoded weight bytes alive at once during a forward: the largest unit's, plus the
        decode-ahead budget when the last forward used it. Activations are not counted."""
        rt = self._runtime
        cached = rt.cached
        largest = max((sum(rt.decoded_nbytes[n] for n in ps if n not in cached)
                       for ps in rt.units.values()), default=0)
        return largest + (rt.ahead_bytes if rt.decode_ahead_used else 0)

    def report(self) -> pd.DataFrame:
        """One row per module that owns parameters: how each is stored and what the last forward cost.

        Columns: layer, type, ras (kind of the largest encoded parameter, "-sparse" when the
        sparse form was chosen; "dense" if none), dense_bytes, bytes, ratio (dense/bytes),
        decoded_on ("cpu", "cuda" for sckit's kernels, "" when nothing is decoded), decode_ms
        (decoding this layer's weights, in whichever thread did it; on the "cuda" route the host
        time of the kernel launches, which run asynchronously), wait_ms (time the
        forward thread spent waiting for this layer's weights), compute_ms (the layer's forward,
        children included), status ("encoded", "partial", "dense", "tied"), reason (why parameters
        stayed dense), kernel ("dense": decoded then computed as the source does; in fast mode
        "shrunk" or "csr"), kernel_why (fast mode: the measured choice, or why the layer runs
        dense), fast_bytes (what the fast kernel keeps resident), resident_bytes (bytes + fast
        structures + cached decoded weights).

        ``df.attrs`` holds the totals: mode, dense_bytes, nbytes, fast_bytes, cache_bytes,
        resident_bytes, peak_scratch_bytes (decoded weights alive at once in a forward) and, for
        fast mode, what ``verify`` measured.
        """
        from sckit.engine.report import layer_report

        return layer_report(self)

    # -- back to dense -----------------------------------------------------------------------
    def to_dense(self) -> nn.Module:
        """A plain copy of the wrapped model with every weight decoded (state_dict bit-identical)."""
        hook_ids = {h.id for h in self._runtime.handles}
        kernels = {u: self.module.get_submodule(u).__dict__.pop("forward") for u in self._kernels}
        try:
            dense = copy.deepcopy(self.module)  # without the kernels: they are not dense state
        finally:
            for u, k in kernels.items():
                vars(self.module.get_submodule(u))["forward"] = k
        for mod in dense.modules():
            # in place: torch keeps weak references to these OrderedDicts (a plain dict here
            # made every later register_forward_hook on the copy fail)
            for hooks in (mod._forward_pre_hooks, mod._forward_hooks,
                          mod._forward_hooks_always_called):
                for hid in [k for k in hooks if k in hook_ids]:
                    del hooks[hid]
        for mod in dense.modules():
            mod.__dict__.pop("forward", None)  # fast kernels: back to the class's forward
        params: dict[str, torch.Tensor] = {**dict(dense.named_buffers()),
                                            **dict(dense.named_parameters())}
        for name, r in self._runtime.ras.items():
            p = params[name]
            p.data = decode_ras(r, p.device)
            p.requires_grad_(self._info[name]["requires_grad"])
        return dense

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """The decoded state dict of the wrapped model (keys as in the source model).

        Decodes every weight; use ``sckit.save`` to store the compressed form.
        """
        return self.to_dense().state_dict(*args, **kwargs)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported: compress a model with the new weights instead."""
        raise NotImplementedError("SuccinctModel is read-only; compress a model with the new weights")

    def extra_repr(self) -> str:
        return (f"encoded={len(self._runtime.ras)}, nbytes={self.nbytes}, mode={self.mode!r}, "
                f"fast_layers={len(self._kernels)}, decode_ahead={self.decode_ahead}, "
                f"backend={self.backend!r}")
