"""Reading uploaded tables: type sniffing, encoding detection (UTF-8 with or without BOM, GBK/GB18030),
streaming rows from CSV, from XLSX (tracker.excel.xlsx_reader) and from old .xls (python-calamine)."""

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _

from tracker.core.errors import ValidationFailed

SAMPLE_BYTES = 1 << 20
csv.field_size_limit(10 * 1024 * 1024)


@dataclass
class Table:
    """An open table: use it as a context manager so that its file is closed."""

    kind: str  # "csv" or "xlsx"
    headers: list[str]
    rows: Iterator[list]  # data rows after the header, as lists aligned with headers
    counter: Callable[[], int]  # reads the file again: only called when the count is wanted
    encoding: str | None = None
    closer: Callable[[], None] | None = None

    @property
    def estimated_rows(self) -> int:
        """Data rows after the header. Exact for CSV (parsed: a line break inside a quoted cell is part
        of the cell, and rows with nothing in them do not count); the sheet's height for XLSX."""
        return self.counter()

    def close(self):
        if self.closer is not None:
            self.closer()
            self.closer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sniff(path: Path) -> str:
    """'xlsx' or 'csv'; raises ValidationFailed for anything else (a renamed PDF, an image, empty)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        raise ValidationFailed(_("文件是空的。"))
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if head.startswith((b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"MZ", b"\x7fELF")) or b"\x00" in head:
        raise ValidationFailed(_("这不是 CSV 或 Excel 文件，请上传 .csv 或 .xlsx。"))
    return "csv"


def detect_encoding(path: Path) -> str:
    """'utf-8-sig' when the start of the file is valid UTF-8, else 'gb18030' (what Excel in China
    saves as "CSV"); raises ValidationFailed when neither fits."""
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(sample, final=len(sample) < SAMPLE_BYTES)
            return encoding
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(_("无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV。"))


def _count_csv_rows(path: Path, encoding: str) -> int:
    """Records after the header that hold anything, as csv parses them (not lines)."""
    count = 0
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        try:
            next(reader, None)
            for row in reader:
                if any(cell.strip() for cell in row):
                    count += 1
        except csv.Error:
            pass  # the import itself reports what is wrong with the file
    return count


def _clean_header(value) -> str:
    return str(value if value is not None else "").strip().lstrip("\ufeff")


def open_table(path: Path, sheet: str | None = None) -> Table:
    """Open PATH and read its header row. Rows stream; nothing but the header is read here (an .xlsx
    with tracker.excel.xlsx_reader: the first sheet, or the one named SHEET)."""
    path = Path(path)
    kind = sniff(path)
    if kind == "csv":
        encoding = detect_encoding(path)
        fh = open(path, encoding=encoding, newline="")  # noqa: SIM115 - closed by the generator
        reader = csv.reader(fh)
        try:
            headers = [_clean_header(h) for h in next(reader)]
        except StopIteration:
            fh.close()
            raise ValidationFailed(_("文件是空的。")) from None
        except (UnicodeDecodeError, csv.Error) as error:
            fh.close()
            raise ValidationFailed(_("无法读取 CSV 表头：%(e)s", e=str(error)[:100])) from None

        def rows():
            try:
                yield from reader
            except UnicodeDecodeError:
                raise ValidationFailed(
                    _("文件中途出现无法识别的字符（编码不一致），请整体另存为 UTF-8 或 GBK。")
                ) from None

        return Table("csv", headers, rows(), lambda: _count_csv_rows(path, encoding), encoding, closer=fh.close)
    if kind == "xlsx":
        return _open_xlsx(path, sheet)
    from python_calamine import CalamineWorkbook  # the old binary .xls

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
        iterator = iter(sheet.iter_rows())
        headers = [_clean_header(h) for h in next(iterator)]
    except StopIteration:
        raise ValidationFailed(_("工作表是空的。")) from None
    except Exception as error:  # calamine raises its own error types for broken or encrypted files
        raise ValidationFailed(_("无法读取 Excel 文件（%(e)s）。", e=type(error).__name__)) from None
    while headers and not headers[-1]:
        headers.pop()
    height = max(0, sheet.total_height - 1)
    return Table("xlsx", headers, iterator, lambda: height, closer=getattr(workbook, "close", None))


def _xlsx_message(error) -> str:
    """What the importer tells about an .xlsx that cannot be read (an XlsxError)."""
    if error.reason == "encrypted":
        return _("该 Excel 文件设置了打开密码，请取消密码、另存后重新上传。")
    if error.reason == "no_sheet":
        return _("Excel 文件中没有可读取的工作表。")
    if error.reason == "no_such_sheet":
        return _("Excel 文件中没有指定的工作表。")
    return _("无法读取 Excel 文件：文件已损坏或不是有效的 .xlsx 文件，请用 Excel 打开并另存为 .xlsx 后重新上传。")


def _open_xlsx(path: Path, sheet: str | None) -> Table:
    """An .xlsx sheet streamed row by row (memory flat whatever its size); the header is the first row
    that holds anything. The row count comes from the sheet's dimension, without reading its rows."""
    from tracker.excel.xlsx_reader import XlsxError, XlsxReader

    try:
        reader = XlsxReader(path, sheet)
    except XlsxError as error:
        raise ValidationFailed(_xlsx_message(error)) from None
    iterator = reader.rows()
    try:
        headers = [_clean_header(h) for h in next(iterator)]
    except StopIteration:
        reader.close()
        raise ValidationFailed(_("工作表是空的。")) from None
    except XlsxError as error:
        reader.close()
        raise ValidationFailed(_xlsx_message(error)) from None
    while headers and not headers[-1]:
        headers.pop()

    def rows():
        try:
            yield from iterator
        except XlsxError as error:
            raise ValidationFailed(_xlsx_message(error)) from None

    def count() -> int:
        try:
            return max(0, reader.count_rows() - 1)
        except XlsxError:
            return 0  # the import itself reports what is wrong with the file

    def close():
        iterator.close()
        reader.close()

    return Table("xlsx", headers, rows(), count, closer=close)


def rows_as_text_csv(rows, headers) -> bytes:
    """CSV bytes (UTF-8 with BOM so that Excel opens it) for small reports such as import errors."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def write_xlsx(
    path: Path,
    headers: list[str],
    rows,
    sheet_name="Sheet1",
    widths=None,
    *,
    title_rows=(),
    wrapped=(),
    for_print=False,
) -> int:
    """Write ROWS (an iterable of sequences) to PATH in constant memory; text that a spreadsheet
    would run as a formula is neutralised. TITLE_ROWS (text lines; the first is the title) go above
    the header row, each merged across the columns; the columns in WRAPPED wrap their text; FOR_PRINT
    sets the page up for filing: A4 landscape, fit to the page width, the header row on every page.
    Returns the number of data rows."""
    import xlsxwriter

    from tracker.core.sanitize import neutralise_cell

    workbook = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    sheet = workbook.add_worksheet(sheet_name)
    bold = workbook.add_format(
        {"bold": True, "bg_color": "#EEF1F6", "border": 1, "text_wrap": True, "valign": "vcenter"}
    )
    title = workbook.add_format({"bold": True, "font_size": 16, "align": "center", "valign": "vcenter"})
    note = workbook.add_format({"font_size": 10, "align": "left", "valign": "vcenter"})
    plain = workbook.add_format({"valign": "top"})
    wrap = workbook.add_format({"valign": "top", "text_wrap": True})
    formats = [wrap if col in set(wrapped) else plain for col in range(len(headers))]
    for col, width in enumerate(widths or []):
        sheet.set_column(col, col, width)
    last_col = max(len(headers) - 1, 0)
    for row_number, text in enumerate(title_rows):
        style = title if row_number == 0 else note
        if row_number == 0:
            sheet.set_row(row_number, 28)
        if last_col:
            sheet.merge_range(row_number, 0, row_number, last_col, neutralise_cell(text), style)
        else:
            sheet.write(row_number, 0, neutralise_cell(text), style)
    header_row = len(title_rows)
    sheet.write_row(header_row, 0, headers, bold)
    sheet.freeze_panes(header_row + 1, 0)
    if for_print:
        sheet.set_landscape()
        sheet.set_paper(9)  # A4
        sheet.fit_to_pages(1, 0)  # the page width, as many pages down as it takes
        sheet.repeat_rows(header_row)
        sheet.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        sheet.set_footer("&C第 &P 页，共 &N 页")
        sheet.hide_gridlines(0)  # the cell grid on paper too (blank cells are not written: no borders)
    count = 0
    formats += [None] * 64  # rows wider than the header row
    for count, row in enumerate(rows, start=1):
        line = header_row + count
        for col, value in enumerate(row):
            # Typed writes and no blank cells: a million-row export spends its time here.
            if isinstance(value, str):
                if value:
                    sheet.write_string(line, col, neutralise_cell(value), formats[col])
            elif isinstance(value, int | float) and not isinstance(value, bool):
                sheet.write_number(line, col, value, formats[col])
            elif value is not None:
                sheet.write(line, col, value, formats[col])
    workbook.close()
    return count


def stream_csv(headers: list[str], rows):
    """CSV lines (UTF-8 with BOM for Excel) generated row by row, formulas neutralised."""
    from tracker.core.sanitize import neutralise_cell

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(headers)
    for number, row in enumerate(rows, start=1):
        writer.writerow([neutralise_cell(v) for v in row])
        if number % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def attachment_header(filename: str, fallback: str | None = None) -> str:
    """A Content-Disposition value for FILENAME, which may be Chinese (RFC 6266: FALLBACK, an ASCII
    name for old clients, plus the UTF-8 name)."""
    from urllib.parse import quote

    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in fallback or filename)
    return f"attachment; filename={fallback}; filename*=UTF-8''{quote(filename)}"
