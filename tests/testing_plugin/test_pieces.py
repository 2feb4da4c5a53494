"""The plugin's parts that need no server: the kept CA, the issuer host, identity contexts."""

from __future__ import annotations

import base64
import json
import ssl
import stat
from pathlib import Path

import httpx
import pytest

from ssooidc.testing import CertificateAuthority
from ssooidc.testing.endpoint import identity_context
from ssooidc.testing.issuer import IssuerHost


def test_a_kept_ca_is_the_same_ca_next_time(tmp_path: Path) -> None:
    first = CertificateAuthority.load_or_create(tmp_path)
    again = CertificateAuthority.load_or_create(tmp_path)
    assert again.certificate == first.certificate
    assert stat.S_IMODE((tmp_path / "ca-key.pem").stat().st_mode) == 0o600


def test_one_host_serves_many_providers_each_with_its_own_keys(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca")
    with IssuerHost(tmp_path / "host", ca=ca) as host:
        one, two = host.provider("one"), host.provider("two")
        assert one.issuer_url == f"{host.issuer_url}/one"
        verify = ssl.create_default_context(cafile=str(ca.ca_path))
        with httpx.Client(verify=verify) as client:
            discovery = client.get(f"{one.issuer_url}/.well-known/openid-configuration").json()
            assert discovery["issuer"] == one.issuer_url
            kids = {
                p.issuer_url: [k["kid"] for k in client.get(f"{p.issuer_url}/jwks").json()["keys"]]
                for p in (one, two)
            }
            assert kids == {
                one.issuer_url: [one.signing_key.kid],
                two.issuer_url: [two.signing_key.kid],
            }
            host.remove("one")
            assert client.get(f"{one.issuer_url}/jwks").status_code == 404
        with pytest.raises(ValueError):
            host.provider("two")


def _segment(value: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_the_identity_context_is_found_wherever_it_is_given() -> None:
    context = "c2VhbGVk.bWFj"
    id_token = f"{_segment({'alg': 'ES256'})}.{_segment({'sts:identity_context': context})}.sig"
    assert identity_context(context) == context
    assert identity_context(id_token) == context
    assert identity_context({"awsAdditionalDetails": {"identityContext": context}}) == context
    assert identity_context({"idToken": id_token}) == context
