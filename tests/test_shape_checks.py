"""The test suite checks mechcirc's jaxtyping shapes at run time (tests/conftest.py)."""

from __future__ import annotations

import pytest
import torch

from mechcirc.tasks.metrics import logit_diff
from tests.shape_checks import unchecked


def test_a_wrong_shape_in_a_tensor_api_fails():
    logits, answers = torch.randn(4, 10), torch.zeros(4, 1, dtype=torch.long)
    assert logit_diff(logits, answers, answers).shape == (4,)
    with pytest.raises(Exception, match="batch"):  # 3 rows of answers for 4 rows of logits
        logit_diff(logits, answers[:3], answers[:3])
    with pytest.raises(Exception, match="correct"):  # float ids are not Int
        logit_diff(logits, answers.float(), answers)
    with unchecked():
        logit_diff(logits, answers, answers)  # switched off for tests of user-facing errors
