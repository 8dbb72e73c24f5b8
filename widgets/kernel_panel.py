"""KernelPanel: GPU status, the CUDA sources, and on-demand compilation with its log."""

from __future__ import annotations

import html

import ipywidgets as W
from sckit.kernels_cu import list_sources, source

from sckit.gpu import compile_kernel, status

from ._base import Panel, safe

__all__ = ["KernelPanel"]


class KernelPanel(Panel):
    """Shows ``sckit.gpu.status()``; compiles a kernel for the chosen architecture with nvcc and
    shows the compile time, cache hit and compiler log. Without a GPU it says why and that
    ``backend="cpu"`` is used; compiling still works wherever nvcc is installed."""

    def __init__(self) -> None:
        st = status()
        self.gpu = st
        arch_default = f"sm_{st.capability[0]}{st.capability[1]}" if st.capability else "sm_90"
        self.kernel = W.Dropdown(options=list_sources(), description="kernel")
        self.arch = W.Dropdown(options=sorted({"sm_80", "sm_90", arch_default}), value=arch_default,
                               description="arch")
        self.compile_button = W.Button(description="Compile", icon="cogs")
        self.summary = W.HTML(f"<pre>{html.escape(str(st))}</pre>" + (
            "" if st.usable else "<b>No usable GPU here: sckit runs on the CPU path "
            "(backend='cpu'); kernels can still be compiled and inspected.</b>"))
        self.source_view = W.Textarea(layout=W.Layout(width="100%", height="220px"), disabled=True)
        self.compile_log = W.HTML()
        self.last = None
        super().__init__([self.summary, W.HBox([self.kernel, self.arch, self.compile_button]),
                          self.source_view, self.compile_log])
        self.kernel.observe(lambda _c: self.show_source(), names="value")
        self.compile_button.on_click(lambda _b: self.compile())
        self.show_source()

    @safe
    def show_source(self) -> None:
        self.source_view.value = source(self.kernel.value) if self.kernel.value else ""

    @safe
    def compile(self) -> None:
        self.info(f"compiling {self.kernel.value}.cu for {self.arch.value} ...")
        k = compile_kernel(self.kernel.value, arch=self.arch.value)
        self.last = k
        how = "cache hit" if k.cached else f"{k.compile_s:.2f} s"
        self.compile_log.value = (f"<b>{k.stem}.cu</b> -> {len(k.image):,} byte cubin for {k.arch} ({how})"
                          f"<pre>{html.escape(' '.join(k.options))}\n{html.escape(k.log or '(no compiler output)')}</pre>")
        self.info(f"compiled {k.stem}.cu ({how})")
