"""Settings of the service, passed to every worker process through the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    db: str
    read_db: str | None = None
    max_upload_mb: float = 256.0
    #: Seconds a submission waits for another writer before the service answers 503.
    lock_timeout_s: float = 5.0
    #: The log's private key file (``reetrace keys init``): with it, submissions get a signed Merkle
    #: receipt and ``/v1/log/checkpoint`` publishes a signed checkpoint.
    log_key: str | None = None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def to_env(self) -> dict[str, str]:
        env = {
            "REETRACE_DB": self.db,
            "REETRACE_MAX_UPLOAD_MB": str(self.max_upload_mb),
            "REETRACE_LOCK_TIMEOUT": str(self.lock_timeout_s),
        }
        if self.read_db:
            env["REETRACE_READ_DB"] = self.read_db
        if self.log_key:
            env["REETRACE_LOG_KEY"] = self.log_key
        return env

    @classmethod
    def from_env(cls) -> Settings:
        from reetrace import resolve_url

        return cls(
            db=resolve_url(None),
            read_db=os.environ.get("REETRACE_READ_DB") or None,
            max_upload_mb=float(os.environ.get("REETRACE_MAX_UPLOAD_MB", "256")),
            lock_timeout_s=float(os.environ.get("REETRACE_LOCK_TIMEOUT", "5")),
            log_key=os.environ.get("REETRACE_LOG_KEY") or None,
        )
