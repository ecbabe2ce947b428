"""`captionist servers …`: the inference servers photos may be captioned on (issue 13).

    servers add URL [--name N] [--key-env VAR | --key-stdin] [--model NAME]
                    [--allow-self-signed] [--slots N]
    servers list [--json]          name, url, model, enabled, key source, warnings
    servers test [NAME]            probe + one real caption of a sample photo
    servers remove NAME
    servers enable|disable NAME
    servers mode [local|servers|both]

API keys are never printed: `list` says where a key is kept (keychain or environment
variable). `worker` and `caption` take `--server URL` (repeatable) for a one-off run:
`one_off_servers(args)` turns them into entries that are never stored.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from app.cli.output import EXIT_FAILED, EXIT_USAGE, fail, print_json
from app.core.library.library import Library
from app.core.servers.checks import OK, check_server, sample_jpeg
from app.core.servers.keychain import KeyProblem
from app.core.servers.registry import (
    MODE_WORDS,
    MODES,
    RegistryError,
    ServerEntry,
    ServerRegistry,
    default_name,
    normalise_url,
    privacy_statement,
    warnings,
)

EPILOG = """\
Photos are sent only to servers added here, and only while `servers mode` is
"servers" or "both". API keys are kept in the OS keychain (--key-stdin) or read from
an environment variable at each run (--key-env VAR); never in the library."""


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    servers = sub.add_parser(
        "servers",
        parents=[common],
        help="inference servers (llama-server, vLLM, Ollama…) to caption on",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    actions = servers.add_subparsers(dest="servers_command", metavar="ACTION", required=True)
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print JSON")
    parents = [common, json_flag]

    add = actions.add_parser("add", parents=parents, help="add a server")
    add.add_argument("url", metavar="URL", help="e.g. http://192.168.1.5:8080")
    add.add_argument("--name", metavar="N", help="a name to use it by (default: the host)")
    key = add.add_mutually_exclusive_group()
    key.add_argument("--key-env", metavar="VAR", help="read the API key from variable VAR")
    key.add_argument(
        "--key-stdin",
        action="store_true",
        help="read the API key from standard input and keep it in the OS keychain",
    )
    add.add_argument("--model", metavar="NAME", help="model to request (default: the server's)")
    add.add_argument(
        "--allow-self-signed",
        action="store_true",
        help="accept the server's self-signed TLS certificate",
    )
    add.add_argument("--slots", type=int, metavar="N", help="requests at once (default: ask it)")

    actions.add_parser("list", parents=parents, help="list the servers")
    test = actions.add_parser(
        "test", parents=parents, help="check a server (or all) and caption a sample photo"
    )
    test.add_argument("name", nargs="?", metavar="NAME")
    for action, words in (
        ("remove", "remove a server (and its stored key)"),
        ("enable", "caption on this server again"),
        ("disable", "stop sending photos to this server"),
    ):
        actions.add_parser(action, parents=parents, help=words).add_argument("name", metavar="NAME")
    mode = actions.add_parser("mode", parents=parents, help="who captions (no word: show it)")
    mode.add_argument("mode", nargs="?", choices=MODES)


def add_server_option(parser: argparse.ArgumentParser) -> None:
    """`--server URL` on `worker` and `caption`: a one-off run on these servers."""
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="URL",
        help="caption on this inference server for this run only (repeatable; not stored)",
    )


def one_off_servers(args: argparse.Namespace) -> list[ServerEntry]:
    """The `--server URL` options as entries (named after their host), checked; never
    stored. RegistryError for an address that is not one."""
    entries: list[ServerEntry] = []
    for url in getattr(args, "server", None) or []:
        clean = normalise_url(url)
        name = default_name(clean, [e.name for e in entries])
        entries.append(ServerEntry(name=name, url=clean))
    return entries


def server_args(args: argparse.Namespace) -> list[str]:
    """The `--server` options again, for the worker process a `caption` run starts."""
    return [part for url in getattr(args, "server", None) or [] for part in ("--server", url)]


def cmd_servers(library: Library, args: argparse.Namespace) -> int:
    registry = ServerRegistry(library.settings)
    action = args.servers_command
    try:
        if action == "add":
            return _add(registry, args)
        if action == "list":
            return _list(registry, args)
        if action == "test":
            return _test(registry, args)
        if action == "remove":
            removed = registry.remove(args.name)
            return _said(args, f"removed {removed.shown()}", {"removed": removed.name})
        if action in ("enable", "disable"):
            entry = registry.set_enabled(args.name, action == "enable")
            return _said(args, f"{entry.name}: {action}d", _entry_json(entry))
        return _mode(registry, args)
    except RegistryError as exc:
        return fail(args, str(exc), EXIT_USAGE)
    except KeyProblem as exc:
        return fail(args, str(exc), EXIT_FAILED)


def _add(registry: ServerRegistry, args: argparse.Namespace) -> int:
    if args.slots is not None and args.slots < 1:
        return fail(args, f"--slots must be 1 or more (got {args.slots})", EXIT_USAGE)
    api_key = _read_key() if args.key_stdin else None
    if args.key_stdin and not api_key:
        return fail(args, "--key-stdin read no key (an empty line)", EXIT_USAGE)
    entry = registry.add(
        args.url,
        name=args.name,
        model=args.model,
        api_key=api_key,
        key_env=args.key_env,
        allow_self_signed=args.allow_self_signed,
        slots=args.slots,
    )
    if args.json:
        print_json(_entry_json(entry))
        return 0
    print(f"added {entry.shown()}; key: {entry.key_source()}")
    for warning in warnings(entry):
        print(f"warning: {warning}", file=sys.stderr)
    if registry.mode() == "local":
        print("captioning is set to this computer: `captionist servers mode servers` (or both)")
    print("check it with `captionist servers test " + _quoted(entry.name) + "`")
    return 0


def _read_key() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("API key (not shown): ").strip()
    return sys.stdin.readline().strip()


def _list(registry: ServerRegistry, args: argparse.Namespace) -> int:
    entries, mode = registry.list(), registry.mode()
    privacy = privacy_statement(entries, mode)
    if args.json:
        print_json(
            {"mode": mode, "servers": [_entry_json(e) for e in entries], "privacy": privacy},
            indent=2,
        )
        return 0
    print(f"captioning on: {MODE_WORDS[mode]}")
    if not entries:
        print("no servers yet: add one with `captionist servers add URL`")
    for entry in entries:
        state = "enabled" if entry.enabled else "disabled"
        print(
            f"{entry.name}  {entry.url}  model: {entry.model or 'server default'}  {state}  "
            f"key: {entry.key_source()}"
        )
        for warning in warnings(entry):
            print(f"    warning: {warning}")
    print(privacy)
    return 0


def _test(registry: ServerRegistry, args: argparse.Namespace) -> int:
    entries = [registry.get(args.name)] if args.name else registry.list()
    if not entries:
        return fail(args, "no servers yet: add one with `captionist servers add URL`", EXIT_USAGE)
    jpeg = sample_jpeg()
    reports = []
    for entry in entries:
        report = check_server(entry, jpeg)
        reports.append(report)
        if not args.json:
            mark = "ok" if report.status == OK else "FAILED"
            print(f"{entry.name}: {mark}: {report.summary()}", flush=True)
            if report.caption:
                print(f"    {report.caption}")
    if args.json:
        print_json([r.to_json() for r in reports], indent=2)
    return 0 if all(r.status == OK for r in reports) else EXIT_FAILED


def _mode(registry: ServerRegistry, args: argparse.Namespace) -> int:
    if args.mode:
        registry.set_mode(args.mode)
    mode = registry.mode()
    privacy = privacy_statement(registry.list(), mode)
    if args.json:
        print_json({"mode": mode, "privacy": privacy})
    else:
        print(f"captioning on: {MODE_WORDS[mode]}\n{privacy}")
    return 0


def _said(args: argparse.Namespace, text: str, data: dict[str, Any]) -> int:
    if args.json:
        print_json(data)
    else:
        print(text)
    return 0


def _entry_json(entry: ServerEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "url": entry.url,
        "model": entry.model,
        "enabled": entry.enabled,
        "key": entry.key_source(),
        "allow_self_signed": entry.allow_self_signed,
        "slots": entry.slots,
        "warnings": warnings(entry),
    }


def _quoted(name: str) -> str:
    return name if name.replace("-", "").replace(".", "").isalnum() else repr(name)
