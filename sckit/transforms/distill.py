"""Knowledge distillation (Hinton et al. 2015) of a small student from a digits teacher.

Seed 003's loss: ``L = alpha * T^2 * CE(softmax(s / T), softmax(t / T)) + (1 - alpha) * CE(s, y)``.
The soft term is computed as a KL divergence, which differs from that cross-entropy only by the
teacher's entropy (a constant), so the gradients are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sckit.transforms._common import new_model, record

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["distill", "small_student"]


def small_student(hidden: Sequence[int] = (64,), *, size: int = 28, seed: int = 0) -> nn.Module:
    """A small MLP student for 1x``size``x``size`` digits: flatten, ``hidden`` ReLU layers, 10."""
    import torch
    from torch import nn

    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be positive ints, got {hidden!r}")
    gen_state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers: list[nn.Module] = [nn.Flatten()]
        width = size * size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 10))
        return nn.Sequential(*layers)
    finally:
        torch.set_rng_state(gen_state)


def distill(
    teacher: nn.Module,
    student: nn.Module,
    *,
    epochs: int = 15,
    temperature: float = 4.0,
    alpha: float = 0.9,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    size: int = 28,
) -> nn.Module:
    """Return a copy of ``student`` trained on digits to match ``teacher`` (neither is modified).

    ``temperature`` softens both distributions; ``alpha`` weighs the teacher term against the
    hard-label cross-entropy. The teacher runs in eval mode without gradients.
    """
    import torch
    import torch.nn.functional as F

    from sckit.training import train

    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    from sckit.training import check_digits_model

    check_digits_model("teacher", teacher, size)
    check_digits_model("student", student, size)
    frozen = new_model(teacher).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    result = new_model(student)
    t = float(temperature)

    def loss_fn(logits: torch.Tensor, labels: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            soft_teacher = F.log_softmax(frozen(x) / t, dim=1)
        soft = F.kl_div(
            F.log_softmax(logits / t, dim=1), soft_teacher, log_target=True, reduction="batchmean"
        )
        return alpha * t * t * soft + (1.0 - alpha) * F.cross_entropy(logits, labels)

    train(
        result, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, size=size, loss_fn=loss_fn
    )
    entry = {
        "op": "distill",
        "teacher": type(teacher).__name__,
        "teacher_params": sum(p.numel() for p in teacher.parameters()),
        "student_params": sum(p.numel() for p in student.parameters()),
        "temperature": t,
        "alpha": float(alpha),
        "epochs": epochs,
    }
    return record(result, student, entry)
