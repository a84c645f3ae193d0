"""``reetrace serve``: the HTTP service."""

from __future__ import annotations

import os

import click

from reetrace.cli.common import db_option, errors_to_click
from reetrace.cli.tlog import log_key_option


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Worker processes.")
@db_option
@click.option("--read-db", metavar="URL",
              help="A streaming replica of --db for reads (lots, search, traces, audit, pages); writes, "
                   "tokens and a submitter's own receipts stay on --db.  [default: --db]")  # fmt: skip
@click.option("--max-upload-mb", default=256.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Largest submission accepted (413 beyond it).")  # fmt: skip
@click.option("--lock-timeout", default=5.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds a submission waits for another writer before answering 503.")  # fmt: skip
@log_key_option()
@errors_to_click
def serve_cmd(
    host: str, port: int, workers: int, db: str, read_db: str | None, max_upload_mb: float,
    lock_timeout: float, log_key: str | None,
) -> None:  # fmt: skip
    """Serve the JSON API (/v1, OpenAPI at /openapi.json, docs at /docs, /health) with uvicorn.

    Stateless: run any number of workers and hosts over one PostgreSQL. Refuses to start without an
    admin principal (reetrace principal add NAME --role admin). With --log-key, every submission answers
    with a signed Merkle receipt and GET /v1/log/checkpoint publishes the signed checkpoint (the
    /v1/log endpoints need no token). With --read-db, a replica that does not answer makes reads answer
    503 while writes go on; /health reports both databases.

    Example: reetrace serve --db postgresql://reetrace@db/reetrace --workers 4 --log-key log.key
    """
    import uvicorn

    from reetrace.service.app import NoAdmin, create_app
    from reetrace.service.config import Settings
    from reetrace.service.http import HTTP_PROTOCOL
    from reetrace.tlog.keys import KeyFileError

    key = os.path.abspath(log_key) if log_key else None  # the workers may not share our directory
    settings = Settings(db, read_db, max_upload_mb, lock_timeout, log_key=key)
    try:
        create_app(settings).state.store.dispose()  # fail here, once, not in every worker
    except (NoAdmin, KeyFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    os.environ.update(settings.to_env())
    uvicorn.run(
        "reetrace.service.app:app_from_env", factory=True, host=host, port=port, workers=workers,
        log_level="info", server_header=False, http=HTTP_PROTOCOL,
    )  # fmt: skip
