import pytest
from hypothesis import given
from hypothesis import strategies as st

from edged.vision.engines.trt_profiles import (
    BatchProfile,
    ProfileError,
    batch_profiles,
    input_shapes,
    select_profile,
    split_batch,
)


def test_detector_gets_batch_one_only():
    assert batch_profiles("fr_detect", 8, 4) == (BatchProfile(1, 1, 1),)


def test_per_face_models_get_single_and_batched_profiles():
    assert batch_profiles("fr_feature", 8, 4) == (BatchProfile(1, 1, 1), BatchProfile(2, 4, 8))


def test_max_batch_one_gives_one_profile():
    assert batch_profiles("fr_feature", 1, 1) == (BatchProfile(1, 1, 1),)


def test_opt_batch_one_is_raised_to_the_batched_profile_minimum():
    assert batch_profiles("fr_landmark", 8, 1)[1] == BatchProfile(2, 2, 8)


@pytest.mark.parametrize(("max_batch", "opt"), [(0, 1), (4, 5), (4, 0)])
def test_bad_batch_settings_are_refused(max_batch, opt):
    with pytest.raises(ProfileError):
        batch_profiles("fr_feature", max_batch, opt)


def test_profile_order_is_checked():
    with pytest.raises(ProfileError):
        BatchProfile(2, 1, 4)


def test_input_shapes_replace_only_the_batch():
    lo, opt, hi = input_shapes((None, 3, 112, 112), BatchProfile(2, 4, 8))
    assert (lo, opt, hi) == ((2, 3, 112, 112), (4, 3, 112, 112), (8, 3, 112, 112))


def test_input_shapes_refuse_other_dynamic_dims():
    with pytest.raises(ProfileError, match="only the batch"):
        input_shapes((None, 3, None, 112), BatchProfile(1, 1, 1))


def test_selection_prefers_the_exact_batch_one_profile():
    profiles = (BatchProfile(1, 4, 8), BatchProfile(1, 1, 1))
    assert select_profile(profiles, 1) == 1
    assert select_profile(profiles, 5) == 0


def test_selection_refuses_batches_no_profile_covers():
    profiles = batch_profiles("fr_feature", 8, 4)
    with pytest.raises(ProfileError, match="exceeds"):
        select_profile(profiles, 9)
    with pytest.raises(ProfileError):
        select_profile(profiles, 0)


@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 200))
def test_selected_profile_always_covers_the_batch(max_batch, opt, batch):
    opt = min(opt, max_batch)
    profiles = batch_profiles("fr_feature", max_batch, opt)
    if batch > max_batch:
        with pytest.raises(ProfileError):
            select_profile(profiles, batch)
    else:
        assert profiles[select_profile(profiles, batch)].covers(batch)


@given(st.integers(0, 300), st.integers(1, 64))
def test_split_batch_covers_every_row_once(batch, max_batch):
    chunks = split_batch(batch, max_batch)
    rows = [i for a, b in chunks for i in range(a, b)]
    assert rows == list(range(batch))
    assert all(0 < b - a <= max_batch for a, b in chunks)
