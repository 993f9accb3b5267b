"""The team caches' CAS: BuildGrid's disk storage that serves only blobs whose bytes hash to
their names.

Why: with `cache_content_behavior = "validate"` (pants.remote-cache.toml) Pants asks the
server whether a hit's outputs exist and downloads them only when a build needs them, so a
machine that pulls an image never fetches the multi-GB PEX it was built from. But Pants 2.17
recovers only from a *missing* blob (it backtracks and reruns the process); a blob that exists
with other bytes (overwritten, truncated, bit rot) is found when it is read, and that fails the
build ("Remote CAS gave wrong digest"). This storage checks a blob's content before it says the
blob exists (FindMissingBlobs, the action cache's check of a result's outputs, ByteStream's
"already have it" on write) and before it serves it. A blob that fails is removed, so it reads
as missing everywhere: the action-cache entries that need it are dropped, the client runs the
process, and the next writer uploads the good bytes again.

A blob is hashed once per content: its (size, mtime, inode) is recorded in an extended
attribute of its file once checked (a blob written through BuildGrid is checked as it arrives),
and survives a restart. Writing to the file changes its mtime, so it is checked again. Bit rot
changes no metadata: `team-caches.sh verify` hashes every blob.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from typing import IO

from buildgrid._protos.build.bazel.remote.execution.v2.remote_execution_pb2 import Digest
from buildgrid._protos.google.rpc import code_pb2
from buildgrid._protos.google.rpc.status_pb2 import Status
from buildgrid.server.cas.storage.disk import DiskStorage
from buildgrid.server.logging import buildgrid_logger

LOGGER = buildgrid_logger(__name__)

# The extended attribute that records "this content was checked" on a blob's file.
CHECKED_XATTR = "user.dynamo.checked"


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _signature(st: os.stat_result) -> bytes:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}".encode()


class VerifiedDiskStorage(DiskStorage):
    TYPE = "VerifiedDisk"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        # Signatures of checked blobs, for a file system without user extended attributes.
        self._checked_in_memory: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # -- what a blob's check records --------------------------------------------------------

    def _recorded(self, path: str, blob: str) -> bytes | None:
        try:
            return os.getxattr(path, CHECKED_XATTR)
        except OSError as e:
            if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                with self._lock:
                    return self._checked_in_memory.get(blob)
            return None  # ENODATA: never checked; ENOENT: gone

    def _record(self, path: str, blob: str, signature: bytes) -> None:
        try:
            os.setxattr(path, CHECKED_XATTR, signature)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            with self._lock:
                self._checked_in_memory[blob] = signature

    def _checked(self, digest: Digest) -> bool:
        """Whether the blob is here with the bytes its name says. A blob that is not is
        removed (and logged), so that it reads as missing and is uploaded again."""
        path = self._get_object_path(digest)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        signature = _signature(st)
        if self._recorded(path, digest.hash) == signature:
            return True
        try:
            actual = sha256_of(path) if st.st_size == digest.size_bytes else None
        except FileNotFoundError:
            return False
        if actual == digest.hash:
            self._record(path, digest.hash, signature)
            return True
        try:
            # Only the file that was checked: a good copy linked in meanwhile stays.
            if os.stat(path).st_ino == st.st_ino:
                os.remove(path)
        except FileNotFoundError:
            pass
        # An error: bgd logs nothing less by default, and a bad blob is the storage's fault.
        LOGGER.error(
            f"removed blob {digest.hash} ({st.st_size} bytes, {digest.size_bytes} expected): "
            f"its content hashes to {actual or 'another size'}; it reads as missing until a "
            "writer uploads it again"
        )
        return False

    def _record_written(self, digest: Digest) -> None:
        """After BuildGrid checked an upload against its digest and linked it into place."""
        path = self._get_object_path(digest)
        try:
            self._record(path, digest.hash, _signature(os.stat(path)))
        except FileNotFoundError:
            pass

    # -- DiskStorage, checked ---------------------------------------------------------------

    def has_blob(self, digest: Digest) -> bool:
        return self._checked(digest)

    def missing_blobs(self, digests: list[Digest]) -> list[Digest]:
        return [digest for digest in digests if not self._checked(digest)]

    def get_blob(self, digest: Digest) -> IO[bytes] | None:
        return super().get_blob(digest) if self._checked(digest) else None

    def bulk_read_blobs(self, digests: list[Digest]) -> dict[str, bytes]:
        return super().bulk_read_blobs([digest for digest in digests if self._checked(digest)])

    # A write keeps a file already in place (DiskStorage links the new one only where there
    # is none): a bad one is removed first, so that what is recorded is what was written.

    def commit_write(self, digest: Digest, write_session: IO[bytes]) -> None:
        self._checked(digest)
        super().commit_write(digest, write_session)
        self._record_written(digest)

    def bulk_update_blobs(self, blobs: list[tuple[Digest, bytes]]) -> list[Status]:
        for digest, _ in blobs:
            self._checked(digest)
        statuses = super().bulk_update_blobs(blobs)
        for (digest, _), status in zip(blobs, statuses):
            if status.code == code_pb2.OK:
                self._record_written(digest)
        return statuses
