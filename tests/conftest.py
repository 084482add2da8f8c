"""Shared test fixtures: where the project's root and the read-only real NTU fixtures are."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
NTU_FIXTURES = SHARED / "fixtures" / "ntu"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared folder {SHARED} is missing; tests expect it beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def ntu_fixtures(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "ntu"
