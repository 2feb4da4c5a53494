"""sts operations."""

from __future__ import annotations
