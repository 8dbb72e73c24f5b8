"""Trained weights that other projects ship inside their PyPI wheels: the issue's "real" models.

Nothing is downloaded at run time and nothing is kept in this repo: the files come with the
packages, installed without their dependencies (their torch / torchvision pins would replace
ours; we only read the files)::

    pip install --no-deps silero-vad rapidocr-onnxruntime facenet-pytorch nudenet
    pip install onnx            # reads the ONNX files' tensors

Models (speech, OCR, face detection, object detection): Silero VAD (TorchScript, the 8 kHz and
16 kHz nets with their STFT basis), PP-OCRv4 text detection and recognition and the PP-OCR
mobile direction classifier (RapidOCR's ONNX files; the weights are Constant nodes), the three
MTCNN stages (facenet-pytorch's state dicts) and NudeNet's 320n detector (a YOLOv8n, ONNX).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

# (label, package, file inside it)
MODELS = [
    ("Silero VAD (speech)", "silero_vad", "data/silero_vad.jit"),
    ("PP-OCRv4 det (OCR)", "rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx"),
    ("PP-OCRv4 rec (OCR)", "rapidocr_onnxruntime", "models/ch_PP-OCRv4_rec_infer.onnx"),
    ("PP-OCR cls (OCR)", "rapidocr_onnxruntime", "models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
    ("MTCNN P-Net (face det.)", "facenet_pytorch", "data/pnet.pt"),
    ("MTCNN R-Net (face det.)", "facenet_pytorch", "data/rnet.pt"),
    ("MTCNN O-Net (face det.)", "facenet_pytorch", "data/onet.pt"),
    ("NudeNet 320n (YOLOv8n det.)", "nudenet", "320n.onnx"),
]
INSTALL = "pip install --no-deps silero-vad rapidocr-onnxruntime facenet-pytorch nudenet; pip install onnx"


def _file(package: str, rel: str) -> Path | None:
    # find_spec locates the package without importing it (their imports need their own deps)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))) / rel
    return p if p.is_file() else None


def _onnx_tensors(path: Path) -> dict[str, torch.Tensor]:
    import onnx
    from onnx import numpy_helper

    out: dict[str, torch.Tensor] = {}

    def visit(graph, prefix: str) -> None:
        for init in graph.initializer:
            out[prefix + init.name] = torch.from_numpy(numpy_helper.to_array(init).copy())
        for node in graph.node:
            for at in node.attribute:
                if node.op_type == "Constant" and at.name == "value":
                    out[prefix + node.output[0]] = torch.from_numpy(numpy_helper.to_array(at.t).copy())
                for g in ([at.g] if at.type == onnx.AttributeProto.GRAPH else list(at.graphs)):
                    visit(g, f"{prefix}{node.name}/")

    visit(onnx.load(str(path)).graph, "")
    return out


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".onnx":
        return _onnx_tensors(path)
    if path.suffix == ".jit":
        return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    return torch.load(path, map_location="cpu", weights_only=True)


def thirdparty_models() -> tuple[dict[str, dict[str, torch.Tensor]], list[str]]:
    """label -> float32 weight tensors (>= 2 elements: graph scalars such as an epsilon are not
    weights), and the labels of models whose package is not installed."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    missing: list[str] = []
    for label, package, rel in MODELS:
        path = _file(package, rel)
        if path is None:
            missing.append(label)
            continue
        state = {k: v.detach().contiguous() for k, v in _tensors(path).items()
                 if v.is_floating_point() and v.numel() >= 2}
        if any(v.dtype != torch.float32 for v in state.values()):
            raise ValueError(f"{label}: expected float32 weights, got "
                             f"{sorted({str(v.dtype) for v in state.values()})}")
        out[label] = state
    return out, missing


if __name__ == "__main__":
    models, missing = thirdparty_models()
    for k, s in models.items():
        print(f"{k}: {len(s)} tensors, {sum(v.numel() for v in s.values()):,} weights, "
              f"{len({v.data_ptr() for v in s.values()})} distinct buffers")
    print("missing:", missing or "none", f"({INSTALL})" if missing else "")
