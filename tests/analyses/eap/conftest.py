"""Fixtures for the EAP tests: a private tiny model per architecture."""

from __future__ import annotations

import pytest

from .eap_reference import ARCHS, private_model


@pytest.fixture(scope="module", params=ARCHS)
def arch(request) -> str:
    """Each architecture the acceptance tests cover: GPT-NeoX (parallel) and Llama (GQA)."""
    return request.param


@pytest.fixture
def model(arch):
    return private_model(arch)
