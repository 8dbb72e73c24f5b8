"""Where the engine's weights are decoded: on the CPU, or by sckit's CUDA kernels.

``backend`` names where decoding happens; the model runs on its own device either way:

- ``"cpu"``: the numba decoders; a model on a CUDA device gets each decoded layer copied over.
- ``"cuda"``: the model runs on the GPU (moved there if needed). Its dense RAS are copied to the
  GPU once (wavelet matrix in the GPU layout, raw fields, codebooks: Succinct Compression, appendix B.2) and
  decoded there by ``kernels_cu/hwm_decode.cu`` + ``float_fields.cu`` straight into the CUDA
  tensor the layer reads. Sparse RAS, which the kernels do not handle, decode on the CPU and are
  copied. Without a usable kernel backend (no pycuda, say) every layer takes that CPU route and
  a warning says why.
- ``"auto"``: ``"cuda"`` for a model on a CUDA device when the kernels are usable, else ``"cpu"``.
  A CPU model stays on the CPU: "auto" never moves a model, so inputs that worked on the source
  model work on the compressed one.

Decoded weights are bit-identical on every route, so outputs equal the source model's on the
same device.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sckit.engine.schedule import decode_ras

__all__ = ["BACKENDS", "BackendChoice", "CpuDecoder", "KernelDecoder", "check_backend",
           "make_decoder", "model_device", "resolve_backend"]

BACKENDS = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class BackendChoice:
    """What :func:`resolve_backend` decided: where the model runs, who decodes, and why."""

    device: torch.device  # where the model's computation runs
    kernels: bool  # True: sckit's CUDA kernels decode the dense RAS
    note: str  # one line for reports and warnings


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU for a model with neither)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else ValueError naming them."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}; expected one of {', '.join(map(repr, BACKENDS))}")
    return backend


def resolve_backend(backend: str, current: torch.device, *, torch_cuda: bool,
                    kernels_usable: bool, kernels_reason: str = "") -> BackendChoice:
    """Decide where a model now on ``current`` runs and who decodes its weights.

    Pure (the probes arrive as arguments) so every branch is testable on any machine.
    """
    check_backend(backend)
    on_gpu = current.type == "cuda"
    if backend == "cpu" or (backend == "auto" and not on_gpu):
        note = "decoded on the CPU" + (f", copied to {current}" if on_gpu else "")
        return BackendChoice(current, False, note)
    if current.type not in ("cpu", "cuda"):
        raise ValueError(f"backend={backend!r} cannot run a model on {current}")
    if not torch_cuda:
        raise RuntimeError("backend='cuda' needs a CUDA device, and torch sees none here; "
                           "use backend='cpu'")
    device = current if on_gpu else torch.device("cuda")
    if kernels_usable:
        return BackendChoice(device, True, f"decoded on {device} by sckit's CUDA kernels")
    why = kernels_reason or "the CUDA kernels are unavailable"
    return BackendChoice(device, False, f"decoded on the CPU and copied to {device} ({why})")


def choose_backend(backend: str, model: nn.Module) -> BackendChoice:
    """:func:`resolve_backend` with this machine's probes (``sckit.gpu.status``)."""
    current = model_device(model)
    if backend == "cpu" or (backend == "auto" and current.type != "cuda"):
        # no probing: status() looks for a driver, which costs a few ms and is irrelevant here
        return resolve_backend(backend, current, torch_cuda=False, kernels_usable=False)
    from sckit.gpu import status

    st = status()
    choice = resolve_backend(backend, current, torch_cuda=torch.cuda.is_available(),
                             kernels_usable=st.usable, kernels_reason=st.reason)
    if choice.device.type == "cuda" and not choice.kernels:
        warnings.warn(f"sckit: weights will be {choice.note}", RuntimeWarning, stacklevel=3)
    return choice


class CpuDecoder:
    """Every RAS decoded by the CPU decoders, then copied to ``device`` when that is a GPU."""

    kind = "cpu"

    def __init__(self, device: torch.device | None = None) -> None:
        self.device = device

    def decode(self, name: str, r: Any) -> torch.Tensor:
        return decode_ras(r, self.device)

    def decoder_of(self, name: str) -> str:
        return "cpu"

    @property
    def device_bytes(self) -> int:
        """Bytes of compressed form held on the GPU (none: it stays in host memory)."""
        return 0


class KernelDecoder(CpuDecoder):
    """Dense RAS resident on the GPU and decoded by the CUDA kernels; the rest as ``CpuDecoder``.

    Uploading happens here, once, so a forward launches two kernels per weight tensor and copies
    nothing from the host.
    """

    kind = "cuda"

    def __init__(self, ras: dict[str, Any], device: torch.device | None = None) -> None:
        from sckit.backends.float_fields import CudaRAS, supports

        index = None if device is None or device.index is None else device.index
        self._gpu = {n: CudaRAS(r, device_index=index) for n, r in ras.items() if supports(r)}
        first = next(iter(self._gpu.values()), None)
        super().__init__(first.device if first is not None else device)

    def decode(self, name: str, r: Any) -> torch.Tensor:
        g = self._gpu.get(name)
        return g.decode() if g is not None else decode_ras(r, self.device)

    def decoder_of(self, name: str) -> str:
        return "cuda" if name in self._gpu else "cpu"

    @property
    def device_bytes(self) -> int:
        return sum(g.device_nbytes for g in self._gpu.values())


def make_decoder(choice: BackendChoice, ras: dict[str, Any]) -> CpuDecoder:
    """The decoder a :class:`BackendChoice` asks for."""
    if choice.kernels:
        return KernelDecoder(ras, choice.device)
    return CpuDecoder(choice.device if choice.device.type != "cpu" else None)
