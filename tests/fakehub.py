"""A stand-in for the Hugging Face hub on 127.0.0.1, for the real huggingface_hub client.

It serves the two routes a download uses, ``HEAD`` and ``GET`` on
``/{repo_id}/resolve/{revision}/{filename}``, with the headers the client relies on
(``X-Repo-Commit``, ``ETag``, ``X-Error-Code``), and can inject faults: an HTTP status
for the next requests, a connection dropped mid-body, a stalled answer.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

_ROUTE = re.compile(r"^/(?P<repo>[^/]+/[^/]+|[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+|[^/]+)/tree/(?P<rev>[^/]+)$")


def commit_id(label: str) -> str:
    """A stable 40-hex commit id for a label."""
    return hashlib.sha1(label.encode()).hexdigest()


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    #: None for public; 401 or 403 for a gated repo that rejects this request.
    gated: int | None = None
    token: str | None = None


@dataclass
class Fault:
    #: Statuses to answer the next matching requests with, one each.
    statuses: list[int] = field(default_factory=list)
    #: Send only this many body bytes of the next GET, then drop the connection.
    drop_after: int | None = None
    drops_left: int = 0
    #: Hold every request until this event is set.
    stall: threading.Event | None = None
    #: Only requests for this file name are affected (None: all).
    filename: str | None = None


class FakeHub:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.repos: dict[str, Repo] = {}
        self.fault = Fault()
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str | None] = []
        self._lock = threading.Lock()
        server.expect_request(re.compile(r".*")).respond_with_handler(self._handle)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        ref: str = "main",
        label: str | None = None,
        gated: int | None = None,
        token: str | None = None,
    ) -> str:
        """Publish ``files`` as a new commit of ``repo_id`` on branch ``ref``; return its id."""
        repo = self.repos.setdefault(repo_id, Repo(gated=gated, token=token))
        commit = commit_id(label or f"{repo_id}@{ref}#{len(repo.commits)}")
        repo.commits[commit] = dict(files)
        repo.refs[ref] = commit
        return commit

    def add_dir(self, repo_id: str, directory: Path, **kwargs: object) -> str:
        files = {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}
        return self.add_repo(repo_id, files, **kwargs)  # type: ignore[arg-type]

    def count(self, method: str | None = None, filename: str | None = None) -> int:
        return sum(
            1
            for m, path in self.requests
            if (method is None or m == method)
            and (filename is None or path.endswith("/" + filename))
        )

    # -- serving ------------------------------------------------------------------------

    def _error(self, status: int, code: str | None, commit: str | None = None) -> Response:
        headers = {}
        if code:
            headers["X-Error-Code"] = code
        if commit:
            headers["X-Repo-Commit"] = commit
        return Response(f"{status} {code or ''}", status=status, headers=headers)

    def _handle(self, request: Request) -> Response:
        path = unquote(request.path)
        with self._lock:
            self.requests.append((request.method, path))
            self.authorizations.append(request.headers.get("Authorization"))
        tree = _TREE.match(path)
        if tree is not None:
            return self._tree(tree["repo"], tree["rev"])
        match = _ROUTE.match(path)
        if match is None:
            return self._error(404, None)
        repo_id, rev, filename = match["repo"], match["rev"], match["file"]
        fault = self.fault
        applies = fault.filename is None or fault.filename == filename
        if applies and fault.stall is not None:
            fault.stall.wait(60)
        if applies and fault.statuses:
            with self._lock:
                status = fault.statuses.pop(0)
            return self._error(status, None)
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(401, "RepoNotFound")
        if repo.gated is not None:
            given = request.headers.get("Authorization")
            if repo.token is None or given != f"Bearer {repo.token}":
                return self._error(repo.gated, "GatedRepo")
        commit = repo.refs.get(rev, rev if rev in repo.commits else None)
        if commit is None:
            return self._error(404, "RevisionNotFound")
        files = repo.commits[commit]
        if filename not in files:
            return self._error(404, "EntryNotFound", commit)
        body = files[filename]
        headers = {
            "X-Repo-Commit": commit,
            "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
            "Content-Length": str(len(body)),
            "Content-Type": "application/octet-stream",
        }
        if request.method == "HEAD":
            # werkzeug sends the headers of the full body and drops the body itself.
            return Response(body, status=200, headers=headers)
        if applies and fault.drop_after is not None and fault.drops_left > 0:
            with self._lock:
                fault.drops_left -= 1
            return Response(
                _truncated(body, fault.drop_after),
                status=200,
                headers=headers,
                direct_passthrough=True,
            )
        return Response(body, status=200, headers=headers)

    def _tree(self, repo_id: str, rev: str) -> Response:
        """The repo's file listing at ``rev``, as the hub's tree API gives it."""
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(401, "RepoNotFound")
        commit = repo.refs.get(rev, rev if rev in repo.commits else None)
        if commit is None:
            return self._error(404, "RevisionNotFound")
        entries = [
            {"type": "file", "path": name, "size": len(body), "oid": hashlib.sha1(body).hexdigest()}
            for name, body in sorted(repo.commits[commit].items())
        ]
        return Response(json.dumps(entries), status=200, content_type="application/json")


def _truncated(body: bytes, keep: int) -> Iterator[bytes]:
    yield body[:keep]
    # Raising inside the body iterator makes the server abort the connection.
    raise ConnectionAbortedError("fake hub: dropping the connection mid-download")
