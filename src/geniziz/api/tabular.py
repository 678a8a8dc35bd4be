"""CSV answers for actions that return tables (reports): asked for with ``Accept: text/csv``."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

CSV = "text/csv"


def wants_csv(request: Request) -> bool:
    """Only an explicit ask: JSON stays the default for ``*/*`` and for no Accept header."""
    return CSV in request.headers.get("accept", "").lower()


def csv_response(rows: list[dict[str, Any]]) -> Response:
    """One line per row; columns in first-seen order; nested values as JSON, None as empty."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()})
    return Response(out.getvalue(), media_type=f"{CSV}; charset=utf-8")
