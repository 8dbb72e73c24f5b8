"""``SuccinctModel.report()``: one row per module that owns parameters, and the totals."""

from __future__ import annotations

from typing import Any


def layer_report(sm: Any) -> Any:
    """The table ``SuccinctModel.report()`` documents (pandas is imported on first use)."""
    import pandas as pd

    rt = sm._runtime
    canon = {id(p): n for n, p in sm.module.named_parameters()}
    # encoded weight buffers: the runtime knows them by name (at rest they are empty)
    buffers = {id(t): n for n, t in rt.params.items() if id(t) not in canon}
    canon.update(buffers)
    cached = rt.cached
    rows = []
    for mname, mod in sm.module.named_modules():
        own = [(a, p) for a, p in mod._parameters.items() if p is not None]
        own += [(a, b) for a, b in mod._buffers.items() if b is not None and id(b) in buffers]
        if not own:
            continue
        dense_b = enc_b = 0
        kinds: list[tuple[int, str]] = []
        why: list[str] = []
        n_enc = n_dense = n_tied = 0
        decode = 0.0
        routes: set[str] = set()
        for attr, p in own:
            cname = canon[id(p)]
            full = f"{mname}.{attr}" if mname else attr
            if cname != full:
                n_tied += 1
                why.append(f"{attr}: tied to {cname}")
                continue
            if cname in rt.ras:
                nbytes = rt.decoded_nbytes[cname]
                r = rt.ras[cname]
                dense_b += nbytes
                enc_b += r.nbytes
                kinds.append((nbytes, f"{r.kind}-sparse" if getattr(r, "sparse", False) else r.kind))
                decode += rt.decode_ms.get(cname, 0.0)
                routes.add(rt.decoder.decoder_of(cname))
                n_enc += 1
            else:
                nbytes = p.numel() * p.element_size()
                dense_b += nbytes
                enc_b += nbytes
                why.append(f"{attr}: {sm._reasons.get(cname, 'not encoded')}")
                n_dense += 1
        lp = sm._plan.get(mname)
        k = sm._kernels.get(mname)
        fast_b = k.nbytes if k is not None else 0
        cache_b = sum(rt.decoded_nbytes[c] for c in {canon[id(p)] for _, p in own} & cached)
        if n_enc and not n_dense:
            status = "encoded"
        elif n_enc:
            status = "partial"
        elif n_dense:
            status = "dense"
        else:
            status = "tied"
        rows.append(
            {
                "layer": mname,
                "type": type(mod).__name__,
                "ras": max(kinds)[1] if kinds else "dense",
                "dense_bytes": dense_b,
                "bytes": enc_b,
                "ratio": dense_b / enc_b if enc_b else float("nan"),
                "decoded_on": "+".join(sorted(routes)),
                "decode_ms": decode if n_enc else float("nan"),
                "wait_ms": rt.wait_ms.get(mname, float("nan")),
                "compute_ms": rt.compute_ms.get(mname, float("nan")),
                "status": status,
                "reason": "; ".join(why),
                "kernel": lp.kernel if lp is not None else "dense",
                "kernel_why": lp.why if lp is not None else sm._fast_note,
                "fast_bytes": fast_b,
                "resident_bytes": enc_b + fast_b + cache_b,
            }
        )
    df = pd.DataFrame(rows)
    df.attrs.update({
        "mode": sm.mode,
        "dense_bytes": int(df["dense_bytes"].sum()) if len(df) else 0,
        "nbytes": sm.nbytes,
        "fast_bytes": sm.fast_nbytes,
        "cache_bytes": sm.cache_nbytes,
        "resident_bytes": sm.resident_nbytes,
        "peak_scratch_bytes": sm.peak_scratch_nbytes(),
    })
    if sm._verified:
        df.attrs["verify"] = dict(sm._verified)
    df.attrs["decode_ahead"] = {"setting": rt.decode_ahead, "auto_pays": rt.auto_pays,
                                "used_last_forward": rt.decode_ahead_used,
                                **sm._ahead_timing}
    return df
