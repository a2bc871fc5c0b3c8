"""What can go wrong reading an export, in two sizes: the whole file, or one row.

A file that cannot be read at all (not CSV, a required column missing) raises ErpFileError, so nothing of
it is imported; a bad value in one row is a RowError item among the orders, so its neighbours still are.
Both carry a sentence meant for the operator who uploaded the file.
"""

from dataclasses import dataclass


class ErpFileError(ValueError):
    """The file is refused as a whole. `line` is the physical line to blame, when there is one."""

    def __init__(self, message: str, line: int | None = None):
        self.message, self.line = message, line
        super().__init__(message if line is None else f"line {line}: {message}")


class NotCsvError(ErpFileError):
    """The file is not CSV text at all: a spreadsheet, an image, a PDF, binary bytes."""


class ColumnsError(ErpFileError):
    """Required columns are missing: names the profile (None: none matched), what it expects, what the file has."""

    def __init__(self, message: str, *, profile: str | None, missing: list[str], expected: list[str], found: list[str]):
        self.profile, self.missing, self.expected, self.found = profile, missing, expected, found
        super().__init__(message, line=1)


@dataclass(frozen=True)
class RowError:
    """One bad value (or row): its physical line, the column as the file names it, the value, a sentence."""

    line: int
    column: str | None  # None when the row as a whole is wrong (more cells than the header has columns)
    value: str
    message: str
