"""Logged data: the typed record of bandit feedback, its log files, and real data set loaders."""

from __future__ import annotations

from pricepilot.data.logfile import logs_from_frame, logs_to_frame, read_logs, write_logs
from pricepilot.data.logged import LoggedData, LogValidationError
from pricepilot.data.open_bandit import OpenBanditLog, action_frequencies, load_open_bandit, per_position

__all__ = [
    "LogValidationError",
    "LoggedData",
    "OpenBanditLog",
    "action_frequencies",
    "load_open_bandit",
    "logs_from_frame",
    "logs_to_frame",
    "per_position",
    "read_logs",
    "write_logs",
]
