"""The page's WebAssembly PDQ run from Python (wasmtime), for exactness tests against
the native kernels without a browser. One Wasm instance per build, reused."""

from __future__ import annotations

import functools

import numpy as np
import wasmtime

from tidehash.web import WASM_VARIANTS, wasm_path


class WasmPDQ:
    def __init__(self, variant: str) -> None:
        self.variant = variant
        config = wasmtime.Config()
        engine = wasmtime.Engine(config)
        self.store = wasmtime.Store(engine)
        module = wasmtime.Module.from_file(engine, wasm_path(variant))
        assert list(module.imports) == [], "the page's module must import nothing"
        inst = wasmtime.Instance(self.store, module, [])
        ex = inst.exports(self.store)
        self.memory = ex["memory"]
        self._alloc, self._free = ex["th_alloc"], ex["th_free"]
        self._pdq, self._dct = ex["th_pdq"], ex["th_pdq_dct"]
        self._ycbcr = ex["th_ycbcr_to_rgbx"]
        self._pdq_ycbcr = ex["th_pdq_ycbcr"]

    def _write(self, data: bytes) -> int:
        ptr = self._alloc(self.store, len(data))
        assert ptr != 0, "wasm malloc failed"
        self.memory.write(self.store, data, ptr)
        return ptr

    def _read(self, ptr: int, n: int) -> bytes:
        return bytes(self.memory.read(self.store, ptr, ptr + n))

    def pdq(self, arr: np.ndarray, dihedral: bool) -> tuple[bytes, int, int]:
        """(hash bytes: 32, or 256 for the 8 dihedral hashes; quality; status)."""
        arr = np.ascontiguousarray(arr, dtype=np.uint8)
        rows, cols = arr.shape[:2]
        channels = 1 if arr.ndim == 2 else arr.shape[2]
        nout = 256 if dihedral else 32
        px = self._write(arr.tobytes())
        out = self._alloc(self.store, nout + 4)
        try:
            rc = self._pdq(self.store, px, rows, cols, channels, int(dihedral), out, out + nout)
            raw = self._read(out, nout)
            quality = int.from_bytes(self._read(out + nout, 4), "little", signed=True)
        finally:
            self._free(self.store, px)
            self._free(self.store, out)
        return raw, quality, rc

    def ycbcr_to_rgbx(self, *args: int) -> int:
        return self._ycbcr(self.store, *args)

    def pdq_ycbcr(self, planes: list[np.ndarray], hsub: int, vsub: int,
                  dihedral: bool) -> tuple[bytes, int, int]:
        """th_pdq_ycbcr of Y, Cb, Cr planes (each line adjacent): (hash bytes, quality,
        status), as pdq()."""
        h, w = planes[0].shape
        ptrs = [self._write(np.ascontiguousarray(p, dtype=np.uint8).tobytes()) for p in planes]
        nout = 256 if dihedral else 32
        out = self._alloc(self.store, nout + 4)
        try:
            rc = self._pdq_ycbcr(self.store, ptrs[0], w, ptrs[1], planes[1].shape[1], ptrs[2],
                                 planes[2].shape[1], w, h, hsub, vsub, int(dihedral), out,
                                 out + nout)
            raw = self._read(out, nout)
            quality = int.from_bytes(self._read(out + nout, 4), "little", signed=True)
        finally:
            for p in (*ptrs, out):
                self._free(self.store, p)
        return raw, quality, rc

    def dct(self) -> np.ndarray:
        ptr = self._alloc(self.store, 16 * 64 * 4)
        try:
            self._dct(self.store, ptr)
            return np.frombuffer(self._read(ptr, 16 * 64 * 4), dtype="<f4").reshape(16, 64)
        finally:
            self._free(self.store, ptr)


@functools.cache
def runner(variant: str) -> WasmPDQ:
    return WasmPDQ(variant)


VARIANTS = WASM_VARIANTS
