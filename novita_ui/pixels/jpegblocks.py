"""A JPEG's quantised DCT blocks: read them, and write the file again with some blocks replaced.

Two codecs, chosen once per process:

* **libjpeg-turbo's TurboJPEG library** (``libturbojpeg``, a system package: Debian ``libturbojpeg0``,
  Homebrew ``jpeg-turbo``), through ``tjTransform`` with a custom filter. One Huffman decode and one encode
  of the file with libjpeg-turbo's SIMD code, the blocks edited in place between the two: ~0.35 s for a
  14 MB 12 MP q100 4:4:4 photo, ~0.04 s for a 12 MP q85 4:2:0 one (``benchmarks/bench_fidelity``).
* **jpeglib** (a PyPI wheel that bundles libjpeg builds), when the system library is missing. Same blocks,
  same file, about 4x slower: it decodes the file three times to read it once.

Blocks are ``int16`` arrays shaped (block rows, block columns, 64), coefficients in natural (row-major)
order, as libjpeg keeps them; both codecs agree on them exactly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)
_JPEGLIB_LOCK = threading.Lock()


@dataclass(frozen=True)
class Replacement:
    """Blocks to put into one component: ``blocks[r, c]`` goes to (row + r, column + c) where ``touched``."""

    component: int
    row: int
    column: int
    blocks: Any  # int16 (rows, columns, 64)
    touched: Any  # bool (rows, columns)


class Codec(Protocol):
    """What the block edit needs from a JPEG library."""

    name: str

    def read(self, data: bytes) -> list[Any]:
        """Every component's blocks."""

    def rewrite(self, data: bytes, replacements: list[Replacement]) -> bytes:
        """The file coded again (baseline, standard Huffman tables, no metadata) with the blocks replaced."""


def put(target: Any, replacement: Replacement, first_row: int = 0) -> None:
    """Copy a replacement's touched blocks into ``target``: block rows from ``first_row`` of a component."""
    top = max(replacement.row, first_row)
    bottom = min(replacement.row + replacement.blocks.shape[0], first_row + target.shape[0])
    if top >= bottom:
        return
    width = min(replacement.blocks.shape[1], target.shape[1] - replacement.column)
    rows = slice(top - replacement.row, bottom - replacement.row)
    where = replacement.touched[rows, :width]
    region = target[top - first_row : bottom - first_row, replacement.column : replacement.column + width]
    region[where] = replacement.blocks[rows, :width][where]


@functools.cache
def codec() -> Codec:
    """The fastest codec this machine has (the choice is logged once)."""
    # Linux's soname first: find_library spawns ldconfig (~0.15 s); it finds the library elsewhere (macOS).
    for name in _library_names():
        try:
            return TurboCodec(ctypes.CDLL(name))
        except OSError:
            continue
        except AttributeError as error:  # a library without the TurboJPEG 2 API
            log.warning("libturbojpeg found but not usable (%s); JPEG edits use jpeglib", error)
            return JpeglibCodec()
    log.info(
        "libturbojpeg is not installed: JPEG edits use jpeglib, about 4x slower "
        "(install libturbojpeg0 on Debian/Ubuntu, jpeg-turbo with Homebrew)"
    )
    return JpeglibCodec()


def _library_names() -> Iterator[str]:
    yield "libturbojpeg.so.0"
    found = ctypes.util.find_library("turbojpeg")
    if found:
        yield found


class _Region(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int), ("w", ctypes.c_int), ("h", ctypes.c_int)]


class _Transform(ctypes.Structure):
    pass


_FILTER = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_short),
    _Region,
    _Region,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(_Transform),
)
_Transform._fields_ = [
    ("r", _Region),
    ("op", ctypes.c_int),
    ("options", ctypes.c_int),
    ("data", ctypes.c_void_p),
    ("customFilter", _FILTER),
]
_NOOUTPUT, _COPYNONE = 16, 64  # TJXOPT_*: capture coefficients only; copy no markers (we put them back)


class TurboCodec:
    """TurboJPEG's lossless transform with a filter that sees each row of blocks between decode and encode."""

    name = "libturbojpeg"

    def __init__(self, lib: ctypes.CDLL) -> None:
        lib.tjInitTransform.restype = ctypes.c_void_p
        lib.tjDestroy.argtypes = [ctypes.c_void_p]
        lib.tjFree.argtypes = [ctypes.c_void_p]
        lib.tjGetErrorStr2.restype = ctypes.c_char_p
        lib.tjGetErrorStr2.argtypes = [ctypes.c_void_p]
        lib.tjTransform.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_int,
            ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)),
            ctypes.POINTER(ctypes.c_ulong),
            ctypes.POINTER(_Transform),
            ctypes.c_int,
        ]
        self._lib = lib

    def read(self, data: bytes) -> list[Any]:
        components: dict[int, Any] = {}

        def keep(row: Any, array: Any, plane: Any, component: int) -> None:
            if component not in components:
                components[component] = np.empty((plane.h // 8, plane.w // 8, 64), np.int16)
            components[component][array.y // 8] = row

        self._transform(data, keep, _NOOUTPUT | _COPYNONE)
        return [components[index] for index in sorted(components)]

    def rewrite(self, data: bytes, replacements: list[Replacement]) -> bytes:
        def edit(row: Any, array: Any, plane: Any, component: int) -> None:
            for replacement in replacements:
                if replacement.component == component:
                    put(row[np.newaxis], replacement, array.y // 8)

        return self._transform(data, edit, _COPYNONE)

    def _transform(self, data: bytes, visit: Any, options: int) -> bytes:
        """Run tjTransform with ``visit(row, arrayRegion, planeRegion, component)`` on each row of blocks."""
        failure: list[BaseException] = []

        def custom_filter(coeffs: Any, array: Any, plane: Any, component: int, _i: int, _t: Any) -> int:
            try:  # an exception must not cross into C: note it and make libjpeg stop
                visit(np.ctypeslib.as_array(coeffs, shape=(array.w // 8, 64)), array, plane, component)
                return 0
            except BaseException as error:
                failure.append(error)
                return -1

        transform = _Transform(options=options, customFilter=_FILTER(custom_filter))
        out, size = ctypes.POINTER(ctypes.c_ubyte)(), ctypes.c_ulong(0)
        handle = self._handle()
        try:
            status = self._lib.tjTransform(
                handle, data, len(data), 1, ctypes.byref(out), ctypes.byref(size), ctypes.byref(transform), 0
            )
            if failure:
                raise failure[0]
            if status != 0:
                raise RuntimeError(self._error(handle))
            return ctypes.string_at(out, size.value) if out else b""
        finally:
            if out:
                self._lib.tjFree(out)
            self._lib.tjDestroy(handle)

    def _handle(self) -> int:
        handle = self._lib.tjInitTransform()
        if not handle:
            raise RuntimeError("libturbojpeg could not start")
        return int(handle)

    def _error(self, handle: int) -> str:
        return str(self._lib.tjGetErrorStr2(handle).decode(errors="replace"))


class JpeglibCodec:
    """jpeglib: libjpeg's coefficient API through files (it reads and writes only paths)."""

    name = "jpeglib"
    _VERSION = "turbo210"  # of the builds jpeglib bundles, the fastest at reading and writing coefficients

    def read(self, data: bytes) -> list[Any]:
        jpeg = self._load(data)
        return [np.ascontiguousarray(c).reshape(*c.shape[:2], 64) for c in self._components(jpeg)]

    def rewrite(self, data: bytes, replacements: list[Replacement]) -> bytes:
        jpeg = self._load(data)
        names = ["Y", "Cb", "Cr"] if jpeg.has_chrominance else ["Y"]
        for index, name in enumerate(names):
            blocks = getattr(jpeg, name)
            flat = blocks.reshape(*blocks.shape[:2], 64)  # a view: the edit lands in jpeg's own array
            for replacement in replacements:
                if replacement.component == index:
                    put(flat, replacement)
        jpeg.content, jpeg.markers = None, []  # no source file: jpeglib would decode the original once more
        with tempfile.TemporaryDirectory(prefix="novita-jpeg-") as folder:
            path = os.path.join(folder, "edited.jpg")
            jpeg.write_dct(path)
            with open(path, "rb") as file:
                return file.read()

    def _load(self, data: bytes) -> Any:
        import jpeglib  # a 23 MB native library: load it only when it is the codec in use

        with _JPEGLIB_LOCK:  # the build is chosen process-wide: never swap it under a running edit
            if jpeglib.version.get() != self._VERSION:
                jpeglib.version.set(self._VERSION)
        with tempfile.TemporaryDirectory(prefix="novita-jpeg-") as folder:
            path = os.path.join(folder, "photo.jpg")
            with open(path, "wb") as file:
                file.write(data)
            jpeg = jpeglib.read_dct(path)
            jpeg.load()
        return jpeg

    @staticmethod
    def _components(jpeg: Any) -> list[Any]:
        return [jpeg.Y, jpeg.Cb, jpeg.Cr] if jpeg.has_chrominance else [jpeg.Y]
