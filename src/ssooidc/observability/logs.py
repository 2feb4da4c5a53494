"""Log lines: one JSON object each (``--log-format json``, the default) or plain text, and
the access log, one line per request.

What a line may carry is decided here, not at each call: the access log is built from a
fixed set of fields (never a header, a body or a query string), and SQL statement errors are
shown without their parameters, since those can hold credential hashes and sealed secrets."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any

from sqlalchemy.exc import StatementError

FORMATS = ("json", "text")
ACCESS_LOGGER = "ssooidc.access"
QUIET = ("alembic", "httpx", "httpcore")
#: uvicorn's own loggers go through ours (same format, same stream).
UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.asgi")
MAX_PATH = 256
MAX_FIELD = 1024


def _hide_statement_parameters(exc: BaseException | None) -> None:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, StatementError):
            exc.hide_parameters = True
        exc = exc.__cause__ or exc.__context__


def iso_time(created: float) -> str:
    """``2026-01-31T12:00:00.123Z``."""
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        + f".{int(created * 1000) % 1000:03d}Z"
    )


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "pid"}``, plus ``request_id`` when the record
    carries one and ``exception`` (the traceback text) when it has one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"))

    def formatException(self, ei: Any) -> str:
        _hide_statement_parameters(ei[1])
        return super().formatException(ei)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record.created)

    def formatException(self, ei: Any) -> str:
        _hide_statement_parameters(ei[1])
        return super().formatException(ei)


def configure_logging(level: str, log_format: str = "json") -> None:
    """Every log record of the process (uvicorn's too) in ``log_format`` on standard error."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in UVICORN:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


class AccessLog:
    """One line per request, written straight to standard error.

    It bypasses the ``logging`` machinery (a record, a formatter and a lock cost about
    10 µs): the line is assembled from known fields, the untrusted ones JSON-escaped, and
    written with one ``write`` call, which keeps lines whole when several workers share the
    stream (a pipe keeps writes of up to 4 KiB whole; fields are cut to keep lines short)."""

    def __init__(self, log_format: str = "json", *, enabled: bool = True, fd: int = 2) -> None:
        if log_format not in FORMATS:
            raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
        self.json = log_format == "json"
        self.enabled = enabled
        self._fd = fd
        self._pid = os.getpid()
        self._second = -1
        self._stamp = ""

    def _time(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int(now * 1000) % 1000:03d}Z"

    def request(
        self,
        *,
        request_id: str,
        method: str,
        path: str,
        operation: str,
        status: int,
        error: str | None,
        duration: float,
        client: str | None,
        principal: str | None = None,
        application: str | None = None,
        grant: str | None = None,
    ) -> None:
        if not self.enabled:
            return
        stamp = self._time(time.time())
        level = "error" if status >= 500 else "info"
        if self.json:
            line = (
                f'{{"time":"{stamp}","level":"{level}","logger":"{ACCESS_LOGGER}",'
                f'"request_id":{_json_str(request_id)},"method":{_json_str(method[:16])},'
                f'"path":{_json_str(path[:MAX_PATH])},"operation":{_json_str(operation)},'
                f'"status":{int(status)},"error":{_opt(error)},'
                f'"duration_ms":{duration * 1000:.3f},"client":{_opt(client)},'
                f'"principal":{_opt(principal)},"application":{_opt(application)},'
                f'"grant":{_opt(grant)},"pid":{self._pid}}}\n'
            )
        else:
            line = (
                f"{stamp} {level.upper()} {ACCESS_LOGGER} {request_id} {_text(method[:16])} "
                f"{_text(path[:MAX_PATH])} {_text(operation)} {int(status)} {_text(error)} "
                f"{duration * 1000:.3f}ms client={_text(client)} principal={_text(principal)} "
                f"application={_text(application)} grant={_text(grant)}\n"
            )
        self._write(line.encode("ascii", "backslashreplace"))

    def _write(self, data: bytes) -> None:
        try:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError:
            pass  # a closed or full stream must not fail the request


def _opt(value: str | None) -> str:
    return "null" if value is None else _json_str(value[:MAX_FIELD])


def _text(value: str | None) -> str:
    if value is None or value == "":
        return "-"
    return _json_str(value[:MAX_FIELD])[1:-1].replace(" ", "\\u0020")
