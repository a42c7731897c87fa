"""Where uploaded files live: a directory (the default; a disk shared by several app servers) or a
bucket of S3-compatible object storage, chosen by STORAGE_BACKEND.

A file is named by its key, `<folder>/<random name>` (e.g. `evidence/3f2a…`), the same in both
backends: under STORAGE_DIR it is that relative path, in the bucket it is S3_PREFIX + key. So a
directory copied into a bucket (under the prefix) keeps every key valid. The database keeps the
random name (evidence, inspection photos) or the key (import files), never a backend's location.

    saved = storage.get().save(stream, "evidence")      # -> Saved(key, name, size, sha256)
    with storage.get().open(saved.key) as fh: ...       # binary file object; FileNotFoundError
    with storage.get().local_path(key) as path: ...     # a real file, for readers that need one
    storage.get().delete(key); storage.get().exists(key)
    return storage.send(key, mimetype=..., download_name=..., as_attachment=..., etag=...)
"""

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app, request, send_file

CHUNK = 1 << 16
HEAD_BYTES = 8192  # what content sniffing (filetype) looks at
SPOOL_BYTES = 8 << 20  # an upload bound for S3 waits in memory up to this, on disk beyond
_KEY = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)+")


@dataclass(frozen=True)
class Saved:
    key: str  # folder/name
    name: str  # the random name within the folder
    size: int
    sha256: str
    head: bytes  # the first HEAD_BYTES, for content sniffing


def key(folder: str, name: str) -> str:
    return f"{folder}/{name}"


def check_key(value: str) -> str:
    """VALUE when it is a relative key of safe segments (no `..`, no leading `/`); else ValueError."""
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise ValueError(f"not a storage key: {value!r}")
    return value


def _copy(stream, out) -> tuple[int, str, bytes]:
    """Copy STREAM into OUT in chunks (never whole in memory); (size, SHA-256 hex, first bytes)."""
    digest, size, head = hashlib.sha256(), 0, b""
    while chunk := stream.read(CHUNK):
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        size += len(chunk)
        digest.update(chunk)
        out.write(chunk)
    return size, digest.hexdigest(), head


class Storage:
    """The interface; see the module docstring."""

    def save(self, stream, folder: str, *, suffix: str = "", check=None) -> Saved:
        """Copy STREAM (anything with read(n)) under FOLDER by a new random name (+ SUFFIX).
        CHECK(saved) runs once the whole content is in, before the file exists under its key; an
        exception from it, from STREAM or from the backend leaves nothing stored."""
        name = secrets.token_hex(16) + suffix
        return self._save(stream, check_key(key(folder, name)), name, check)

    def put(self, key: str, stream) -> Saved:
        """Copy STREAM under KEY itself (a restore puts files back under the keys the rows name)."""
        return self._save(stream, check_key(key), key.rsplit("/", 1)[-1], None)

    def _save(self, stream, key, name, check) -> Saved:
        raise NotImplementedError

    def open(self, key: str):
        """KEY's content as a binary file object (close it); FileNotFoundError when there is none."""
        return self.open_sized(key)[0]

    def open_sized(self, key: str) -> tuple[object, int, datetime | float]:
        """(binary file object, size in bytes, last modified) of KEY; FileNotFoundError."""
        raise NotImplementedError

    def local_path(self, key: str):
        """A context manager giving a real file path with KEY's content; FileNotFoundError."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove KEY; nothing happens when it is already gone."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError


class DirStorage(Storage):
    """Files under ROOT/<key>. A new file is written beside its place and renamed into it, so that
    another server never reads half of one."""

    def __init__(self, root):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _save(self, stream, key, name, check):
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{name}.part")
        try:
            with open(partial, "wb") as out:
                size, digest, head = _copy(stream, out)
            saved = Saved(key, name, size, digest, head)
            if check is not None:
                check(saved)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return saved

    def open_sized(self, key):
        handle = open(self.path(key), "rb")  # noqa: SIM115 - the caller closes it
        stat = os.fstat(handle.fileno())
        return handle, stat.st_size, stat.st_mtime

    @contextlib.contextmanager
    def local_path(self, key):
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        yield path

    def delete(self, key):
        self.path(key).unlink(missing_ok=True)

    def exists(self, key):
        return self.path(key).is_file()


class S3Storage(Storage):
    """Objects BUCKET/PREFIX<key> through boto3; credentials come the standard way (AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE …). An upload is spooled (memory, then a
    temporary file) until it is complete and checked, then sent; a multipart upload when large."""

    def __init__(self, bucket, *, endpoint_url=None, region=None, prefix="", addressing_style="auto"):
        import boto3
        from botocore.config import Config as BotoConfig

        if not bucket:
            raise RuntimeError("STORAGE_BACKEND=s3 needs S3_BUCKET.")
        self.bucket = bucket
        self.prefix = prefix or ""
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=BotoConfig(
                s3={"addressing_style": addressing_style or "auto"},
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 4, "mode": "standard"},
            ),
        )

    def _object(self, key):
        return self.prefix + check_key(key)

    def _missing(self, error) -> bool:
        return error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}

    def _save(self, stream, key, name, check):
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            size, digest, head = _copy(stream, spool)
            saved = Saved(key, name, size, digest, head)
            if check is not None:
                check(saved)
            spool.seek(0)
            self.client.upload_fileobj(spool, self.bucket, self._object(key))
        return saved

    def open_sized(self, key):
        from botocore.exceptions import ClientError

        try:
            found = self.client.get_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as error:
            if self._missing(error):
                raise FileNotFoundError(key) from None
            raise
        return found["Body"], found["ContentLength"], found["LastModified"]

    @contextlib.contextmanager
    def local_path(self, key):
        handle, _size, _modified = self.open_sized(key)
        suffix = Path(key).suffix
        fd, name = tempfile.mkstemp(prefix="tracker-", suffix=suffix)
        path = Path(name)
        try:
            with handle, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(handle, out, 1 << 20)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def delete(self, key):
        self.client.delete_object(Bucket=self.bucket, Key=self._object(key))

    def exists(self, key):
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as error:
            if self._missing(error):
                return False
            raise
        return True


def build(config) -> Storage:
    """The backend CONFIG (a mapping like app.config) asks for."""
    backend = (config.get("STORAGE_BACKEND") or "dir").strip().lower()
    if backend == "dir":
        return DirStorage(config["STORAGE_DIR"])
    if backend == "s3":
        return S3Storage(
            config.get("S3_BUCKET"),
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            region=config.get("S3_REGION"),
            prefix=config.get("S3_PREFIX") or "",
            addressing_style=config.get("S3_ADDRESSING_STYLE") or "auto",
        )
    raise RuntimeError(f"Unknown STORAGE_BACKEND {backend!r}; use dir or s3.")


_SETTINGS = (
    "STORAGE_BACKEND",
    "STORAGE_DIR",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "S3_PREFIX",
    "S3_ADDRESSING_STYLE",
)


def get(app=None) -> Storage:
    """The current app's backend, built once per app and its settings (boto3 clients are costly to
    make and safe to share between threads)."""
    app = app or current_app._get_current_object()
    settings = tuple(app.config.get(name) for name in _SETTINGS)
    cached = app.extensions.get("tracker.storage")
    if cached is None or cached[0] != settings:
        cached = (settings, build(app.config))
        app.extensions["tracker.storage"] = cached
    return cached[1]


def send(key: str, *, mimetype: str, download_name: str, as_attachment: bool, etag: str, max_age=0):
    """A response streaming KEY from storage with the headers a file on disk gets from send_file
    (Content-Length, Last-Modified, ETag, byte ranges, 304). Raises FileNotFoundError."""
    handle, size, modified = get().open_sized(key)
    try:
        response = send_file(
            handle,
            mimetype=mimetype,
            as_attachment=as_attachment,
            download_name=download_name,
            max_age=max_age,
            etag=etag,
            last_modified=modified,
            conditional=False,
        )
        response.content_length = size
        return response.make_conditional(request.environ, accept_ranges=True, complete_length=size)
    except BaseException:
        handle.close()
        raise
