"""The ``reetrace`` command line: a thin layer over the public library API (:mod:`reetrace`).

Each command parses its options, calls one library function and prints the result; library errors
become ``click.ClickException`` with their message. Commands live in modules by subject and are loaded
only when they run (click's lazy-group pattern), so ``reetrace --version`` or ``reetrace submit``
imports neither the audit nor matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

#: command name -> "module:attribute" of its click command
COMMANDS: dict[str, str] = {
    "init": "reetrace.cli.store:init_cmd",
    "registry": "reetrace.cli.store:registry_group",
    "submit": "reetrace.cli.store:submit_cmd",
    "verify": "reetrace.cli.store:verify_cmd",
    "checkpoint": "reetrace.cli.store:checkpoint_cmd",
    "lot": "reetrace.cli.store:lot_cmd",
    "events": "reetrace.cli.store:events_cmd",
    "audit": "reetrace.cli.audit:audit_cmd",
    "quota": "reetrace.cli.audit:quota_group",
    "submissions": "reetrace.cli.audit:submissions_group",
    "trace": "reetrace.cli.trace:trace_cmd",
    "generate": "reetrace.cli.dataset:generate_cmd",
    "load": "reetrace.cli.dataset:load_cmd",
    "demo": "reetrace.cli.dataset:demo_cmd",
    "principal": "reetrace.cli.principals:principal_group",
    "token": "reetrace.cli.principals:token_group",
    "serve": "reetrace.cli.serve:serve_cmd",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when they are invoked or listed, not at start-up."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, _, attr = self.lazy[cmd_name].partition(":")
        cmd = getattr(importlib.import_module(module), attr)
        if not isinstance(cmd, click.Command):
            raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
        return cmd


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="reetrace")
def main() -> None:
    """reetrace: product-flow traceability for rare earths.

    An append-only store of lot-to-lot events (SQLite by default, PostgreSQL for real
    deployments), traces of any lot back to its mines, separation plants and import entries,
    and audits that turn the records into findings.

    Every command takes --db URL (default sqlite:///reetrace.db, or $REETRACE_DB).
    The domain contract is in docs/README.md.
    """


__all__ = ["COMMANDS", "main"]
