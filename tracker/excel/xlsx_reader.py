"""Streaming XLSX reader (standard library only): one worksheet's rows, one at a time.

Memory stays flat whatever the sheet's size: the sheet XML is read from the zip member in blocks and
parsed with expat (no element tree is built), each row is handed on once complete. The shared strings
table (Excel puts every text cell, so every complaint's body, there) is parsed once, lazily, only as
far as the rows read so far need it; its strings are kept compactly: short ones in memory, long ones
in memory up to a budget and beyond it in an unnamed temporary file read back by offset.

Cell values: text as str ("" for an empty cell or a gap between cells), numbers as int when written
without a fraction or exponent and as float otherwise, booleans as bool, numbers in a date format as
datetime.date / datetime.datetime / datetime.time (the 1900 or 1904 date system of the workbook),
formula results as their cached value, errors as their text ("#N/A").

A document type declaration is refused (an .xlsx never has one; it is how entity expansion attacks
start), and external entities are never fetched.
"""

import os
import posixpath
import re
import tempfile
import zipfile
from array import array
from datetime import datetime, time, timedelta
from xml.parsers import expat

MAIN_NAMESPACES = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",  # ISO strict
)
PACKAGE_REL_NAMESPACE = "http://schemas.openxmlformats.org/package/2006/relationships"
READ_BYTES = 1 << 16
SHORT_CHARS = 40  # a shared string up to this long is always kept in memory (ids, names, phones, codes)
SHORT_BUDGET = 48 << 20  # ... until the short ones take this much; then they are spilled too
LONG_BUDGET = 16 << 20  # longer strings kept in memory; the rest goes to a temporary file
# Built-in number formats that show a date or a time (14–22, 45–47) and the CJK locales' ones.
BUILTIN_DATE_FORMATS = {*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82)}
_FORMAT_NOISE = re.compile(r'"[^"]*"|\\.|\[(?![hms]+\])[^\]]*\]|_.|\*.', re.IGNORECASE)
_FORMAT_DATE_PART = re.compile(r"[dmyhse]|上午|下午|AM/PM|A/P", re.IGNORECASE)
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_DIMENSION = re.compile(rb'<(?:[\w.-]+:)?dimension\s+ref="\$?([A-Z]*)\$?(\d+)(?::\$?[A-Z]*\$?(\d+))?"')
_ROW_TAG = re.compile(rb"<(?:[\w.-]+:)?row[\s>/]")
_DIGITS = "0123456789"


class XlsxError(Exception):
    """The file is not a workbook this reader can read. `reason` is one of "not_zip", "encrypted",
    "no_sheet", "no_such_sheet", "broken"; the message says more (in English, for logs)."""

    def __init__(self, message: str, reason: str = "broken"):
        super().__init__(message)
        self.reason = reason


def is_date_format(format_code: str) -> bool:
    """Whether a number format code shows a date or a time ('yyyy"年"m"月"d"日"', 'h:mm', not '0.00')."""
    code = _FORMAT_NOISE.sub("", format_code.split(";")[0])
    if code.lower() in ("general", "@", ""):
        return False
    # "E" is the exponent of 0.00E+00, not a date part.
    return bool(_FORMAT_DATE_PART.search(code.replace("E+", "").replace("E-", "").replace("e+", "")))


def _unescape(text: str) -> str:
    """Excel writes control characters as _xHHHH_ (and a literal "_x" as _x005F_x)."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def column_index(letters: str) -> int:
    """0 for A, 25 for Z, 26 for AA."""
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index - 1


def from_serial(serial: float, epoch: datetime):
    """A date, datetime or time for an Excel serial day number, to the nearest millisecond; the
    number itself when it is no date (negative, or past 9999-12-31)."""
    if serial < 0 or serial > 2958466:
        return serial
    if serial < 1:  # a time of day alone
        return (datetime.min + timedelta(milliseconds=round(serial * 86_400_000))).time()
    if epoch.year == 1899 and serial < 61:
        serial += 1  # Excel counts 1900-02-29, which never was; serial 60 lands on 1900-03-01
    moment = epoch + timedelta(milliseconds=round(serial * 86_400_000))
    if moment.time() == time():
        return moment.date()
    return moment


def _refuse_doctype(*_args):
    raise XlsxError("a document type declaration in a workbook part")


def _parser(namespaces=True) -> expat.XMLParserType:
    """An expat parser that refuses DTDs; with NAMESPACES, tags come as "uri}name", else as written
    ("c" or "x:c", faster: see `_main_prefix`)."""
    parser = expat.ParserCreate(namespace_separator="}") if namespaces else expat.ParserCreate()
    parser.buffer_text = True
    parser.buffer_size = READ_BYTES
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    return parser


def _main_prefix(tag: str, attrs: dict) -> str:
    """The prefix ("" or "x:") of the spreadsheet namespace, from a part's root element TAG and its
    attributes (where the namespace is declared), for a parser without namespace processing."""
    prefix = tag.split(":", 1)[0] if ":" in tag else ""
    declared = attrs.get(f"xmlns:{prefix}" if prefix else "xmlns")
    if declared not in MAIN_NAMESPACES:
        raise XlsxError(f"unknown namespace {declared!r} of <{tag}>")
    return f"{prefix}:" if prefix else ""


class _Element:
    """A tiny element (tag, attributes, children, text) for the small workbook parts."""

    __slots__ = ("attrs", "children", "tag", "text")

    def __init__(self, tag, attrs):
        self.tag, self.attrs, self.children, self.text = tag, attrs, [], ""

    def get(self, name, default=None):
        return self.attrs.get(name, default)

    def local(self) -> str:
        return self.tag.rsplit("}", 1)[-1]

    def find_all(self, local: str):
        """Descendants whose local name is LOCAL, in document order."""
        for child in self.children:
            if child.local() == local:
                yield child
            yield from child.find_all(local)


def _small_tree(stream) -> _Element:
    """Parse a small part (workbook, relationships, styles) into `_Element`s."""
    parser = _parser()
    stack: list[_Element] = []
    root: list[_Element] = []

    def start(tag, attrs):
        element = _Element(tag, attrs)
        if stack:
            stack[-1].children.append(element)
        else:
            root.append(element)
        stack.append(element)

    def end(_tag):
        stack.pop()

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.ParseFile(stream)
    if not root:
        raise XlsxError("an empty workbook part")
    return root[0]


class SharedStrings:
    """The shared strings table, parsed from its XML as far as the indexes asked for need.

    `where[i]` >= 0 is the position of string i in `memory`; -k-1 means spilled string k, whose UTF-8
    bytes are `offsets[k]:offsets[k + 1]` in the temporary file."""

    def __init__(self, archive: zipfile.ZipFile, name: str | None):
        self.memory: list[str] = []
        self.where = array("q")
        self._offsets = array("q", [0])
        self._short_bytes = self._long_bytes = 0
        self._spill = None
        self._written = 0  # bytes in the temporary file's buffer or on disk
        self._flushed = 0  # bytes readable with pread
        self._stream = archive.open(name) if name else None
        self._parser = _parser(namespaces=False)
        self._namespace = None
        self._collect = False
        self._phonetic = 0
        self._text = ""
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._chars

    def __len__(self):
        return len(self.where)

    def _start(self, tag, attrs):
        if self._namespace is None:
            self._namespace = ns = _main_prefix(tag, attrs)
            self._si, self._t, self._rph = ns + "si", ns + "t", ns + "rPh"
            return
        if tag == self._t:
            self._collect = not self._phonetic  # phonetic runs <rPh><t> are not the text
        elif tag == self._si:
            self._text = ""
        elif tag == self._rph:
            self._phonetic += 1

    def _chars(self, data):
        if self._collect:
            self._text += data

    def _end(self, tag):
        if tag == self._t:
            self._collect = False
        elif tag == self._si:
            self._add(_unescape(self._text))
            self._text = ""
        elif tag == self._rph:
            self._phonetic -= 1

    def _add(self, text: str) -> None:
        size = 2 * len(text) + 64
        if len(text) <= SHORT_CHARS:
            if self._short_bytes + size <= SHORT_BUDGET:
                self._short_bytes += size
                self.where.append(len(self.memory))
                self.memory.append(text)
                return
        elif self._long_bytes + size <= LONG_BUDGET:
            self._long_bytes += size
            self.where.append(len(self.memory))
            self.memory.append(text)
            return
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix="xlsx-strings-")  # noqa: SIM115 - closed in close()
        data = text.encode("utf-8")
        self._spill.write(data)
        self._written += len(data)
        self.where.append(-len(self._offsets))  # -(k + 1) for spilled string k
        self._offsets.append(self._written)

    def load_to(self, index: int) -> None:
        """Parse on until string INDEX is known; raises XlsxError when the table ends first."""
        while index >= len(self.where):
            if self._stream is None:
                raise XlsxError(f"shared string {index} is missing")
            try:
                data = self._stream.read(READ_BYTES)
                self._parser.Parse(data, not data)
            except expat.ExpatError as error:
                raise XlsxError(f"broken shared strings XML: {error}") from None
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
                raise XlsxError(f"broken shared strings: {type(error).__name__}: {error}") from None
            if not data:
                self._stream.close()
                self._stream = None

    def spilled(self, position: int) -> str:
        """The spilled string at `where` value POSITION (negative)."""
        k = -position - 1
        start, end = self._offsets[k], self._offsets[k + 1]
        if end > self._flushed:
            self._spill.flush()
            self._flushed = self._written
        return os.pread(self._spill.fileno(), end - start, start).decode("utf-8")

    def __getitem__(self, index: int) -> str:
        if index >= len(self.where):
            self.load_to(index)
        position = self.where[index]
        return self.memory[position] if position >= 0 else self.spilled(position)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        self.memory = []
        self.where = array("q")


class XlsxReader:
    """One worksheet of an .xlsx file: the first one, or SHEET (a name, or a 0-based position). Use it
    as a context manager; `rows()` streams the sheet and may be called more than once.

    Raises XlsxError when the file is not a readable workbook (a broken zip, no workbook part, bad XML,
    no such sheet)."""

    def __init__(self, path, sheet: str | int | None = None):
        try:
            self._archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise XlsxError(f"not a zip archive: {error}", "not_zip") from None
        self._strings = None
        try:
            self._locate(sheet)
        except XlsxError:
            self._archive.close()
            raise
        except (KeyError, expat.ExpatError, zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
            self._archive.close()
            raise XlsxError(f"broken workbook: {type(error).__name__}: {error}") from None

    # ---- the workbook's parts

    def _tree(self, name: str) -> _Element:
        with self._archive.open(name) as stream:
            return _small_tree(stream)

    def _relations(self, part: str) -> dict[str, tuple[str, str]]:
        """{relation id: (type's last word, part name)} of PART."""
        folder, base = posixpath.split(part)
        rels_name = posixpath.join(folder, "_rels", base + ".rels")
        if rels_name not in self._archive.NameToInfo:
            return {}
        found = {}
        for rel in self._tree(rels_name).find_all("Relationship"):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External":
                continue
            name = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            found[rel.get("Id")] = (rel.get("Type", "").rsplit("/", 1)[-1], name)
        return found

    def _locate(self, wanted) -> None:
        names = self._archive.NameToInfo
        if "EncryptedPackage" in names or "EncryptionInfo" in names:
            raise XlsxError("encrypted", "encrypted")
        workbook = next((name for kind, name in self._relations("").values() if kind == "officeDocument"), None)
        workbook = workbook or "xl/workbook.xml"
        if workbook not in names:
            raise XlsxError("no workbook part", "no_sheet")
        root = self._tree(workbook)
        namespace = root.tag.rsplit("}", 1)[0] if "}" in root.tag else ""
        if namespace not in MAIN_NAMESPACES:
            raise XlsxError(f"unknown workbook namespace {namespace!r}")
        properties = next(root.find_all("workbookPr"), None)
        date1904 = properties is not None and properties.get("date1904", "").lower() in ("1", "true")
        self.epoch = datetime(1904, 1, 1) if date1904 else datetime(1899, 12, 30)
        relations = self._relations(workbook)
        sheets = []  # (name, part)
        for sheet in root.find_all("sheet"):
            rel_id = next((value for key, value in sheet.attrs.items() if key.endswith("}id")), None)
            kind, part = relations.get(rel_id, ("", ""))
            if kind == "worksheet" and part in names:  # chart sheets and dialog sheets hold no rows
                sheets.append((sheet.get("name", ""), part))
        if not sheets:
            raise XlsxError("the workbook has no worksheet", "no_sheet")
        self.sheet_names = [name for name, _part in sheets]
        if wanted is None:
            chosen = sheets[0]
        elif isinstance(wanted, int):
            if not 0 <= wanted < len(sheets):
                raise XlsxError(f"no sheet at position {wanted}", "no_such_sheet")
            chosen = sheets[wanted]
        else:
            chosen = next((s for s in sheets if s[0] == wanted), None)
            if chosen is None:
                raise XlsxError(f"no sheet named {wanted!r}", "no_such_sheet")
        self.sheet_name, self.sheet_part = chosen
        by_kind = {kind: name for kind, name in relations.values()}
        strings = by_kind.get("sharedStrings")
        self._strings = SharedStrings(self._archive, strings if strings in names else None)
        styles = by_kind.get("styles")
        self._date_styles = self._read_date_styles(styles) if styles in names else frozenset()

    def _read_date_styles(self, part: str) -> frozenset[str]:
        """The cell formats (the cells' s attribute, as written) whose number format is a date or time."""
        root = self._tree(part)
        sections = {element.local(): element for element in root.children}
        custom = {
            fmt.get("numFmtId"): fmt.get("formatCode", "")
            for fmt in (sections["numFmts"].children if "numFmts" in sections else [])
        }
        cell_formats = sections.get("cellXfs")
        dates = set()
        for index, xf in enumerate(cell_formats.children if cell_formats is not None else []):
            number_format = xf.get("numFmtId", "0")
            if number_format in custom:
                if is_date_format(custom[number_format]):
                    dates.add(str(index))
            elif number_format.isdigit() and int(number_format) in BUILTIN_DATE_FORMATS:
                dates.add(str(index))
        return frozenset(dates)

    # ---- counting

    def dimension(self) -> tuple[int, int] | None:
        """(first row, last row), 1-based, from the sheet's <dimension ref="A1:K100001">, read from the
        start of the sheet XML only; None when the sheet does not say."""
        with self._archive.open(self.sheet_part) as stream:
            head = stream.read(READ_BYTES)
        match = _DIMENSION.search(head)
        if not match:
            return None
        first = int(match.group(2))
        return first, int(match.group(3) or first)

    def count_rows(self) -> int:
        """The sheet's height in rows (from the first row to the last, as the sheet's dimension says;
        counted from the XML without parsing it when the sheet gives no dimension or a single cell)."""
        span = self.dimension()
        if span is not None and span[1] > span[0]:
            return span[1] - span[0] + 1
        count, tail = 0, b""
        try:
            with self._archive.open(self.sheet_part) as stream:
                while data := stream.read(READ_BYTES):
                    block = tail + data
                    count += len(_ROW_TAG.findall(block))
                    cut = block.rfind(b"<", len(block) - 32)
                    # A tag cut at the block's end is counted with the next block, never twice.
                    tail = block[cut:] if cut >= 0 and _ROW_TAG.match(block, cut) is None else b""
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
            raise XlsxError(f"broken sheet: {type(error).__name__}: {error}") from None
        return count

    # ---- rows

    def rows(self):
        """Each row of the sheet as a list, from the first row that holds anything; rows missing from
        the XML (empty rows) come as []; a cell missing from a row (a gap) as ""."""
        strings, date_styles, epoch = self._strings, self._date_styles, self.epoch
        memory, where, load_to, spilled = strings.memory, strings.where, strings.load_to, strings.spilled
        letters_at: dict[str, int] = {}
        done: list[list] = []  # rows completed by the last block
        C = V = T = ROW = RPH = None  # the tags, with the sheet's namespace
        # Parser state, in locals of this function (closures are faster than attributes).
        values: list = []
        column = kind = style = None
        text = ""
        collect = False
        phonetic = 0
        row_ref = None
        last_row = 0
        started = False

        def start(tag, attrs):
            nonlocal values, column, kind, style, text, collect, phonetic, row_ref
            if tag == C:
                kind = attrs.get("t")
                style = attrs.get("s")
                ref = attrs.get("r")
                if ref:
                    letters = ref.rstrip(_DIGITS)
                    column = letters_at.get(letters)
                    if column is None:
                        column = letters_at[letters] = column_index(letters)
                else:
                    column = len(values)
                text = ""
            elif tag == V:
                collect = True
            elif tag == T:
                collect = not phonetic
            elif tag == ROW:
                values = []
                row_ref = attrs.get("r")
            elif tag == RPH:
                phonetic += 1

        def root(tag, attrs):
            """The worksheet element: its namespace prefix names the tags that follow."""
            nonlocal C, V, T, ROW, RPH
            prefix = _main_prefix(tag, attrs)
            C, V, T, ROW, RPH = (prefix + name for name in ("c", "v", "t", "row", "rPh"))
            for name in (C, V, T, ROW, RPH):
                parser.intern[name] = name  # expat hands back these very strings: compared by identity
            parser.StartElementHandler = start

        def chars(data):
            nonlocal text
            if collect:
                text += data

        def end(tag):
            nonlocal collect, phonetic, last_row, started
            if tag == C:
                if kind is None or kind == "n":
                    if text:
                        try:
                            value = float(text) if "." in text or "E" in text or "e" in text else int(text)
                        except ValueError:  # not a number after all: keep what the cell says
                            value = text
                        else:
                            if style is not None and style in date_styles:
                                value = from_serial(value, epoch)
                    else:
                        value = ""
                elif kind == "s":
                    if text:
                        index = int(text)
                        try:
                            position = where[index]
                        except IndexError:  # not parsed yet (or beyond the table: load_to raises)
                            load_to(index)
                            position = where[index]
                        value = memory[position] if position >= 0 else spilled(position)
                    else:
                        value = ""
                elif kind == "inlineStr" or kind == "str" or kind == "e":
                    value = _unescape(text) if "_x" in text else text
                elif kind == "b":
                    value = text.strip() in ("1", "true")
                elif kind == "d":
                    try:
                        value = datetime.fromisoformat(text.strip().rstrip("Z")) if text.strip() else ""
                    except ValueError:
                        value = text
                else:
                    value = text
                width = len(values)
                if column == width:
                    values.append(value)
                elif column > width:
                    values.extend([""] * (column - width))
                    values.append(value)
                else:  # out of order or repeated: the later cell wins
                    values[column] = value
            elif tag in (V, T):
                collect = False
            elif tag == ROW:
                number = int(row_ref) if row_ref else last_row + 1
                if not started:
                    if not any(v != "" for v in values):
                        last_row = number
                        return
                    started = True
                elif number > last_row + 1:
                    done.extend([] for _gap in range(number - last_row - 1))
                last_row = number
                done.append(values)
            elif tag == RPH:
                phonetic -= 1

        parser = _parser(namespaces=False)
        parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = root, end, chars
        try:
            stream = self._archive.open(self.sheet_part)
        except (KeyError, zipfile.BadZipFile, OSError) as error:
            raise XlsxError(f"broken sheet: {error}") from None
        with stream:
            while True:
                failure = None
                try:
                    data = stream.read(READ_BYTES)
                    parser.Parse(data, not data)
                except expat.ExpatError as error:
                    failure = XlsxError(f"broken sheet XML: {error}")
                except XlsxError as error:
                    failure = error
                except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
                    failure = XlsxError(f"broken sheet: {type(error).__name__}: {error}")
                if done:  # the rows completed before a failure are good rows
                    yield from done
                    done.clear()
                if failure is not None:
                    raise failure
                if not data:
                    return

    def close(self) -> None:
        if self._strings is not None:
            self._strings.close()
        self._archive.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
