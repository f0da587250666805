"""README "Deploying safely": deploy/nginx/seat.conf is a valid nginx config with TLS for the page and console."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "seat.conf"


def test_locations_and_upstreams():
    text = CONF.read_text()
    assert "server 127.0.0.1:8000;" in text and "server 127.0.0.1:8080;" in text
    assert text.count("listen 443 ssl;") == 2 and "location /internal/ { return 404; }" in text
    for port in ("5005", "5055", "9093"):
        assert port not in text  # internal services are never proxied


@pytest.mark.skipif(not shutil.which("nginx"), reason="apt-get install nginx")
def test_nginx_accepts_it(tmp_path):
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl needed for test certificates")
    for name in ("hotline", "admin"):
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t",
                        "-keyout", str(tmp_path / f"{name}.key"), "-out", str(tmp_path / f"{name}.crt")],
                       check=True, capture_output=True)
    conf = tmp_path / "seat.conf"
    conf.write_text(CONF.read_text().replace("/etc/ssl/seat/", f"{tmp_path}/").replace(
        "pid /tmp/seat-nginx.pid;", f"pid {tmp_path}/nginx.pid;"))
    done = subprocess.run([shutil.which("nginx"), "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
