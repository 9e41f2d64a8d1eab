"""Served WSDLs name the address the settings give, never the request's ``Host`` header
(issue 19 point 8): a forged ``Host: evil.example`` must not redirect the ERPs that build
their client from the WSDL. The gateway and the simulator are the real apps, served by
Starlette's test client (the gateway's Kafka lifespan is not started: a WSDL needs none).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from connectors.sne.gateway import create_app as gateway_app
from connectors.sne.operations import SERVICES
from connectors.sne.server import public_base
from hub.core import xmlsafe
from hub.core.errors import ConfigError
from hub.core.settings import HubSettings, SneSettings
from hub.dev.sne_simulator import create_app as simulator_app

ADDRESS = "{http://schemas.xmlsoap.org/wsdl/soap12/}address"
FORGED = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
#: where the gateway would relay calls (never called: a WSDL needs no SNE)
SNE = "http://127.0.0.1:9/sne"


def _address(client: TestClient, service: str) -> str:
    resp = client.get(f"/sne/{service}?wsdl", headers=FORGED)
    assert resp.status_code == 200, resp.text
    node = xmlsafe.parse(resp.content).find(f".//{ADDRESS}")
    assert node is not None
    return str(node.get("location"))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_gateway_wsdl_address_from_settings(tmp_path: Path, service: str) -> None:
    settings = HubSettings(home=tmp_path, sne=SneSettings(
        url=SNE, gateway_public_url="https://passerelle.example.org/soap/sne/"))
    client = TestClient(gateway_app(settings), base_url="http://evil.example")
    assert _address(client, service) == f"https://passerelle.example.org/soap/sne/{service}"


def test_gateway_wsdl_address_defaults_to_bind_address(tmp_path: Path) -> None:
    settings = HubSettings(home=tmp_path, sne=SneSettings(url=SNE, gateway_host="10.1.2.3",
                                                          gateway_port=9443))
    client = TestClient(gateway_app(settings), base_url="http://evil.example")
    service = "RechercheDemandeImplService"
    assert _address(client, service) == f"http://10.1.2.3:9443/sne/{service}"


def test_simulator_wsdl_address_is_the_given_one(tmp_path: Path) -> None:
    app = simulator_app(f"sqlite:///{tmp_path / 'sim.db'}", "http://sne-sim.internal:8790/sne")
    client = TestClient(app, base_url="http://evil.example")
    service = "DemandeLogementImplService"
    assert _address(client, service) == f"http://sne-sim.internal:8790/sne/{service}"


def test_public_base() -> None:
    assert public_base(" https://h.example/sne/ ", "0.0.0.0", 1) == "https://h.example/sne"
    assert public_base("", "127.0.0.1", 8791) == "http://127.0.0.1:8791/sne"
    assert public_base("", "::1", 8791) == "http://[::1]:8791/sne"
    assert "0.0.0.0" not in public_base("", "0.0.0.0", 8791)
    for bad in ("evil.example/sne", "javascript:alert(1)", 'http://a"b'):
        with pytest.raises(ConfigError):
            public_base(bad, "127.0.0.1", 8791)


@pytest.mark.parametrize(("command", "variable", "args", "expected"), [
    ("soap-gateway", "HUB_SNE__GATEWAY_PUBLIC_URL", [], "https://gw.example.org/sne"),
    ("soap-gateway", None, ["--host", "10.9.8.7", "--port", "9001"], "http://10.9.8.7:9001/sne"),
    ("sne-simulator", "HUB_SNE__SIMULATOR_PUBLIC_URL", [], "https://sim.example.org/sne"),
    ("sne-simulator", None, ["--port", "9002"], "http://127.0.0.1:9002/sne"),
])
def test_cli_serves_the_configured_address(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, variable: str | None,
        args: list[str], expected: str) -> None:
    """``hub soap-gateway`` / ``hub sne-simulator`` build their app with the address of
    the settings, or of the bind options when none is set."""
    import uvicorn
    from click.testing import CliRunner

    from connectors import shape
    from hub.cli.sne import sne_simulator, soap_gateway
    from hub.core.settings import get_settings

    monkeypatch.setenv("HUB_HOME", str(tmp_path))
    monkeypatch.setenv("HUB_SNE__URL", SNE)
    if variable is not None:
        monkeypatch.setenv(variable, expected + "/")
    get_settings.cache_clear()
    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    # the gateway is a connector served until a signal (connectors.shape.ServedApp)
    monkeypatch.setattr(shape, "run_until_signal", lambda c: served.append(c.app))
    cli = soap_gateway if command == "soap-gateway" else sne_simulator
    try:
        result = CliRunner().invoke(cli, args)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    client = TestClient(served[0], base_url="http://evil.example")  # type: ignore[arg-type]
    service = "GestionPartageeEVTImplService"
    assert _address(client, service) == f"{expected}/{service}"
