"""Topic layout: everything a gate publishes or reads lives below ``<prefix>/<device_id>/``."""

from __future__ import annotations

from dataclasses import dataclass

COMMAND_NAMES = ("open", "mode", "enroll", "erase", "reload", "ping")


@dataclass(frozen=True)
class Topics:
    prefix: str
    device_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    def under(self, relative: str) -> str:
        return f"{self.base}/{relative}"

    @property
    def commands(self) -> str:
        """Subscription filter for every command."""
        return f"{self.base}/cmd/+"

    def command(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    def result(self, name: str) -> str:
        """Default response topic when the command names none (or one outside ``reply/``)."""
        return f"{self.base}/cmd/{name}/result"

    @property
    def reply_branch(self) -> str:
        return f"{self.base}/reply/"

    def command_name(self, topic: str) -> str | None:
        head = f"{self.base}/cmd/"
        if not topic.startswith(head):
            return None
        name = topic[len(head) :]
        return name if "/" not in name else None
