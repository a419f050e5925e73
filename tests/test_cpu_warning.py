"""The setup cell's one warning when the full profile would train on a CPU."""

import warnings

import pytest

from helpers.session import setup


@pytest.fixture(autouse=True)
def fresh_session(monkeypatch):
    monkeypatch.setattr(setup, "_cpu_warning_given", False)


def test_full_profile_without_a_gpu_warns_once_with_the_expected_minutes_per_epoch():
    with pytest.warns(UserWarning) as record:
        setup._warn_if_cpu_only("full", [], measure=lambda: 1.2)
    (warning,) = record
    text = str(warning.message)
    # 190 classes x 500 images / 100 per batch = 950 batches of 1.2 s = 1140 s = 19 minutes.
    assert "1.2 s per training batch" in text and "about 19 minutes per epoch" in text
    assert "Runtime > Change runtime type" in text and "COURSE_PROFILE=sample" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        setup._warn_if_cpu_only("full", [], measure=lambda: 1.2)  # once per session


@pytest.mark.parametrize("profile, gpus", [("sample", []), ("full", ["/physical_device:GPU:0"])])
def test_no_warning_with_a_gpu_or_in_the_sample_profile(profile, gpus):
    def measure():
        raise AssertionError("nothing should be timed")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        setup._warn_if_cpu_only(profile, gpus, measure=measure)


def test_a_failed_timing_still_warns_and_says_how_to_pick_a_gpu():
    def measure():
        raise RuntimeError("out of memory")

    with pytest.warns(UserWarning, match="out of memory.*Change runtime type"):
        setup._warn_if_cpu_only("full", [], measure=measure)


def test_the_multiply_accumulate_count_matches_the_layers_of_notebook_01s_network():
    from instructor.solutions import nb01

    model = nb01.neural_codes_net()
    macs = 0
    for layer in model.layers:
        if layer.__class__.__name__ == "Conv2D":
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            macs += h * w * cout * kh * kw * cin
        elif layer.__class__.__name__ == "Dense":
            macs += layer.kernel.shape[0] * layer.kernel.shape[1]
    assert macs == setup.NEURAL_CODES_NET_MACS


def test_the_timed_estimate_of_a_batch_is_a_positive_number_of_seconds():
    seconds = setup._seconds_per_training_batch()
    assert 0 < seconds < 3600
