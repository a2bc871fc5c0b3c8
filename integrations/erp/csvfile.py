"""A CSV export read as a stream of rows from a binary file object, never the whole file at once.

ERPs write CSV in whatever their locale and spreadsheet habits say: UTF-8 with or without a BOM, or Windows'
cp1252; `,` or `;` between values; CRLF or LF; quoted values spanning lines; empty lines at the end. This
reads all of them and refuses, with a sentence for people, what is not CSV text (an XLSX saved by mistake,
an image, a PDF). Rows come with the physical line they start on (the header is line 1), which is what an
operator finds when they open the file in an editor.
"""

import codecs
import csv
import itertools
import re
from collections.abc import Iterable, Iterator

from integrations.erp.errors import ErpFileError, NotCsvError

CHUNK = 64 * 1024  # bytes read at a time: a few chunks in memory whatever the file's size
# A "line" longer than this without a line break is a binary or a one-line dump, not an ERP export;
# refusing it keeps memory bounded where csv's own field limit (128 KB) would not (many fields).
MAX_LINE = 1024 * 1024
DELIMITERS = (",", ";")

# Magic numbers of what people upload instead of CSV, each with what to tell them.
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or OpenDocument .ods spreadsheet is one)"),
    (b"PK\x05\x06", "a ZIP archive (an Excel .xlsx or OpenDocument .ods spreadsheet is one)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel workbook (.xls)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip-compressed file"),
)
_SAVE_AS = "Export the sales orders from the ERP as CSV (or save the sheet as CSV) and upload that file."
_LINE_END = re.compile(r"\r\n|\r|\n")


def _keep_latin1(error):
    # cp1252 leaves five bytes undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D); latin-1 reads them as controls.
    return error.object[error.start:error.end].decode("latin-1"), error.end


codecs.register_error("aftercare-erp-latin1", _keep_latin1)


class _Decoder:
    """UTF-8 until a byte proves otherwise, then cp1252 (with latin-1 for its five holes).

    Only the start of the file is seen before rows flow, and a German export can be plain ASCII for
    thousands of lines before its first "Müller". While everything so far was ASCII the two encodings
    agree, so switching at the first byte that is not UTF-8 decodes the whole file right. A file that
    was UTF-8 (a BOM, or valid multi-byte characters) and later is not, is refused: it mixes encodings.
    """

    def __init__(self, head: bytes):
        self.encoding = "ascii"  # nothing told the two apart yet; read as UTF-8
        self._bom = head.startswith(codecs.BOM_UTF8)
        if self._bom:
            self.encoding = "utf-8-sig"
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    def decode(self, chunk: bytes, final: bool = False) -> str:
        if self._bom:
            chunk, self._bom = chunk[len(codecs.BOM_UTF8):], False
        if self.encoding == "cp1252":
            return chunk.decode("cp1252", errors="aftercare-erp-latin1")
        pending = self._utf8.getstate()[0]
        try:
            text = self._utf8.decode(chunk, final)
        except UnicodeDecodeError:
            if self.encoding != "ascii":
                raise ErpFileError("The file mixes encodings: it starts as UTF-8 and later has bytes that are not "
                                   "UTF-8. Export it again in one encoding (UTF-8).") from None
            self.encoding = "cp1252"
            return (pending + chunk).decode("cp1252", errors="aftercare-erp-latin1")
        if self.encoding == "ascii" and not text.isascii():
            self.encoding = "utf-8"
        return text


def _refuse_binary(head: bytes):
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise NotCsvError(f"This file is {what}, not a CSV file. {_SAVE_AS}")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise NotCsvError("This file is UTF-16 text (Excel's \"Unicode Text\"), not a CSV file. "
                          "Save it as \"CSV UTF-8\" and upload that file.")
    if b"\x00" in head:
        raise NotCsvError(f"This file holds binary data (NUL bytes), not CSV text. {_SAVE_AS}")


def _texts(fileobj, head: bytes, decoder: _Decoder) -> Iterator[str]:
    chunk = head
    while chunk:
        if b"\x00" in chunk:
            raise NotCsvError(f"This file holds binary data (NUL bytes) after its start, not CSV text. {_SAVE_AS}")
        following = fileobj.read(CHUNK)
        yield decoder.decode(chunk, final=not following)
        chunk = following


def _lines(texts: Iterable[str]) -> Iterator[str]:
    """Physical lines with their endings (CRLF, LF or a lone CR), as csv wants them."""
    rest = ""
    for text in texts:
        buffer, start = rest + text, 0
        for end in _LINE_END.finditer(buffer):
            if end.group() == "\r" and end.end() == len(buffer):
                break  # maybe the first half of a CRLF split between two chunks
            yield buffer[start:end.end()]
            start = end.end()
        rest = buffer[start:]
        if len(rest) > MAX_LINE:
            raise NotCsvError(f"This file has a line longer than {MAX_LINE // 1024} KB: it is not a CSV export. "
                              f"{_SAVE_AS}")
    if rest:
        yield rest


def _delimiter(line: str) -> str:
    """The delimiter of the header line: the one of `,` and `;` found most often outside quotes."""
    counts, quoted = dict.fromkeys(DELIMITERS, 0), False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # a tie keeps "," (first)
    if not counts[best]:
        shown = line.strip()[:80]
        raise NotCsvError(f"The header line has no comma or semicolon between column names, so this is not a CSV "
                          f"export (it starts with “{shown}”). {_SAVE_AS}")
    return best


def _header_names(cells: list[str]) -> list[str]:
    """Column names as written, trimmed; a blank one is named by its place, a repeated one numbered."""
    names, seen = [], {}
    for index, cell in enumerate(cells, 1):
        name = cell.strip() or f"Column {index}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return names


class CsvFile:
    """An open export: `headers`, `delimiter`, `encoding`, and its rows by iterating (once).

    Each row is (line, {header: value}). Missing trailing cells read as ""; cells beyond the header
    are kept as a list under the key None (as csv.DictReader does), for the caller to report. Blank
    lines, and lines of empty cells (spreadsheets write them at the end), are skipped.
    """

    def __init__(self, fileobj):
        head = fileobj.read(CHUNK)
        if isinstance(head, str):
            raise TypeError("open_csv reads bytes: open the file in binary mode ('rb')")
        if not head or not head.strip(b" \t\r\n\xef\xbb\xbf"):
            raise NotCsvError("The file is empty.")
        _refuse_binary(head)
        self._decoder = _Decoder(head)
        lines = _lines(_texts(fileobj, head, self._decoder))
        first, self._skipped = next(lines), 0
        while not first.strip():  # blank lines above the header
            first, self._skipped = next(lines, None), self._skipped + 1
            if first is None:
                raise NotCsvError("The file is empty.")
        self.delimiter = _delimiter(first)
        self._reader = csv.reader(itertools.chain([first], lines), delimiter=self.delimiter)
        self.header_line, cells = self._record()
        self.headers = _header_names(cells)

    @property
    def encoding(self) -> str:
        """utf-8-sig, utf-8, cp1252, or ascii (nothing outside ASCII seen); final once all rows are read."""
        return self._decoder.encoding

    def _record(self) -> tuple[int, list[str]] | None:
        start = self._skipped + self._reader.line_num + 1
        try:
            cells = next(self._reader, None)
        except csv.Error as error:
            raise ErpFileError(f"A quoted value starting here is never closed, or is too long ({error}). "
                               "Check the quotes in this line.", line=start) from None
        return None if cells is None else (start, cells)

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        headers, width = self.headers, len(self.headers)
        while (record := self._record()) is not None:
            line, cells = record
            if not (cells and (cells[0].strip() or "".join(cells).strip())):
                continue  # a blank line, or a line of empty cells
            row = dict(zip(headers, cells))
            if len(cells) < width:
                row.update(dict.fromkeys(headers[len(cells):], ""))
            elif len(cells) > width and any(cell.strip() for cell in cells[width:]):
                row[None] = cells[width:]
            yield line, row


def open_csv(fileobj) -> CsvFile:
    """Open a binary file object as a CSV export; raises NotCsvError / ErpFileError with a sentence."""
    return CsvFile(fileobj)
