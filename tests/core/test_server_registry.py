"""The server registry: entries in the library's settings, API keys in the keychain
(an in-memory double) or an environment variable, and the privacy words."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.servers.checks import OK, UNHEALTHY, check_server, sample_jpeg
from app.core.servers.keychain import SERVICE, KeyProblem, NoKeychain
from app.core.servers.registry import (
    BOTH,
    LOCAL,
    SERVERS,
    RegistryError,
    ServerEntry,
    ServerRegistry,
    config_for,
    normalise_url,
    privacy_statement,
    warnings,
)
from app.core.settings import Settings
from app.core.storage.db import Database
from tests.servers_support import (
    LLAMA,
    FakeServerChecks,
    InMemoryKeyring,
    keychain,
    no_keychain,
)


@pytest.fixture
def memory_keyring() -> Iterator[InMemoryKeyring]:
    with keychain(InMemoryKeyring()) as backend:
        assert isinstance(backend, InMemoryKeyring)
        yield backend


@pytest.fixture
def registry(db: Database) -> ServerRegistry:
    return ServerRegistry(Settings(db))


def test_added_servers_are_stored_in_the_library_settings(
    db: Database, registry: ServerRegistry
) -> None:
    entry = registry.add("http://192.168.1.5:8080/v1/", model="qwen2.5-vl-3b", slots=4)

    assert entry == ServerEntry(
        name="192.168.1.5", url="http://192.168.1.5:8080", model="qwen2.5-vl-3b", slots=4
    )
    again = ServerRegistry(Settings(db))  # a second reader sees the same list
    assert again.list() == [entry]
    assert again.get("192.168.1.5") == entry


def test_names_default_to_the_host_and_stay_unique(registry: ServerRegistry) -> None:
    first = registry.add("http://gpu-box:8080")
    second = registry.add("https://GPU-box:8443")
    named = registry.add("http://10.0.0.2:11434", name="ollama")

    assert (first.name, second.name, named.name) == ("gpu-box", "gpu-box-2", "ollama")
    assert second.url == "https://gpu-box:8443"
    with pytest.raises(RegistryError, match="already a server named"):
        registry.add("http://10.0.0.3:8080", name="OLLAMA")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("192.168.1.5:8080", "http:// or https://"),
        ("ftp://host:21", "only http:// and https://"),
        ("http://:8080", "names no host"),
        ("http://host:99999", "port"),
        ("http://host:0", "port"),
        ("http://user:secret@host:8080", "password"),
        ("http://host:8080/?key=1", "query"),
    ],
)
def test_bad_addresses_are_refused_with_a_reason(
    registry: ServerRegistry, url: str, words: str
) -> None:
    with pytest.raises(RegistryError, match=words):
        registry.add(url)
    assert registry.list() == []


def test_ipv6_and_paths_are_kept() -> None:
    assert normalise_url("http://[::1]:8080/") == "http://[::1]:8080"
    assert normalise_url("https://box.example/llm/v1") == "https://box.example/llm"


def test_update_enable_and_remove(registry: ServerRegistry) -> None:
    registry.add("http://gpu-box:8080")
    registry.add("http://other:8080")

    renamed = registry.update("gpu-box", name="big", model="m", slots=2, allow_self_signed=True)
    assert renamed.name == "big" and renamed.model == "m" and renamed.slots == 2
    assert registry.set_enabled("big", False).enabled is False
    assert [e.name for e in registry.list()] == ["big", "other"]  # order kept
    with pytest.raises(RegistryError, match="already a server named"):
        registry.update("big", name="other")
    with pytest.raises(RegistryError, match="slots"):
        registry.update("big", slots=0)
    with pytest.raises(RegistryError, match="no field"):
        registry.update("big", colour="red")

    registry.remove("big")
    assert [e.name for e in registry.list()] == ["other"]
    with pytest.raises(RegistryError, match="no server named 'big'"):
        registry.get("big")


def test_an_api_key_goes_to_the_keychain_never_the_database(
    db: Database, registry: ServerRegistry, memory_keyring: InMemoryKeyring
) -> None:
    entry = registry.add("https://gpu-box:8443", api_key="sk-very-secret")

    assert entry.key_source() == "keychain"
    assert list(memory_keyring.secrets.values()) == ["sk-very-secret"]
    assert all(service == SERVICE for service, _ in memory_keyring.secrets)
    stored = Settings(db).read().inference_servers
    assert "sk-very-secret" not in repr(stored)
    assert config_for(entry).api_key == "sk-very-secret"

    # renaming keeps the key; a new key replaces it in place; removing forgets it
    renamed = registry.update("gpu-box", name="big")
    assert config_for(renamed).api_key == "sk-very-secret"
    registry.update("big", api_key="sk-new")
    assert list(memory_keyring.secrets.values()) == ["sk-new"]
    registry.remove("big")
    assert memory_keyring.secrets == {}


def test_the_key_can_come_from_an_environment_variable(
    registry: ServerRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = registry.add("https://gpu-box:8443", key_env="GPU_BOX_KEY")
    assert entry.key_source() == "environment variable GPU_BOX_KEY"

    monkeypatch.delenv("GPU_BOX_KEY", raising=False)
    with pytest.raises(KeyProblem, match="GPU_BOX_KEY, which is not set"):
        config_for(entry)
    monkeypatch.setenv("GPU_BOX_KEY", "from-env")
    assert config_for(entry).api_key == "from-env"
    with pytest.raises(RegistryError, match="not an environment variable name"):
        registry.add("http://x:1", key_env="NOT A NAME")


def test_without_a_keychain_the_user_is_pointed_at_key_env(registry: ServerRegistry) -> None:
    with keychain(no_keychain()):
        with pytest.raises(NoKeychain, match="no keychain.*--key-env VAR"):
            registry.add("https://gpu-box:8443", api_key="sk-secret")
        assert registry.list() == []  # nothing half-added
        entry = registry.add("https://gpu-box:8443", key_env="GPU_KEY")  # the fallback works
        registry.remove(entry.name)


def test_a_key_gone_from_the_keychain_is_said(
    registry: ServerRegistry, memory_keyring: InMemoryKeyring
) -> None:
    entry = registry.add("https://gpu-box:8443", api_key="sk")
    memory_keyring.secrets.clear()
    with pytest.raises(KeyProblem, match="no longer in the keychain"):
        config_for(entry)


def test_the_mode_is_local_by_default_and_checked(registry: ServerRegistry) -> None:
    assert registry.mode() == LOCAL
    registry.set_mode(BOTH)
    assert registry.mode() == BOTH
    with pytest.raises(RegistryError, match="local, servers, both"):
        registry.set_mode("cloud")


def test_privacy_words_name_every_enabled_server() -> None:
    box = ServerEntry("gpu-box", "http://192.168.1.5:8080")
    off = ServerEntry("old", "http://10.0.0.9:8080", enabled=False)

    said = privacy_statement([box, off], SERVERS)
    assert said.startswith("Photos are sent to: gpu-box (http://192.168.1.5:8080).")
    assert "old" not in said
    assert "also captioned on this computer" in privacy_statement([box], BOTH)
    assert privacy_statement([box], LOCAL).startswith("Photos stay on this computer")
    assert privacy_statement([], LOCAL) == "Photos stay on this computer."
    assert "No server is enabled" in privacy_statement([off], SERVERS)


def test_plain_http_off_this_machine_and_self_signed_certificates_warn() -> None:
    lan = ServerEntry("gpu-box", "http://192.168.1.5:8080")
    local = ServerEntry("here", "http://127.0.0.1:8080")
    named_local = ServerEntry("here2", "http://localhost:8080")
    tls = ServerEntry("tls", "https://gpu-box:8443")
    self_signed = ServerEntry("lab", "https://lab:8443", allow_self_signed=True)

    (plain,) = warnings(lan)
    assert "plain http://" in plain and "unencrypted" in plain
    assert warnings(local) == warnings(named_local) == warnings(tls) == []
    (cert,) = warnings(self_signed)
    assert "self-signed" in cert and "could pose as it" in cert


def test_a_check_probes_then_captions_with_the_key(
    registry: ServerRegistry, memory_keyring: InMemoryKeyring
) -> None:
    entry = registry.add("https://gpu-box:8443", api_key="sk")
    checks = FakeServerChecks({"https://gpu-box:8443": LLAMA})

    report = check_server(entry, sample_jpeg(), checks)

    assert report.status == OK and report.latency_ms == 12.0 and report.seconds == 0.42
    assert report.summary() == "llama-server · 12 ms · 4 slots · 0.4 s per photo"
    assert checks.calls == [
        ("probe", "https://gpu-box:8443", "sk"),
        ("caption", "https://gpu-box:8443", "sk"),
    ]


def test_a_failed_check_is_a_sentence_not_an_exception(
    registry: ServerRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = registry.add("http://10.0.0.7:8080", name="down")
    report = check_server(down, sample_jpeg(), FakeServerChecks())
    assert report.status == UNHEALTHY
    assert report.error == "down (http://10.0.0.7:8080) is not answering: connection refused."

    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    keyed = registry.add("http://10.0.0.8:8080", name="keyed", key_env="NO_SUCH_KEY_VAR")
    report = check_server(keyed, None, FakeServerChecks({keyed.url: LLAMA}))
    assert report.status == UNHEALTHY and "NO_SUCH_KEY_VAR" in (report.error or "")


def test_a_hand_broken_entry_is_left_out(db: Database, registry: ServerRegistry) -> None:
    Settings(db).set(
        "inference_servers",
        [{"name": "ok", "url": "http://ok:1"}, {"name": "bad", "url": "nonsense"}, {"x": 1}],
    )
    assert [e.name for e in registry.list()] == ["ok"]
