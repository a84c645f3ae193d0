"""JSON out: orjson, with times as ISO 8601."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


def to_json(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str)


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return to_json(content)
