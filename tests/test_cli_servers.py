"""`captionist servers …` and `--server URL`: each command, its JSON and exit codes, with
the server checks replaced by a named double and the keychain by an in-memory one."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from app.cli.main import build_parser, main
from app.cli.output import EXIT_FAILED, EXIT_USAGE
from app.cli.servers import one_off_servers, server_args
from app.core.datadir import DataDir
from app.core.servers.keychain import SERVICE
from app.core.servers.registry import ServerEntry
from app.core.settings import Settings
from app.core.storage.db import Database
from tests.servers_support import (
    LLAMA,
    FakeServerChecks,
    InMemoryKeyring,
    checks_installed,
    keychain,
    no_keychain,
)


@pytest.fixture
def memory_keyring() -> Iterator[InMemoryKeyring]:
    with keychain(InMemoryKeyring()) as backend:
        assert isinstance(backend, InMemoryKeyring)
        yield backend


@pytest.fixture
def fake_checks() -> Iterator[FakeServerChecks]:
    with checks_installed(FakeServerChecks({"http://127.0.0.1:8080": LLAMA})) as checks:
        yield checks


def servers(
    capsys: pytest.CaptureFixture[str], data_dir: DataDir, *args: str
) -> tuple[int, str, str]:
    code = main(["--data-dir", str(data_dir.root), "servers", *args])
    out, err = capsys.readouterr()
    return code, out, err


def stored(data_dir: DataDir) -> list[dict[str, object]]:
    db = Database(data_dir.database)
    try:
        return Settings(db).read().inference_servers
    finally:
        db.close()


def test_add_then_list_as_text_and_json(
    capsys: pytest.CaptureFixture[str], data_dir: DataDir
) -> None:
    code, out, err = servers(
        capsys, data_dir, "add", "http://192.168.1.5:8080", "--name", "gpu-box", "--slots", "4"
    )
    assert code == 0
    assert "added gpu-box (http://192.168.1.5:8080); key: none" in out
    assert "plain http://" in err  # a LAN address over http warns

    code, out, _ = servers(capsys, data_dir, "list")
    assert code == 0
    assert "gpu-box  http://192.168.1.5:8080  model: server default  enabled  key: none" in out
    assert "captioning on: this computer" in out

    code, out, _ = servers(capsys, data_dir, "list", "--json")
    listed = json.loads(out)
    assert listed["mode"] == "local"
    (entry,) = listed["servers"]
    assert entry["name"] == "gpu-box" and entry["slots"] == 4 and entry["enabled"] is True
    assert entry["key"] == "none" and len(entry["warnings"]) == 1
    assert listed["privacy"].startswith("Photos stay on this computer")


def test_key_from_stdin_goes_to_the_keychain_and_is_never_printed(
    capsys: pytest.CaptureFixture[str],
    data_dir: DataDir,
    memory_keyring: InMemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-top-secret\n"))
    code, out, err = servers(capsys, data_dir, "add", "https://gpu-box:8443", "--key-stdin")
    assert code == 0 and "key: keychain" in out
    assert [s for s, _ in memory_keyring.secrets] == [SERVICE]
    assert list(memory_keyring.secrets.values()) == ["sk-top-secret"]

    _, listed, _ = servers(capsys, data_dir, "list", "--json")
    assert "sk-top-secret" not in listed + out + err
    assert "sk-top-secret" not in repr(stored(data_dir))


def test_key_stdin_without_a_keychain_says_use_key_env(
    capsys: pytest.CaptureFixture[str], data_dir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("sk\n"))
    with keychain(no_keychain()):
        code, out, err = servers(
            capsys, data_dir, "add", "https://gpu-box:8443", "--key-stdin", "--json"
        )
    assert code == EXIT_FAILED
    assert "--key-env VAR" in err and json.loads(out)["exit_code"] == EXIT_FAILED
    assert stored(data_dir) == []


def test_bad_address_and_duplicate_name_exit_with_usage(
    capsys: pytest.CaptureFixture[str], data_dir: DataDir
) -> None:
    code, out, err = servers(capsys, data_dir, "add", "gpu-box:8080", "--json")
    assert code == EXIT_USAGE and "http:// or https://" in err
    assert json.loads(out)["exit_code"] == EXIT_USAGE

    assert servers(capsys, data_dir, "add", "http://a:1", "--name", "x")[0] == 0
    code, _, err = servers(capsys, data_dir, "add", "http://b:1", "--name", "x")
    assert code == EXIT_USAGE and "already a server named 'x'" in err
    code, _, err = servers(capsys, data_dir, "add", "http://c:1", "--slots", "0")
    assert code == EXIT_USAGE and "--slots" in err


def test_test_probes_and_captions_a_sample_photo(
    capsys: pytest.CaptureFixture[str],
    data_dir: DataDir,
    fake_checks: FakeServerChecks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOCAL_KEY", "k1")
    servers(
        capsys, data_dir, "add", "http://127.0.0.1:8080", "--name", "here", "--key-env", "LOCAL_KEY"
    )

    code, out, _ = servers(capsys, data_dir, "test", "here")
    assert code == 0
    assert "here: ok: llama-server · 12 ms · 4 slots · 0.4 s per photo" in out
    assert "A red ball on a sandy beach" in out
    assert fake_checks.calls == [
        ("probe", "http://127.0.0.1:8080", "k1"),
        ("caption", "http://127.0.0.1:8080", "k1"),
    ]

    servers(capsys, data_dir, "add", "http://10.9.9.9:8080", "--name", "gone")
    code, out, _ = servers(capsys, data_dir, "test", "--json")  # every server
    assert code == EXIT_FAILED
    here, gone = json.loads(out)
    assert here["status"] == "ok" and here["seconds_per_photo"] == 0.42
    assert here["models"] == ["qwen2.5-vl-3b", "smolvlm-256m"]
    assert gone["status"] == "unhealthy" and "not answering" in gone["error"]


def test_test_with_nothing_or_an_unknown_name(
    capsys: pytest.CaptureFixture[str], data_dir: DataDir, fake_checks: FakeServerChecks
) -> None:
    code, _, err = servers(capsys, data_dir, "test")
    assert code == EXIT_USAGE and "servers add URL" in err
    code, _, err = servers(capsys, data_dir, "test", "nope")
    assert code == EXIT_USAGE and "no server named 'nope'" in err
    assert fake_checks.calls == []


def test_enable_disable_remove_and_mode(
    capsys: pytest.CaptureFixture[str], data_dir: DataDir
) -> None:
    servers(capsys, data_dir, "add", "https://gpu-box:8443")

    code, out, _ = servers(capsys, data_dir, "disable", "gpu-box", "--json")
    assert code == 0 and json.loads(out)["enabled"] is False
    code, out, _ = servers(capsys, data_dir, "mode", "servers")
    assert code == 0 and "captioning on: servers" in out and "No server is enabled" in out
    assert servers(capsys, data_dir, "enable", "gpu-box")[0] == 0
    code, out, _ = servers(capsys, data_dir, "mode", "--json")
    assert json.loads(out) == {
        "mode": "servers",
        "privacy": "Photos are sent to: gpu-box (https://gpu-box:8443). Only these servers "
        "receive them, as resized copies, never the original files.",
    }

    code, out, _ = servers(capsys, data_dir, "remove", "gpu-box")
    assert code == 0 and out.strip() == "removed gpu-box (https://gpu-box:8443)"
    assert stored(data_dir) == []
    code, _, err = servers(capsys, data_dir, "remove", "gpu-box")
    assert code == EXIT_USAGE and "no server named" in err
    with pytest.raises(SystemExit):  # argparse refuses an unknown mode
        main(["--data-dir", str(data_dir.root), "servers", "mode", "cloud"])


def test_server_option_on_worker_and_caption_is_parsed_into_one_off_entries() -> None:
    parser = build_parser()
    for command in ("worker", "caption"):
        args = parser.parse_args(
            [command, "--server", "http://gpu:8080/v1", "--server", "https://gpu:8443"]
        )
        assert one_off_servers(args) == [
            ServerEntry(name="gpu", url="http://gpu:8080"),
            ServerEntry(name="gpu-2", url="https://gpu:8443"),
        ]
        assert server_args(args) == [
            "--server",
            "http://gpu:8080/v1",
            "--server",
            "https://gpu:8443",
        ]
    assert one_off_servers(parser.parse_args(["worker"])) == []


def test_a_bad_one_off_server_stops_caption_before_anything_runs(
    capsys: pytest.CaptureFixture[str], data_dir: DataDir
) -> None:
    code = main(
        ["--data-dir", str(data_dir.root), "caption", "x.jpg", "--server", "nonsense", "--json"]
    )
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE and "--server: 'nonsense' is not a server address" in err
    assert json.loads(out)["exit_code"] == EXIT_USAGE
