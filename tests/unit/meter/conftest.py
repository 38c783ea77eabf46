"""Fixtures for the simulated meter tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCHEME = ROOT / "schemes" / "examples" / "a1700-ci-tou.toml"
