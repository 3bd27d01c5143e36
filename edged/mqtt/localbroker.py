"""A throwaway mosquitto for tests and benchmarks: free loopback port, optional TLS (a fresh CA and
server certificate), password file and ACL. Never used by the daemon itself."""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MOSQUITTO = os.environ.get("EDGED_MOSQUITTO", "/usr/sbin/mosquitto")
MOSQUITTO_PASSWD = os.environ.get(
    "EDGED_MOSQUITTO_PASSWD", shutil.which("mosquitto_passwd") or "mosquitto_passwd"
)


class BrokerError(Exception):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(
    process: subprocess.Popen[bytes], host: str, port: int, timeout_s: float, why_exited: Callable[[], str]
) -> bool:
    """True once ``host:port`` accepts connections, False after ``timeout_s``; a BrokerError with
    ``why_exited()`` if the broker process ends first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerError(why_exited())
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _write_pem(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all short-lived."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edged test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(common_name: str, server: bool) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    certs = Certificates(
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server.key",
        directory / "client.pem",
        directory / "client.key",
    )
    _write_pem(certs.ca, ca_cert.public_bytes(serialization.Encoding.PEM))
    server_cert, server_key = issue("localhost", server=True)
    _write_pem(certs.server_cert, server_cert)
    _write_pem(certs.server_key, server_key, private=True)
    client_cert, client_key = issue("edged-client", server=False)
    _write_pem(certs.client_cert, client_cert)
    _write_pem(certs.client_key, client_key, private=True)
    return certs


@dataclass
class LocalBroker:
    """``users`` maps user names to passwords (generated when empty); ``acl`` is mosquitto ACL text."""

    workdir: Path
    tls: bool = True
    users: dict[str, str] = field(default_factory=dict)
    acl: str | None = None
    require_client_cert: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    certificates: Certificates | None = None
    _process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not Path(MOSQUITTO).exists():
            raise BrokerError(
                f"mosquitto not found at {MOSQUITTO} (install the distribution's mosquitto package)"
            )
        if self.port == 0:
            self.port = free_port()
        lines = [
            "per_listener_settings false",
            f"persistence true\npersistence_location {self.workdir}/",
            "max_queued_messages 200000",
            "max_inflight_messages 100",
            f"log_dest file {self.log_path}",
            "log_type error\nlog_type warning\nlog_type notice",
            f"user {getpass.getuser()}",
            f"listener {self.port} {self.host}",
        ]
        if self.tls:
            self.certificates = make_certificates(self.workdir)
            lines += [
                f"cafile {self.certificates.ca}",
                f"certfile {self.certificates.server_cert}",
                f"keyfile {self.certificates.server_key}",
                "tls_version tlsv1.2",
                f"require_certificate {'true' if self.require_client_cert else 'false'}",
            ]
        if self.users:
            passwd = self.workdir / "passwd"
            passwd.touch(mode=0o600)
            for name, password in self.users.items():
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", str(passwd), name, password], check=True, capture_output=True
                )
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            acl_path = self.workdir / "acl"
            acl_path.write_text(self.acl)
            lines.append(f"acl_file {acl_path}")
        (self.workdir / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def start(self, timeout_s: float = 10.0) -> None:
        if not (self.workdir / "mosquitto.conf").exists():
            self.prepare()
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.workdir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        process = self._process

        def why_exited() -> str:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            return f"mosquitto exited with {process.returncode}: {err.strip()} {log[-500:]}"

        if wait_listening(process, self.host, self.port, timeout_s, why_exited):
            return
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout_s} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, so the broker saves its persistent sessions and queued messages."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


def generate_password() -> str:
    return secrets.token_urlsafe(18)
