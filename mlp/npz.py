"""Reading `.npz` archives without trusting them: hostile files cost little memory and time.

An `.npz` is a zip of `.npy` members, and every size in it can lie: the zip directory, the
`.npy` header's shape, the compressed stream. So, before any array data is read, each member
must be named `<name>.npy`, carry a parseable `.npy` header with a plain number or string
dtype (never object: nothing is unpickled), and declare exactly as many bytes in that header
(shape x itemsize) as the zip directory says it holds. The whole archive may then declare at
most `MAX_INFLATION` times its size on disk plus `SLACK_BYTES`: weights are float noise that
compresses by a few percent at most, so only a zip bomb gets near that bound, and the memory a
file can cost stays proportional to the disk it takes. Arrays are read on demand, into buffers
of the size just checked, by a reader that stops there whatever the stream holds.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

MAX_INFLATION = 20  # declared bytes per byte on disk; real weights stay near 1
SLACK_BYTES = 1 << 20  # small files with all-zero biases compress far better: allow 1 MiB
_CHUNK = 1 << 20  # bytes decompressed at a time
_MEMBER = re.compile(r"^([A-Za-z0-9_.]+)\.npy$")
_KINDS = "biufU"  # bool, integers, floats, unicode strings: nothing else is ever stored
# Everything zipfile and numpy's header parser raise on damaged or unsupported data.
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    TypeError,
    OverflowError,
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
)


class NpzError(ValueError):
    """An archive that cannot be read safely; str(err) is one line naming the file and member."""


@dataclass(frozen=True)
class Member:
    """One array of an archive as its header declares it; no data has been read."""

    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    header_bytes: int

    @property
    def ndim(self) -> int:
        """Number of dimensions, as for an array."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements, as for an array (a Python int: it cannot overflow)."""
        return math.prod(self.shape)


class Archive:
    """An open `.npz` whose members' headers have all been checked; arrays are read on demand."""

    def __init__(self, path: str | Path, data: bytes | None = None) -> None:
        """Open `path`, or read the archive from `data` (its bytes, already read by a caller
        that checked them) and name `path` in messages."""
        self.path = Path(path)
        if data is None:
            self._file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            self._disk_bytes = self.path.stat().st_size
        else:
            self._file = io.BytesIO(data)
            self._disk_bytes = len(data)
        try:
            self._zip = zipfile.ZipFile(self._file)
            self.members = self._check_members()
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive and its file."""
        self._zip.close()
        self._file.close()

    def _fail(self, name: str, problem: str) -> NpzError:
        return NpzError(f"{self.path}: member {name}: {problem}")

    def _check_members(self) -> dict[str, Member]:
        # The directory alone first: names, and the total it declares against the file's size.
        infos: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            match = _MEMBER.match(info.filename)
            if match is None:
                raise self._fail(info.filename, "not an .npy array (refused)")
            if match.group(1) in infos:
                raise self._fail(info.filename, "appears twice")
            infos[match.group(1)] = info
        declared = sum(info.file_size for info in infos.values())
        disk = self._disk_bytes
        if declared > MAX_INFLATION * disk + SLACK_BYTES:
            raise NpzError(
                f"{self.path}: declares {declared} bytes of arrays in {disk} bytes on disk, "
                f"more than {MAX_INFLATION} times its size; refused as a zip bomb"
            )
        # Then each member's .npy header, a few hundred bytes into its data.
        return {name: self._member(info) for name, info in infos.items()}

    def _member(self, info: zipfile.ZipInfo) -> Member:
        name = info.filename
        try:
            with self._zip.open(info) as file:
                version = npy.read_magic(file)
                if version == (1, 0):
                    shape, fortran_order, dtype = npy.read_array_header_1_0(file)
                elif version == (2, 0):
                    shape, fortran_order, dtype = npy.read_array_header_2_0(file)
                else:
                    raise self._fail(name, f"unsupported .npy format version {version}")
                header_bytes = file.tell()
        except NpzError:
            raise
        except _READ_ERRORS as err:
            raise self._fail(name, f"not a readable .npy array ({_one_line(err)})") from None
        if dtype.hasobject:
            raise self._fail(name, "holds pickled data or object arrays; refused")
        if dtype.kind not in _KINDS:
            raise self._fail(name, f"dtype {dtype} is not a plain number or string type")
        if any(n < 0 for n in shape):
            raise self._fail(name, f"negative shape {shape}")
        member = Member(info, tuple(shape), dtype, bool(fortran_order), header_bytes)
        data_bytes = member.size * dtype.itemsize
        if header_bytes + data_bytes != info.file_size:
            raise self._fail(
                name,
                f"its header declares shape {member.shape} of {dtype} ({data_bytes} bytes) "
                f"but it holds {info.file_size - header_bytes} bytes",
            )
        return member

    def read(self, name: str) -> np.ndarray:
        """The member's array, read into a buffer of the checked size and no further."""
        member = self.members[name]
        try:
            flat = np.empty(member.size, dtype=member.dtype)
        except MemoryError:  # within the bound on disk, yet more than this machine has
            nbytes = member.size * member.dtype.itemsize
            raise self._fail(member.info.filename, f"{nbytes} bytes do not fit in memory") from None
        buffer = memoryview(flat.view(np.uint8)) if flat.nbytes else memoryview(b"")
        try:
            with self._zip.open(member.info) as file:
                file.read(member.header_bytes)
                done = 0
                while done < len(buffer):
                    count = file.readinto(buffer[done : done + _CHUNK])
                    if not count:
                        raise self._fail(member.info.filename, "ends before its data does")
                    done += count
                file.read(1)  # reach the end, where zipfile checks the CRC
        except NpzError:
            raise
        except _READ_ERRORS as err:
            raise self._fail(member.info.filename, f"damaged ({_one_line(err)})") from None
        if not flat.dtype.isnative:  # written on a machine of the other byte order
            flat = flat.byteswap(inplace=True).view(flat.dtype.newbyteorder("="))
        return flat.reshape(member.shape, order="F" if member.fortran_order else "C")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
