"""Reading a CSV export: encodings, delimiters, line endings, line numbers, and refusing what is not CSV."""

import io

import pytest

from integrations.erp.csvfile import CHUNK, open_csv
from integrations.erp.errors import ErpFileError, NotCsvError


def rows(data: bytes):
    return list(open_csv(io.BytesIO(data)))


def test_utf8_with_a_bom_reads_the_first_header_without_it():
    export = open_csv(io.BytesIO("\ufeffOrder Number,Customer\n1042,Zoë\n".encode()))

    assert export.headers == ["Order Number", "Customer"]
    assert list(export) == [(2, {"Order Number": "1042", "Customer": "Zoë"})]
    assert export.encoding == "utf-8-sig"


def test_utf8_without_a_bom():
    export = open_csv(io.BytesIO("a,b\n1,Zoë\n".encode()))

    assert list(export) == [(2, {"a": "1", "b": "Zoë"})]
    assert export.encoding == "utf-8"


def test_cp1252_is_read_when_the_bytes_are_not_utf8():
    export = open_csv(io.BytesIO("Kunde;Betrag\nMüller;1.234,50 €\n".encode("cp1252")))

    assert list(export) == [(2, {"Kunde": "Müller", "Betrag": "1.234,50 €"})]
    assert export.encoding == "cp1252"


def test_cp1252_first_seen_far_into_the_file_still_decodes_the_whole_file():
    # Thousands of ASCII lines before the first umlaut: the start alone cannot tell the encoding.
    data = ("name,n\n" + "plain,1\n" * 20_000 + "Müller,2\n").encode("cp1252")
    assert len(data) > 2 * CHUNK

    read = rows(data)

    assert read[-1] == (20_002, {"name": "Müller", "n": "2"})


def test_bytes_cp1252_leaves_undefined_read_as_latin1():
    assert rows(b"a,b\n\x81x,\xe9\n") == [(2, {"a": "\x81x", "b": "é"})]


def test_a_utf8_file_that_turns_into_something_else_is_refused():
    data = ("a,b\nZoë,1\n" + "x,1\n" * 20_000).encode() + b"\xfc,2\n"

    with pytest.raises(ErpFileError, match="mixes encodings"):
        rows(data)


def test_semicolon_delimiter_is_detected_from_the_header():
    export = open_csv(io.BytesIO(b"Order Number;Total;Note\n1042;1.234,50;a, b\n"))

    assert export.delimiter == ";"
    assert list(export) == [(2, {"Order Number": "1042", "Total": "1.234,50", "Note": "a, b"})]


def test_comma_delimiter_wins_over_semicolons_inside_quoted_headers():
    export = open_csv(io.BytesIO(b'"a;b",c,d\n1,2,3\n'))

    assert export.delimiter == ","
    assert export.headers == ["a;b", "c", "d"]


def test_quoted_newlines_stay_in_the_value_and_line_numbers_count_physical_lines():
    data = b'id,note\r\n1,"two\r\nlines"\r\n2,"three\nmore\nlines"\r\n3,plain\r\n'

    assert rows(data) == [(2, {"id": "1", "note": "two\r\nlines"}),
                          (4, {"id": "2", "note": "three\nmore\nlines"}),
                          (7, {"id": "3", "note": "plain"})]


def test_crlf_lf_and_lone_cr_line_endings():
    assert rows(b"a,b\r\n1,2\r\n3,4\n5,6\r7,8") == [
        (2, {"a": "1", "b": "2"}), (3, {"a": "3", "b": "4"}), (4, {"a": "5", "b": "6"}), (5, {"a": "7", "b": "8"})]


def test_a_crlf_split_between_two_chunks_is_one_line_ending():
    head = b"a,b\r\n"
    filler = b"x," + b"y" * (CHUNK - len(head) - 3) + b"\r"  # the chunk ends between \r and \n
    data = head + filler + b"\n1,2\r\n"
    assert len(head + filler) == CHUNK

    assert [line for line, _ in rows(data)] == [2, 3]


def test_trailing_empty_lines_and_rows_of_empty_cells_are_skipped():
    data = b"a,b\r\n1,2\r\n\r\n,\r\n3,4\r\n\r\n\r\n,,\r\n  ,\r\n"

    assert rows(data) == [(2, {"a": "1", "b": "2"}), (5, {"a": "3", "b": "4"})]


def test_short_rows_read_missing_cells_as_empty_and_extra_cells_are_kept_aside():
    assert rows(b"a,b,c\n1\n1,2,3,4,\n1,2,3,,\n") == [
        (2, {"a": "1", "b": "", "c": ""}),
        (3, {"a": "1", "b": "2", "c": "3", None: ["4", ""]}),
        (4, {"a": "1", "b": "2", "c": "3"})]  # empty cells beyond the header are no data


def test_blank_and_repeated_header_names_are_told_apart():
    assert open_csv(io.BytesIO(b" Status ,,Status,\n")).headers == ["Status", "Column 2", "Status (2)", "Column 4"]


def test_blank_lines_above_the_header_keep_line_numbers_physical():
    export = open_csv(io.BytesIO(b"\n\na,b\n1,2\n"))

    assert export.header_line == 3
    assert list(export) == [(4, {"a": "1", "b": "2"})]


@pytest.mark.parametrize(("data", "said"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00[Content_Types].xml", "Excel .xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "old Excel workbook"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
    (b"\x1f\x8b\x08\x00", "gzip"),
    ("a,b\n1,2\n".encode("utf-16"), "UTF-16"),
    (b"a,b\n1,\x002\n", "NUL bytes"),
])
def test_a_file_that_is_not_csv_is_refused_with_a_sentence(data, said):
    with pytest.raises(NotCsvError) as refused:
        rows(data)

    assert said in refused.value.message
    assert refused.value.message.endswith(".")


def test_nul_bytes_after_the_first_chunk_are_refused_too():
    data = b"a,b\n" + b"1,2\n" * (CHUNK // 4 + 10) + b"3,\x00\n"

    with pytest.raises(NotCsvError, match="NUL bytes"):
        rows(data)


@pytest.mark.parametrize("data", [b"just some text\nwith lines\n", b"Order Number\n1042\n", b"a\tb\n1\t2\n"])
def test_a_header_without_comma_or_semicolon_is_not_csv(data):
    with pytest.raises(NotCsvError, match="no comma or semicolon"):
        rows(data)


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n  \n", b"\xef\xbb\xbf"])
def test_an_empty_file_is_refused(data):
    with pytest.raises(NotCsvError, match="The file is empty"):
        rows(data)


def test_a_quote_never_closed_is_refused_naming_the_line_it_opens_on():
    data = b'a,b\n1,2\n3,"never closed\n' + b"x,y\n" * 40_000

    with pytest.raises(ErpFileError) as refused:
        rows(data)

    assert refused.value.line == 3
    assert "never closed" in refused.value.message


def test_a_file_without_line_breaks_is_refused_before_it_fills_memory():
    data = b"a,b\n" + b"x" * (3 * 1024 * 1024)

    with pytest.raises(NotCsvError, match="longer than"):
        rows(data)
