"""WaveletMatrixViewer logic, without a browser: call the handlers, assert the state."""

from __future__ import annotations

from sckit.widgets import WaveletMatrixViewer


def test_step_walks_one_level_at_a_time():
    v = WaveletMatrixViewer([4, 7, 6, 5, 3, 2, 1, 0, 1, 4, 1, 7])
    v.op.value, v.i.value = "access", 2
    v.step()
    assert v.shown_steps == 1 and v.highlighted() == {0: {2}}
    assert "background:#ffd54f" in v.view.value
    v.step(), v.step(), v.step()  # a 4th step stays on the last level
    assert v.shown_steps == 3 and v.trace.result == 6
    assert "result 6" in v.status.value


def test_rank_and_select_runs():
    v = WaveletMatrixViewer("4 7 6 5 3 2 1 0 1 4 1 7")
    v.op.value, v.c.value, v.i.value = "rank", 1, 9
    v.run()
    assert v.trace.result == 2 and v.last_error is None
    v.op.value, v.c.value, v.i.value = "select", 7, 1
    v.run()
    assert v.trace.result == 11


def test_bad_values_show_a_message_and_keep_the_view():
    v = WaveletMatrixViewer([1, 2, 3])
    before = v.view.value
    v.symbols_text.value = "1 two 3"
    assert "non-negative integers" in v.last_error and v.view.value == before
    v.symbols_text.value = " ".join(["1"] * 65)
    assert "too many" in v.last_error
    v.symbols_text.value = "3 1 2"
    assert v.last_error is None and list(v.symbols) == [3, 1, 2]
    v.op.value, v.i.value = "access", 99
    v.run()
    assert "IndexError" in v.last_error
    v.op.value, v.c.value, v.i.value = "select", 1, 5
    v.run()
    assert "occurs 1 times" in v.last_error


def test_non_integer_symbols_and_arguments_keep_the_last_good_state():
    import math

    v = WaveletMatrixViewer([3, 1, 2])
    view = v.view.value
    for bad, msg in (([1.5, 2], "integers"), ([True, False], "integers"), ([-1, 2], "non-negative"),
                     ([math.nan], "integers"), ([2**40], "exceeds"), ([], "non-empty")):
        v.set_symbols(bad)
        assert msg in v.last_error and list(v.symbols) == [3, 1, 2] and v.view.value == view
    for op, c, i, msg in (("access", 1, -1, "outside"), ("rank", -1, 2, "outside"),
                          ("rank", 1, 99, "outside"), ("select", 9, 1, "outside")):
        v.op.value, v.c.value, v.i.value = op, c, i
        v.run()
        assert msg in v.last_error, (op, c, i, v.last_error)
    v.op.value, v.c.value, v.i.value = "access", 1, 0
    v.run()  # a later action works
    assert v.last_error is None and v.trace.result == 3
