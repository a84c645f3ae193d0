"""The ``reetrace`` command line: a thin layer over the library.

Each command parses its options, calls one library function and prints the result; library errors
become ``click.ClickException`` with their message. Commands live in modules by subject and are
registered on :data:`main` below.
"""

from __future__ import annotations

from reetrace.cli.audit import audit_cmd, quota_group, submissions_group
from reetrace.cli.common import main
from reetrace.cli.dataset import demo_cmd, generate_cmd, load_cmd
from reetrace.cli.store import (
    checkpoint_cmd,
    events_cmd,
    init_cmd,
    lot_cmd,
    registry_group,
    submit_cmd,
    verify_cmd,
)
from reetrace.cli.trace import trace_cmd

main.add_command(init_cmd)
main.add_command(registry_group)
main.add_command(submit_cmd)
main.add_command(verify_cmd)
main.add_command(checkpoint_cmd)
main.add_command(lot_cmd)
main.add_command(events_cmd)
main.add_command(audit_cmd)
main.add_command(quota_group)
main.add_command(submissions_group)

main.add_command(generate_cmd)
main.add_command(load_cmd)
main.add_command(demo_cmd)
main.add_command(trace_cmd)

__all__ = ["main"]
