"""Downloads for the views: a streamed CSV or a finished XLSX file, the same way for every list."""

import tempfile
from pathlib import Path

from flask import Response, after_this_request, send_file, stream_with_context

from tracker.core import clock
from tracker.excel.services import attachment_header, stream_csv, write_xlsx

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_download(headers, rows, filename: str, fallback: str) -> Response:
    """ROWS streamed as CSV; whatever needs the request or the user must be worked out before (the
    body runs after the view has returned)."""
    return Response(
        stream_with_context(stream_csv(headers, rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": attachment_header(filename, fallback)},
    )


def xlsx_download(headers, rows, filename: str, **layout) -> Response:
    """ROWS written to a temporary XLSX file (flat memory) that is removed once it has been sent.
    LAYOUT goes to write_xlsx: sheet_name, widths, title_rows, wrapped, for_print."""
    handle = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False)  # noqa: SIM115 - removed after sending
    handle.close()
    path = Path(handle.name)
    write_xlsx(path, headers, rows, **layout)

    @after_this_request
    def remove(response):
        response.call_on_close(lambda: path.unlink(missing_ok=True))
        return response

    return send_file(path, as_attachment=True, download_name=filename, mimetype=XLSX_MIMETYPE)


def list_download(fmt: str, spec, rows, title_rows, fallback: str) -> Response:
    """A list page's export as FMT ("csv" or "xlsx"). SPEC is the queries module that describes it
    (EXPORT_TITLE, EXPORT_HEADERS, EXPORT_WIDTHS, EXPORT_WRAPPED); FALLBACK is the plain-ASCII file
    name stem. ROWS and TITLE_ROWS must be worked out already (the CSV body streams later)."""
    stamp = clock.local_now().strftime("%Y%m%d-%H%M")
    name = f"{spec.EXPORT_TITLE}-{stamp}"
    if fmt == "csv":
        return csv_download(spec.EXPORT_HEADERS, rows, f"{name}.csv", f"{fallback}-{stamp}.csv")
    return xlsx_download(
        spec.EXPORT_HEADERS,
        rows,
        f"{name}.xlsx",
        sheet_name=spec.EXPORT_TITLE,
        widths=spec.EXPORT_WIDTHS,
        title_rows=title_rows,
        wrapped=spec.EXPORT_WRAPPED,
        for_print=True,
    )
