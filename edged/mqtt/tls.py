"""TLS context for the broker connection: the server is always verified (CA and host name)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from edged.config.secrets import SecretError, SecretRef
from edged.events.config import TlsConfig


def _secret_path(ref: SecretRef) -> Path:
    if ref.file is not None:
        return ref.file
    if ref.credential is not None:
        base = os.environ.get("CREDENTIALS_DIRECTORY")
        if not base:
            raise SecretError(f"client key from {ref.describe()}: $CREDENTIALS_DIRECTORY is not set")
        return Path(base) / ref.credential
    raise SecretError("the TLS client key must come from a file or a credential, not the environment")


def make_tls_context(config: TlsConfig) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(config.ca_file) if config.ca_file else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if config.client_cert is not None and config.client_key is not None:
            context.load_cert_chain(str(config.client_cert), keyfile=str(_secret_path(config.client_key)))
    except (OSError, ssl.SSLError) as exc:
        raise SecretError(f"cannot set up TLS: {exc}") from None
    return context
