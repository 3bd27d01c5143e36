"""sd_notify (READY, WATCHDOG, RELOADING, STOPPING) and the heartbeats that gate the watchdog."""

from edged.health.heartbeat import Heartbeat, Heartbeats
from edged.health.sdnotify import SdNotifier, watchdog_interval_s
from edged.health.watchdog import WatchdogFeeder

__all__ = ["Heartbeat", "Heartbeats", "SdNotifier", "WatchdogFeeder", "watchdog_interval_s"]
