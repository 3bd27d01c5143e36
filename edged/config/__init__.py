"""Strict YAML config: pydantic models with unknown keys rejected, errors as ``FILE:LINE: message``."""

from edged.config.base import StrictModel
from edged.config.loader import ConfigError, ConfigProblem, load_model, validate_text
from edged.config.secrets import SecretError, SecretRef

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "SecretError",
    "SecretRef",
    "StrictModel",
    "load_model",
    "validate_text",
]
