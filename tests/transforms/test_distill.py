"""Knowledge distillation: a small student learns digits from a teacher; inputs untouched."""

from __future__ import annotations

import pytest
import torch

from sckit.data import evaluate
from sckit.transforms import distill, history, small_student
from tests.transforms.models import state_bits


def test_distill_trains_a_small_student(lenet300):
    student = small_student((32,))
    teacher_bits, student_bits = state_bits(lenet300), state_bits(student)
    out = distill(lenet300, student, epochs=6)
    assert state_bits(lenet300) == teacher_bits and state_bits(student) == student_bits
    assert lenet300.training is False and all(p.requires_grad for p in lenet300.parameters())
    assert evaluate(out) >= 0.9
    entry = history(out)[-1]
    assert entry["op"] == "distill" and entry["student_params"] == 784 * 32 + 32 + 32 * 10 + 10
    assert entry["student_params"] < entry["teacher_params"] / 10


def test_distill_is_deterministic(lenet300):
    a = distill(lenet300, small_student((16,)), epochs=1)
    b = distill(lenet300, small_student((16,)), epochs=1)
    assert state_bits(a) == state_bits(b)


def test_small_student_shapes_and_errors():
    s = small_student((8, 8), size=8)
    assert s(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert sum(p.numel() for p in s.parameters()) == 64 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10
    with pytest.raises(ValueError, match="hidden"):
        small_student((0,))


def test_distill_bad_arguments(lenet300):
    with pytest.raises(ValueError, match="temperature"):
        distill(lenet300, small_student(), temperature=0)
    with pytest.raises(ValueError, match="alpha"):
        distill(lenet300, small_student(), alpha=1.5)
