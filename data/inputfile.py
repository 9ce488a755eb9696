"""Opening a user's input file safely: regular files only, bounded size, line-numbered decoding.

Every reader of a user's file (data CSV, moderators CSV, RevMan ``.rm5`` or RevMan Web CSV)
comes through here, so that a missing path, a directory, a symlink loop, a device such as
``/dev/zero`` or a FIFO (which would read forever or block), an oversized file or a gzip bomb
all end in one :class:`~vfsynth.data.errors.DataValidationError` line instead of a
traceback or a hang.
"""

from __future__ import annotations

import errno
import os
import stat
import zlib
from pathlib import Path

from vfsynth.data.errors import DataValidationError, Problem

#: Largest input file read (bytes). Real reviews are kilobytes; Cochrane's largest RevMan files
#: are a few MB. The cap keeps a mistaken path (a disk image, a log) from exhausting memory.
MAX_INPUT_BYTES = 256 * 1024 * 1024

#: Largest size a gzipped ``.rm5`` may decompress to (bytes). Deflate reaches ~1000:1, so a
#: small file can otherwise expand to gigabytes (a "zip bomb").
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024


def _fail(path: str | os.PathLike, message: str) -> DataValidationError:
    return DataValidationError([Problem(None, None, None, message)], str(path))


def check_input_path(path: str | os.PathLike) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` if it names a readable regular file.

    Raises
    ------
    DataValidationError
        One file-level problem: not found, a directory, not a regular file (device, FIFO,
        socket), a symlink loop, or not readable.
    """
    p = Path(path)
    try:
        st = os.stat(p)  # follows symlinks; a loop raises ELOOP
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _fail(path, "symbolic link loop (the link points back to itself)") from None
        raise _fail(path, f"cannot open: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(path, "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        # A FIFO blocks until a writer appears and /dev/zero never ends: refuse before opening.
        raise _fail(path, "not a regular file (a device, pipe or socket); give a file on disk")
    if st.st_size > MAX_INPUT_BYTES:
        raise _fail(path, f"file is {st.st_size} bytes; the limit is {MAX_INPUT_BYTES} bytes")
    if not os.access(p, os.R_OK):
        raise _fail(path, "permission denied (the file is not readable)")
    return p


def read_input_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a user's input file, after :func:`check_input_path`."""
    p = check_input_path(path)
    try:
        with open(p, "rb") as fh:
            # Read one byte past the cap: a file that grew after stat() is still bounded.
            raw = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise _fail(path, f"file is larger than the limit of {MAX_INPUT_BYTES} bytes")
    return raw


def gunzip_capped(raw: bytes, path: str | os.PathLike, limit: int | None = None) -> bytes:
    """Decompress gzip data, refusing output larger than ``limit`` bytes (default
    :data:`MAX_DECOMPRESSED_BYTES`) or a corrupt stream."""
    limit = MAX_DECOMPRESSED_BYTES if limit is None else limit
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise _fail(path, f"corrupt gzip data: {exc}") from None
    if len(out) > limit:
        raise _fail(path, f"gzip data expands to more than {limit} bytes; refused (limit)")
    return out


def decode_text(raw: bytes, path: str | os.PathLike) -> str:
    """Decode UTF-8 (BOM allowed); a bad byte is reported by file line and column, not offset."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        hint = " (Latin-1 / Windows-1252? save the file as UTF-8)" if 0x80 <= raw[exc.start] <= 0xFF else ""
        raise DataValidationError(
            [Problem(line, None, None,
                     f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at character {col} of the line{hint}")],
            str(path),
        ) from None


def read_input_text(path: str | os.PathLike) -> str:
    """Checked, bounded, line-numbered UTF-8 read of a user's text file."""
    return decode_text(read_input_bytes(path), path)
