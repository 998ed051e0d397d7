"""utter.train.schedules: the cosine schedule against its closed form, linear warm-ups, and
schedule lengths given in steps or epochs."""
from __future__ import annotations

import numpy as np
import pytest

from utter.train.schedules import cosine_schedule, cosine_value, linear_value, schedule_steps


def test_cosine_schedule():
    s = cosine_schedule(0.005, 1e-6, 100, warmup_steps=10, warmup_start=0.0)
    assert len(s) == 100 and s[0] == 0.0 and s[10] == pytest.approx(0.005)
    assert s[5] == pytest.approx(0.0025)
    assert s[-1] == pytest.approx(1e-6)
    assert np.all(np.diff(s[:11]) > 0) and np.all(np.diff(s[10:]) < 0)
    mid = 10 + 89 / 2  # halfway through the cosine part: (base + final) / 2
    assert cosine_value(mid, 0.005, 1e-6, 100, 10) == pytest.approx((0.005 + 1e-6) / 2)
    m = cosine_schedule(0.996, 1.0, 50)
    assert m[0] == pytest.approx(0.996) and m[-1] == pytest.approx(1.0) and np.all(np.diff(m) > 0)
    assert cosine_value(500, 0.996, 1.0, 50) == 1.0
    with pytest.raises(ValueError):
        cosine_schedule(1.0, 0.0, 10, warmup_steps=11)


def test_linear_warmup():
    assert linear_value(0, 0.04, 0.07, 10) == 0.04
    assert linear_value(5, 0.04, 0.07, 10) == pytest.approx(0.055)
    assert linear_value(10, 0.04, 0.07, 10) == 0.07 and linear_value(99, 0.04, 0.07, 10) == 0.07
    assert linear_value(0, 0.0, 0.3, 0) == 0.3  # no warm-up: the final value from the first step


def test_schedule_steps_in_steps_or_epochs():
    assert schedule_steps(30, 2.0, 100, 1000) == 30  # steps win when given
    assert schedule_steps(0, 2.5, 100, 1000) == 250
    assert schedule_steps(0, 20.0, 100, 1000) == 1000  # capped at the run's length
    assert schedule_steps(0, 0.0, 100, 1000) == 0
