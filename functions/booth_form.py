"""The booth's multipart form, read in memory as it streams in.

Starlette's `request.form()` spools every file part to a SpooledTemporaryFile: past 1 MB
each 64 KB chunk is written to disk on the thread pool (a 10 MB DSLR shot: ~150 thread
hops, a temp file, then read back into memory), and below it the bytes are copied into a
BytesIO and copied out again. The pipeline needs the photo as bytes anyway, so here the
file's chunks are kept as they arrive and joined once: one copy, no disk, no thread.

The size of the whole body is bounded before this runs (functions/body_limits.py refuses
an oversized body while it streams), so memory is bounded by that limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from shared.errors import InvalidInput, UnsupportedMedia

PHOTO_FIELD = "fileToUpload"
PASSWORD_FIELD = "password"
# A booth sends one file and about ten short fields; anything far beyond is not a booth.
MAX_FILES = 4
MAX_FIELDS = 64
MAX_FIELD_BYTES = 64 * 1024


@dataclass
class BoothForm:
    fields: dict[str, str] = field(default_factory=dict)
    photo: bytes | None = None


class _Malformed(Exception):
    pass


async def read_booth_form(
    request: Request, *, on_password: Callable[[str], Awaitable[None]] | None = None,
    into: BoothForm | None = None,
) -> BoothForm:
    """The text fields and the `fileToUpload` bytes (the last of each name, as Starlette's
    form would have it). `on_password` is awaited with the `password` field as soon as that
    part has been read; what it raises (a wrong password) stops the read there. `into`: the
    form to fill, so a caller still has the fields read before a refusal (the booth's trace).

    UnsupportedMedia when the body is not multipart/form-data; InvalidInput when it is
    malformed or not shaped like a booth's form."""
    content_type = request.headers.get("content-type", "")
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise UnsupportedMedia("send the photo as multipart/form-data (field fileToUpload)")
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInput("malformed multipart body: no boundary")
    reader = _FormReader(into)
    try:
        parser = MultipartParser(boundary, reader.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
            if reader.password is not None and on_password is not None:
                password, reader.password = reader.password, None
                await on_password(password)
        parser.finalize()
    except (FormParserError, _Malformed, ValueError) as exc:
        raise InvalidInput(f"malformed multipart body: {exc}") from None
    if not reader.ended:
        raise InvalidInput("malformed multipart body: it ends before its closing boundary")
    return reader.form


class _FormReader:
    """python-multipart's callbacks, collecting one booth form."""

    def __init__(self, form: BoothForm | None = None) -> None:
        self.form = form if form is not None else BoothForm()
        self.password: str | None = None  # the password field, once read, until taken
        self.ended = False
        self._files = self._fields = 0
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._name: str | None = None
        self._is_file = False
        self._chunks: list[bytes] = []
        self._size = 0

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_part,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._disposition, self._name, self._is_file = b"", None, False
        self._chunks, self._size = [], 0

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise _Malformed('a part has no Content-Disposition "name"')
        self._name = options[b"name"].decode("utf-8", "replace")
        self._is_file = b"filename" in options
        if self._is_file:
            self._files += 1
            if self._files > MAX_FILES:
                raise _Malformed(f"more than {MAX_FILES} files")
        else:
            self._fields += 1
            if self._fields > MAX_FIELDS:
                raise _Malformed(f"more than {MAX_FIELDS} fields")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        # Slicing a whole bytes object returns the object itself: most chunks cost no copy.
        piece = data[start:end]
        self._size += len(piece)
        if not self._is_file:
            if self._size > MAX_FIELD_BYTES:
                raise _Malformed(f"field {self._name!r} is longer than {MAX_FIELD_BYTES // 1024} KB")
        elif self._name != PHOTO_FIELD:
            return  # a file the booth form does not have: counted, not kept
        self._chunks.append(piece)

    def _part_end(self) -> None:
        name = self._name or ""
        if self._is_file:
            if name == PHOTO_FIELD:
                self.form.photo = b"".join(self._chunks)
        else:
            self.form.fields[name] = b"".join(self._chunks).decode("utf-8", "replace")
            if name == PASSWORD_FIELD:
                self.password = self.form.fields[name]
        self._chunks = []

    def _end(self) -> None:
        self.ended = True
