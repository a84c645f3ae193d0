"""Commands of the transparency log: keys, receipts, proofs, the witness (docs/transparency-log.md)."""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reetrace.cli.common import db_option, errors_to_click, json_option, print_json, store_for

if TYPE_CHECKING:
    from reetrace.tlog.keys import Signer

F = TypeVar("F", bound=Callable[..., Any])

#: Exit status of ``reetrace witness`` when the log contradicts the held checkpoint.
EXIT_FORK = 3
EXIT_INCONSISTENT = 4


def log_key_option(required: bool = False) -> Callable[[F], F]:
    return click.option(
        "--log-key",
        "log_key",
        envvar="REETRACE_LOG_KEY",
        required=required,
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="The log's private key file (env REETRACE_LOG_KEY), from `reetrace keys init`.",
    )


def load_signer(path: str) -> Signer:
    from reetrace.tlog.keys import KeyFileError, load_key

    try:
        return load_key(path)
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from exc


def read_verifier_key(value: str) -> str:
    """A verifier key given as the string itself or as a file holding it."""
    p = Path(value)
    if "+" not in value or p.is_file():
        try:
            return p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise click.BadParameter(f"{value}: not a verifier key, nor a readable file") from exc
    return value


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# -- keys ---------------------------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """The log's signing key."""


@keys_group.command("init")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False), help="Key file to create.")
@click.option("--name", required=True, help="The log's name (origin of its checkpoints).")
@errors_to_click
def keys_init(key_file: str, name: str) -> None:
    """Create a new Ed25519 log key (mode 0600, never overwritten); print its verifier key.

    Give the printed verifier key to everyone who checks receipts or runs a witness.

    Example: reetrace keys init --key log.key --name reetrace.example.gov.cn/log > log.pub
    """
    from reetrace.tlog.keys import KeyFileError, generate_key

    try:
        click.echo(generate_key(key_file, name))
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("sign")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--enterprise", "-e", required=True)
@click.option("--period", "-p", required=True, metavar="YYYY-MM")
@click.option(
    "--key", "key_file", required=True, type=click.Path(dir_okay=False), help="Enterprise key file."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Default: FILE.sig")
@errors_to_click
def sign_cmd(file: str, enterprise: str, period: str, key_file: str, output: str | None) -> None:
    """Sign a submission file as the enterprise: a detached signature over (enterprise, period,
    SHA-256 of FILE), to give to `reetrace submit --signature`.

    Example: reetrace sign NMMINE-2025-03.jsonl -e NMMINE -p 2025-03 --key nmmine.key
    """
    import hashlib

    from reetrace.intake.signatures import sign_submission
    from reetrace.periods import Period

    signer = load_signer(key_file)
    digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()
    note = sign_submission(signer, enterprise, str(Period.parse(period)), digest)
    target = Path(output or f"{file}.sig")
    target.write_text(note, encoding="utf-8")
    key = f"{signer.name}+{signer.key_id.hex()}"
    click.echo(f"wrote {target}: {enterprise} {period} SHA-256 {digest} signed by {key}")


# -- receipts -----------------------------------------------------------------------------------------


@click.group("receipt")
def receipt_group() -> None:
    """Submission receipts: check one anywhere, or fetch one again from the store."""


@receipt_group.command("verify")
@click.argument("receipt", type=click.Path(dir_okay=False, exists=True, allow_dash=True))
@click.option("--log-key", "pubkey", required=True, metavar="PUBKEY", help="Verifier key (string or file).")
@click.option("--file", "data_file", type=click.Path(dir_okay=False, exists=True), help="The submitted file.")
@json_option
def receipt_verify(receipt: str, pubkey: str, data_file: str | None, as_json: bool) -> None:
    """Check a receipt with the log's verifier key alone: no database, no network.

    Exits 0 when the receipt is valid (and the file, if given, is the one recorded), 1 otherwise.

    Example: reetrace receipt verify NMMINE-2025-03.receipt.json --log-key log.pub --file NMMINE-2025-03.jsonl
    """
    from reetrace.verifier import VerificationError, verify_receipt

    raw = sys.stdin.buffer.read() if receipt == "-" else Path(receipt).read_bytes()
    data = Path(data_file).read_bytes() if data_file else None
    try:
        ok = verify_receipt(raw, read_verifier_key(pubkey), data)
    except VerificationError as exc:
        raise click.ClickException(f"receipt INVALID: {exc}") from exc
    rec = ok.record
    if as_json:
        print_json({
            "valid": True, "record": rec, "envelope_position": ok.envelope_position,
            "first_event": ok.first_event, "last_event": ok.last_event,
            "events": len(ok.event_leaf_hashes), "file_checked": data is not None,
            "checkpoint": {"origin": ok.checkpoint.origin, "size": ok.checkpoint.size,
                           "root": _b64(ok.checkpoint.root)},
        })  # fmt: skip
        return
    file_note = "; the file is the one recorded" if data is not None else ""
    click.echo(
        f"receipt valid: {rec['enterprise']} {rec['period']} received {rec['received_at']}, file "
        f"SHA-256 {rec['digest']}, envelope at position {ok.envelope_position}, "
        f"{len(ok.event_leaf_hashes)} events at {ok.first_event}..{ok.last_event}, in the log "
        f"{ok.checkpoint.origin} of size {ok.checkpoint.size}{file_note}"
    )


@receipt_group.command("get")
@click.option("--enterprise", "-e", required=True)
@click.option("--period", "-p", required=True, metavar="YYYY-MM")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@log_key_option(required=True)
@db_option
@errors_to_click
def receipt_get(enterprise: str, period: str, output: str | None, log_key: str, db: str) -> None:
    """A receipt for the latest recorded submission of an enterprise's period, against a checkpoint of
    the log as it is now.

    Example: reetrace receipt get -e NMMINE -p 2025-03 --log-key log.key -o NMMINE-2025-03.receipt.json
    """
    from reetrace.transparency import receipt_for

    signer = load_signer(log_key)
    with store_for(db) as store:
        text = receipt_for(store, signer, enterprise, period)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


# -- proofs -------------------------------------------------------------------------------------------


@click.group("proof")
def proof_group() -> None:
    """RFC 9162 proofs from the stored tree."""


@proof_group.command("consistency")
@click.option("--from", "first", required=True, type=int, help="The older tree size.")
@click.option("--to", "second", required=True, type=int, help="The newer tree size.")
@db_option
@json_option
@errors_to_click
def proof_consistency(first: int, second: int, db: str, as_json: bool) -> None:
    """The consistency proof that the log of size FROM is a prefix of the log of size TO
    (one base64 hash a line; with --json also both roots).

    Example: reetrace proof consistency --from 1042 --to 2000 --json
    """
    from reetrace.transparency import consistency_proof, root_at

    with store_for(db) as store:
        proof = consistency_proof(store, first, second)
        roots = (root_at(store, first), root_at(store, second)) if as_json else None
    if roots is not None:
        print_json({"from": first, "to": second, "from_root": _b64(roots[0]), "to_root": _b64(roots[1]),
                    "proof": [_b64(h) for h in proof]})  # fmt: skip
        return
    for h in proof:
        click.echo(_b64(h))


@proof_group.command("inclusion")
@click.option("--position", required=True, type=int, help="Log position of the record.")
@click.option("--size", required=True, type=int, help="Tree size the proof is for.")
@db_option
@json_option
@errors_to_click
def proof_inclusion(position: int, size: int, db: str, as_json: bool) -> None:
    """The inclusion proof of the record at POSITION (leaf POSITION-1) in the log of size SIZE.

    Example: reetrace proof inclusion --position 17 --size 40 --json
    """
    from reetrace.transparency import inclusion_proof

    with store_for(db) as store:
        leaf, proof, root = inclusion_proof(store, position, size)
    if as_json:
        print_json({"position": position, "size": size, "leaf_hash": _b64(leaf), "root": _b64(root),
                    "proof": [_b64(h) for h in proof]})  # fmt: skip
        return
    for h in proof:
        click.echo(_b64(h))


# -- witness ------------------------------------------------------------------------------------------


@click.command("witness")
@click.option("--state", "state_file", required=True, type=click.Path(dir_okay=False), help="Witness state.")
@click.option("--log-key", "pubkey", required=True, metavar="PUBKEY", help="Verifier key (string or file).")
@click.option("--db", "db", metavar="URL", help="Read the log from this database.")
@click.option("--server", "server", metavar="URL",
              help="Read the log from a reetrace service's public /v1/log endpoints (no token).")  # fmt: skip
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds per request to --server.")  # fmt: skip
def witness_cmd(state_file: str, pubkey: str, db: str | None, server: str | None, timeout: float) -> None:
    """Check the log's latest signed checkpoint against the one this witness holds, and hold it if the
    log only grew (a valid consistency proof). The log is read from a database (--db) or from the
    service (--server): exactly one of them.

    Exit status: 0 consistent (or first run), 1 something did not verify or the source could not be
    read, 3 FORK (two roots for one size), 4 the new tree does not extend the held one (history
    rewritten, or the log shrank). The state file is kept unchanged on any failure.

    Example: reetrace witness --state witness.json --log-key log.pub --server https://reetrace.example.gov.cn
    """
    from contextlib import ExitStack

    from reetrace.errors import ReetraceError
    from reetrace.verifier import VerificationError
    from reetrace.witness import HttpSource, LogSource, SourceError, WitnessAlarm, witness

    if (db is None) == (server is None):
        raise click.UsageError("give exactly one of --db URL and --server URL")
    vkey = read_verifier_key(pubkey)
    with ExitStack() as stack:
        source: LogSource
        if server is not None:
            if not server.startswith(("http://", "https://")):
                raise click.BadParameter(f"{server}: not an http:// or https:// URL", param_hint="--server")
            source = stack.enter_context(HttpSource(server, timeout=timeout))
        else:
            from reetrace.transparency import StoreSource

            assert db is not None
            source = StoreSource(stack.enter_context(store_for(db)))
        try:
            result = witness(source, vkey, state_file)
        except WitnessAlarm as exc:
            click.echo(f"reetrace witness: {exc}", err=True)
            sys.exit(EXIT_FORK if exc.kind == "FORK" else EXIT_INCONSISTENT)
        except SourceError as exc:
            raise click.ClickException(f"cannot read the log: {exc}") from exc
        except (VerificationError, ReetraceError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(result.message())
