"""A ``joblib.dump`` file loaded in one pass over its bytes, verified before anything runs.

joblib keeps numpy arrays outside the pickle stream: right after the opcode that
builds a ``NumpyArrayWrapper`` come the array's raw bytes. Loading a verified private
copy with ``joblib.load`` reads every byte twice (into the copy while hashing, then
out of it into each array). Here the file is read once:

1. *Scan*: the C unpickler walks the stream with every global replaced by an inert
   stand-in, so nothing of the file runs (no module is imported, no function of the
   file called). When it builds an array wrapper, the array's bytes go from the file
   straight into a new numpy array of the wrapper's dtype; every other byte is kept
   (the stream without its arrays: small). Every byte is hashed as it is read.
2. *Verify*: the rest of the file is hashed; size and sha256 must match the record.
3. *Build*: joblib's own unpickler runs over the kept bytes (the bytes verified), and
   each wrapper it builds takes the next array read in step 1 (also verified bytes).

Files compressed with zlib (``compress=N``, joblib's default method) or gzip are
inflated on the way, hashed as the compressed bytes they are on disk. A file the scan
does not take (another compressor, an old joblib layout, a dtype it cannot size, a
large in-stream payload) gives :data:`UNREAD`: the caller loads it the general way,
from a verified private copy.
"""

from __future__ import annotations

import io
import math
import pickle
import re
import sys
from typing import Any

from ..errors import IntegrityError, NBModelsError
from .base import ArtifactSource, VerifyingStream

__all__ = ["UNREAD", "load_joblib_stream"]

UNREAD = object()  # returned when the file must be loaded the general way

_DTYPE = re.compile(r"([biufcmMVSU])(\d+)")  # numbers, times, bytes, text, records
# Kept (non-array) bytes beyond this make the general path cheaper in memory.
_KEEP_LIMIT = 32 << 20


class _Unsupported(Exception):
    """The scan met something it does not read; load the file the general way."""


class _Inert:
    """Stands for every object of the file during the scan: built, called, filled,
    and never anything else."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _Inert:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def add(self, item: Any) -> None:
        pass


class _Ndarray(_Inert):
    """``numpy.ndarray`` as a wrapper's ``subclass``."""


class _Memmap(_Inert):
    """``numpy.memmap`` as a wrapper's ``subclass``."""


class _Dtype(_Inert):
    """``numpy.dtype(...)`` with its state, kept as data: the scan needs only the item
    size (the dtype itself is built by numpy in step 3, from verified bytes)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def itemsize(self) -> int | None:
        """Bytes per item; ``None`` when items are Python objects (a nested pickle)."""
        state = self.state
        if (len(self.args) != 3 or not isinstance(self.args[0], str)
                or not isinstance(state, tuple) or len(state) not in (8, 9)
                or state[0] not in (3, 4)
                or type(state[5]) is not int or type(state[7]) is not int):
            raise _Unsupported("dtype")
        if state[7] & 1:  # NPY_ITEM_HASOBJECT: joblib pickles such arrays
            return None
        match = _DTYPE.fullmatch(self.args[0])
        if match is None:
            raise _Unsupported("dtype")
        size = state[5] if state[5] > 0 else int(match.group(2))
        if size <= 0:
            raise _Unsupported("dtype")
        return size


class _Recorder:
    """The file as the scan's unpickler sees it: every byte it reads is kept."""

    def __init__(self, stream: VerifyingStream) -> None:
        self.stream = stream
        self.kept = bytearray()

    def _keep(self, data: Any) -> None:
        self.kept += data
        if len(self.kept) > _KEEP_LIMIT:
            raise _Unsupported("large in-stream payload")

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self._keep(data)
        return data

    def readline(self) -> bytes:
        data = self.stream.readline()
        self._keep(data)
        return data

    def readinto(self, b: Any) -> int:
        n = self.stream.readinto(b)
        with memoryview(b) as view:
            self._keep(view[:n])
        return n


class _Inflated:
    """The decompressed bytes of a zlib or gzip stream (``joblib.dump(...,
    compress=N)`` or ``("gzip", N)``), read from a :class:`VerifyingStream`, which
    hashes the compressed bytes as they come. Never more than :data:`_RATIO` times
    the compressed size (zlib's own bound), so a changed file cannot inflate without
    limit before the hash check."""

    _RATIO = 1032
    _OUT = 4 << 20

    def __init__(self, stream: VerifyingStream, wbits: int) -> None:
        import zlib

        self.stream = stream
        self._z = zlib.decompressobj(wbits)
        self._buf = b""
        self._pos = 0
        self._budget = self._RATIO * stream.remaining

    @property
    def remaining(self) -> int:
        """An upper bound on the decompressed bytes still to come."""
        return self._budget + len(self._buf) - self._pos

    def _more(self) -> bool:
        if self._z.eof:
            return False
        tail = self._z.unconsumed_tail
        raw = tail or self.stream.read(1 << 20)
        if not raw:
            return False
        data = self._z.decompress(raw, self._OUT)
        self._budget -= len(data)
        if self._budget < 0:
            raise _Unsupported("inflates past zlib's bound")
        self._buf = self._buf[self._pos:] + data
        self._pos = 0
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            while self._more():
                pass
            n = len(self._buf) - self._pos
        while len(self._buf) - self._pos < n and self._more():
            pass
        data = self._buf[self._pos:self._pos + n]
        self._pos += len(data)
        return data

    def readline(self) -> bytes:
        while (end := self._buf.find(b"\n", self._pos)) < 0:
            if not self._more():
                return self.read(len(self._buf) - self._pos)
        return self.read(end + 1 - self._pos)

    def readinto(self, b: Any) -> int:
        with memoryview(b) as outer, outer.cast("B") as view:
            done = 0
            while done < view.nbytes:
                if self._pos == len(self._buf) and not self._more():
                    break
                take = min(view.nbytes - done, len(self._buf) - self._pos)
                view[done:done + take] = self._buf[self._pos:self._pos + take]
                self._pos += take
                done += take
            return done

    readinto_kept = readinto  # the hash is of the compressed bytes: any buffer will do


class _ArrayProbe(_Inert):
    """``NumpyArrayWrapper`` during the scan: its BUILD reads the array's bytes."""

    scan: _Scan

    def __setstate__(self, state: Any) -> None:
        self.scan.read_array(state)


class _Scan(pickle.Unpickler):
    """Step 1: walk the stream without running it, reading arrays into place."""

    def __init__(self, recorder: _Recorder, arrays: list[Any]) -> None:
        super().__init__(recorder)
        self.recorder = recorder
        self.arrays = arrays
        self.probe = type("NumpyArrayWrapper", (_ArrayProbe,), {"scan": self})

    def find_class(self, module: str, name: str) -> Any:
        if module == "joblib.numpy_pickle" and name == "NumpyArrayWrapper":
            return self.probe
        if module.startswith("joblib.") and "Wrapper" in name:
            raise _Unsupported("old joblib layout")  # NDArrayWrapper, ZNDArrayWrapper
        if module == "numpy":
            known = {"dtype": _Dtype, "ndarray": _Ndarray, "memmap": _Memmap}
            if name in known:
                return known[name]
        return _Inert

    def persistent_load(self, pid: Any) -> Any:
        raise _Unsupported("persistent ids")

    def read_array(self, state: Any) -> None:
        import numpy as np

        if not isinstance(state, dict) or state.get("subclass") not in (_Ndarray, _Memmap) \
                or state.get("order") not in ("C", "F"):
            raise _Unsupported("array wrapper")
        shape = state.get("shape")
        if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
            raise _Unsupported("shape")
        dtype = state.get("dtype")
        if not isinstance(dtype, _Dtype):
            raise _Unsupported("dtype")
        itemsize = dtype.itemsize()
        if itemsize is None:  # an object array: a nested pickle stream, kept for step 3
            self.arrays.append(None)
            _Scan(self.recorder, self.arrays).load()
            return
        stream = self.recorder.stream
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = stream.read(1)
            if len(padding) != 1 or len(stream.read(padding[0])) != padding[0]:
                raise _Unsupported("truncated")
        nbytes = math.prod(shape) * itemsize
        if nbytes > stream.remaining:
            raise _Unsupported("truncated")
        array = np.empty(nbytes, dtype=np.uint8)  # typed in step 3, by numpy
        if stream.readinto_kept(array) != nbytes:  # the array lives on: no copy
            raise _Unsupported("truncated")
        self.arrays.append(array)


def _replay(kept: bytes, arrays: list[Any]) -> Any:
    """Step 3: joblib's unpickler over the verified kept bytes and arrays."""
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

    class Replay(NumpyUnpickler):
        dispatch = NumpyUnpickler.dispatch.copy()

        def load_build(self) -> None:
            super(NumpyUnpickler, self).load_build()  # the plain BUILD
            wrapper = self.stack[-1]
            if not isinstance(wrapper, NumpyArrayWrapper):
                if type(wrapper).__name__ == "NDArrayWrapper":
                    raise _mismatch()
                return
            if not pending:
                raise _mismatch()
            array = pending.pop()
            if array is None:  # object array: its nested stream is in the kept bytes
                self.stack[-1] = wrapper.read(self, self.ensure_native_byte_order)
                return
            shape = tuple(wrapper.shape)
            if array.nbytes != math.prod(shape) * wrapper.dtype.itemsize:
                raise _mismatch()
            array = array.view(wrapper.dtype)
            array = array.reshape(shape[::-1]).T if wrapper.order == "F" \
                else array.reshape(shape)
            if self.ensure_native_byte_order:
                array = _native(array)
            self.stack[-1] = array

        dispatch[pickle.BUILD[0]] = load_build

    pending = arrays[::-1]
    arrays.clear()  # each array is referenced once, by the model
    model = Replay("", io.BytesIO(kept), True).load()
    if pending:
        raise _mismatch()
    return model


def _native(array: Any) -> Any:
    """``array`` in this machine's byte order, as ``joblib.load`` gives it: a foreign
    order (of the dtype, or of every field of a record) is swapped, values kept."""
    foreign = ">" if sys.byteorder == "little" else "<"
    dtype = array.dtype
    fields = [f[0].byteorder for f in (dtype.fields or {}).values()]
    if dtype.byteorder == foreign or (dtype.byteorder == "|" and fields
                                      and all(order == foreign for order in fields)):
        return array.byteswap().view(dtype.newbyteorder("="))
    return array


def _mismatch() -> NBModelsError:
    return NBModelsError("this joblib file's arrays did not line up in a one-pass load; "
                         "load it with joblib.load(path) and save it again with the store")


def load_joblib_stream(source: ArtifactSource, name: str) -> Any:
    """The object in the ``joblib.dump`` file ``name``, read in one pass and verified
    before any of it is unpickled; :data:`UNREAD` if the file needs the general path."""
    with source.open_stream(name) as stream:
        if stream is None:
            return UNREAD
        first = stream.peek(2)
        if first[:1] == b"\x80":  # a pickle stream, protocol >= 2
            source_bytes: Any = stream
        elif first[:1] == b"x":  # joblib's zlib (compress=N)
            source_bytes = _Inflated(stream, 15)
        elif first == b"\x1f\x8b":  # joblib's gzip
            source_bytes = _Inflated(stream, 31)
        else:  # another compressor, or an old joblib layout
            return UNREAD
        arrays: list[Any] = []
        recorder = _Recorder(source_bytes)
        scan = _Scan(recorder, arrays)
        try:
            # Bytes that are not what the record says may not parse: the general path
            # then reports them. Nothing here ran code of the file.
            scan.load()
        except _Unsupported:
            return UNREAD
        except IntegrityError:
            raise
        except Exception:
            return UNREAD
        stream.verify()
        kept = bytes(recorder.kept)
    return _replay(kept, arrays)

