"""The file storage's contract, run alike against the directory backend (in tmp_path) and the S3
backend (boto3 against moto's S3 server on loopback, a real HTTP server on a free port)."""

import hashlib
import io
import os

import pytest
from flask import Flask

from tests.core.conftest import new_bucket, objects
from tracker.core import storage

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32 + os.urandom(300_000)


@pytest.fixture(params=["dir", "s3"])
def backend(request, tmp_path):
    """(Storage, a function listing what it holds) for each backend."""
    if request.param == "dir":
        files = storage.build({"STORAGE_BACKEND": "dir", "STORAGE_DIR": str(tmp_path)})

        def held():
            return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())

        return files, held
    endpoint = request.getfixturevalue("s3_server")
    bucket = new_bucket(endpoint)
    files = storage.build(
        {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": endpoint,
            "S3_REGION": "cn-north-1",
            "S3_PREFIX": "tracker/",
        }
    )
    return files, lambda: [k.removeprefix("tracker/") for k in objects(endpoint, bucket)]


def test_a_saved_file_reads_back_with_its_size_and_hash(backend):
    files, held = backend
    saved = files.save(io.BytesIO(PNG), "evidence")
    assert saved.key == f"evidence/{saved.name}" and len(saved.name) == 32
    assert (saved.size, saved.sha256) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    assert saved.head == PNG[:8192]
    assert held() == [saved.key] and files.exists(saved.key)
    with files.open(saved.key) as fh:
        assert fh.read() == PNG
    handle, size, modified = files.open_sized(saved.key)
    with handle:
        assert size == len(PNG) and modified and handle.read(8) == PNG[:8]
    other = files.save(io.BytesIO(b"x"), "evidence", suffix=".upload")
    assert other.name.endswith(".upload") and other.name != saved.name
    assert held() == sorted([saved.key, other.key])


def test_local_path_gives_a_real_file_with_the_content(backend):
    files, _held = backend
    saved = files.save(io.BytesIO(b"a,b\n1,2\n"), "imports", suffix=".upload")
    with files.local_path(saved.key) as path:
        assert path.is_file() and path.read_bytes() == b"a,b\n1,2\n"
        assert path.suffix == ".upload"
    if not isinstance(files, storage.DirStorage):
        assert not path.exists()  # the downloaded copy is removed
    with pytest.raises(FileNotFoundError), files.local_path("imports/missing.upload"):
        pass


def test_delete_removes_and_tolerates_a_missing_file(backend):
    files, held = backend
    saved = files.save(io.BytesIO(b"abc"), "inspections")
    files.delete(saved.key)
    assert not files.exists(saved.key) and held() == []
    files.delete(saved.key)  # again: nothing happens
    with pytest.raises(FileNotFoundError):
        files.open(saved.key)
    with pytest.raises(FileNotFoundError):
        files.open_sized("evidence/never-there")


def test_a_refused_or_broken_upload_leaves_nothing(backend):
    files, held = backend

    def refuse(saved):
        raise ValueError(f"refused {saved.size}")

    with pytest.raises(ValueError, match="refused 3"):
        files.save(io.BytesIO(b"abc"), "evidence", check=refuse)

    class Broken:
        def __init__(self):
            self.calls = 0

        def read(self, n=-1):
            self.calls += 1
            if self.calls > 2:
                raise OSError("connection reset")
            return b"z" * 1000

    with pytest.raises(OSError, match="reset"):
        files.save(Broken(), "evidence")
    assert held() == []


def test_a_check_sees_the_whole_content_before_the_file_appears(backend):
    files, held = backend
    seen = {}

    def check(saved):
        seen.update(size=saved.size, there=files.exists(saved.key))

    saved = files.save(io.BytesIO(PNG), "evidence", check=check)
    assert seen == {"size": len(PNG), "there": False} and held() == [saved.key]


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd", "evidence", "evidence/../x", "a//b", "", "e/.x"])
def test_keys_outside_the_storage_are_refused(backend, bad):
    files, _held = backend
    with pytest.raises(ValueError, match="not a storage key"):
        files.open(bad)
    with pytest.raises(ValueError, match="not a storage key"):
        files.delete(bad)


def test_the_backend_follows_the_config(tmp_path, s3_server):
    app = Flask(__name__)
    app.config.update(STORAGE_BACKEND="dir", STORAGE_DIR=str(tmp_path))
    with app.app_context():
        first = storage.get()
        assert isinstance(first, storage.DirStorage) and storage.get() is first  # built once
        app.config.update(STORAGE_BACKEND="s3", S3_BUCKET=new_bucket(s3_server), S3_ENDPOINT_URL=s3_server)
        assert isinstance(storage.get(), storage.S3Storage)
        app.config["STORAGE_BACKEND"] = "ftp"
        with pytest.raises(RuntimeError, match="STORAGE_BACKEND"):
            storage.get()
        app.config.update(STORAGE_BACKEND="s3", S3_BUCKET="")
        with pytest.raises(RuntimeError, match="S3_BUCKET"):
            storage.get()


def test_a_missing_bucket_is_an_error_not_a_missing_file(s3_server):
    files = storage.build({"STORAGE_BACKEND": "s3", "S3_BUCKET": "no-such-bucket-here", "S3_ENDPOINT_URL": s3_server})
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        files.open("evidence/abc")
