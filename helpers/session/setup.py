"""The first call of every notebook: versions, GPUs, seeds, and where things are."""

from __future__ import annotations

import contextlib
import os
import random
import sys
from pathlib import Path

from helpers.session.messages import warn
from helpers.session.paths import data_dir, keep_outputs_on_drive, mirror_dir
from helpers.session.profile import DEFAULT_SEED, get_profile

#: The TensorFlow / Keras versions the course is written for (older ones miss Keras 3 APIs).
MIN_TENSORFLOW = (2, 19)
MIN_KERAS = (3, 10)


def seed_everything(seed: int = DEFAULT_SEED) -> None:
    """Seed Python's ``random``, numpy and Keras (which seeds TensorFlow's global generator)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import keras
    except ImportError:  # helpers without TensorFlow (e.g. data tooling) still seed the rest
        return
    keras.utils.set_random_seed(seed)
    # Keras 3.10 keeps its global SeedGenerator across set_random_seed, so keras.random draws
    # without a seed would not repeat; newer Keras drops it there. Do the same on older ones.
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # a future Keras that moved it resets the generator itself
        return
    global_state.set_global_attribute("global_seed_generator", None)  # its name in 3.10-3.15


def _version_tuple(version: str) -> tuple[int, int]:
    parts = version.split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def check_versions(tf_version: str, keras_version: str) -> None:
    """Fail early, with what to do, on a TensorFlow or Keras too old for the course."""
    problems = []
    if _version_tuple(tf_version) < MIN_TENSORFLOW:
        problems.append(f"TensorFlow {tf_version} (need >= {'.'.join(map(str, MIN_TENSORFLOW))})")
    if _version_tuple(keras_version) < MIN_KERAS:
        problems.append(f"Keras {keras_version} (need >= {'.'.join(map(str, MIN_KERAS))})")
    if problems:
        raise RuntimeError(
            "Unsupported " + " and ".join(problems) + ". Locally run `make lab` (it installs the "
            "pinned versions into .venv); on Colab pick a current runtime "
            "(Runtime > Change runtime type) instead of installing TensorFlow by hand."
        )


def nvidia_device_present() -> bool:
    """Whether the machine has an NVIDIA GPU device node (Linux: ``/dev/nvidiactl``)."""
    return any(Path("/dev").glob("nvidia*"))


@contextlib.contextmanager
def _native_stderr_silenced(silence: bool):
    """Drop what C++ writes to stderr while TensorFlow starts (Python errors are unaffected)."""
    # TensorFlow's native start-up messages (oneDNN, CUDA stubs) come before its log level is
    # read, so TF_CPP_MIN_LOG_LEVEL cannot hide them; a notebook shows them as red noise.
    if not silence:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def setup_notebook(seed: int = DEFAULT_SEED, use_drive: bool = False) -> dict:
    """First call of every notebook: check versions, set up GPUs, seed, and say where things are.

    ``use_drive=True`` keeps outputs on Google Drive on Colab (:func:`keep_outputs_on_drive`).
    Returns a dict of ``profile``, ``gpus`` (names), ``data_dir``, ``mirror`` and ``seed``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _native_stderr_silenced(os.environ["TF_CPP_MIN_LOG_LEVEL"] >= "2"):
        import keras
        import tensorflow as tf

    check_versions(tf.__version__, keras.__version__)
    profile = get_profile()
    # The first GPU query starts CUDA. Without an NVIDIA device it can only fail, and TensorFlow
    # says so in an error-level C++ line ("failed call to cuInit") that no log level below 3
    # hides: drop it there. With a device, anything CUDA prints here is kept: it is the reason
    # the GPU goes unused.
    with _native_stderr_silenced(not nvidia_device_present()):
        gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:  # memory growth: one notebook does not grab the whole card
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by an earlier cell: growth is then fixed
            pass
    seed_everything(seed)
    _warn_if_cpu_only(profile, gpus)
    mirror = mirror_dir()
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {sys.version.split()[0]}"
    )
    print(
        f"Device: {len(gpus)} GPU(s) {[g.name for g in gpus]}"
        if gpus
        else "Device: CPU only (no GPU seen by TensorFlow)"
    )
    print(
        f"Profile: {profile}"
        + (
            {
                "sample": " -- smaller data and fewer epochs; figures are smoke-run figures, "
                "not results",
                "grading": " -- the grader's run: a few pictures and one epoch per training "
                "run; its figures are not results",
            }.get(profile, "")
        )
    )
    print(f"Data cache: {data_dir()}")
    print(f"Data mirror: {mirror if mirror else 'none (COURSE_DATA_MIRROR unset)'}")
    print(f"Seed: {seed}")
    print(keep_outputs_on_drive(use_drive))
    return {
        "profile": profile,
        "gpus": [g.name for g in gpus],
        "data_dir": data_dir(),
        "mirror": mirror,
        "seed": seed,
    }


#: What the CPU warning extrapolates to: one epoch of notebook 01's network on Tiny ImageNet's
#: 190 classes x 500 training images, in batches of 100 (the notebook's sizes).
CPU_WARNING_IMAGES, CPU_WARNING_BATCH = 190 * 500, 100
_cpu_warning_given = False


def _warn_if_cpu_only(profile: str, gpus: list, measure=None) -> None:
    """Full profile without a GPU: warn once, with the measured cost of a CPU epoch."""
    # measure (for tests) returns the seconds of one training batch
    global _cpu_warning_given
    if profile != "full" or gpus or _cpu_warning_given:
        return
    _cpu_warning_given = True
    how = (
        "On Colab choose a GPU: Runtime > Change runtime type > Hardware accelerator: a GPU "
        "(e.g. T4) > Save, then run the notebook again from the top. For a quick look "
        "without a GPU, run with COURSE_PROFILE=sample (smaller data, fewer epochs)."
    )
    try:
        seconds = (measure or _seconds_per_training_batch)()
    except Exception as error:  # the warning matters more than its figure
        warn(
            f"No GPU: TensorFlow sees only the CPU, so the full-profile trainings will "
            f"be slow (timing a training step failed: {error}). {how}"
        )
        return
    minutes = seconds * CPU_WARNING_IMAGES / CPU_WARNING_BATCH / 60
    warn(
        f"No GPU: TensorFlow sees only the CPU. Timed on it now: about {seconds:.1f} s per "
        f"training batch of {CPU_WARNING_BATCH} images of notebook 01's network, i.e. about "
        f"{minutes:,.0f} minutes per epoch on its full training set ({CPU_WARNING_IMAGES:,} "
        f"images). {how}"
    )


#: Multiply-accumulates of one forward pass of notebook 01's network on one 64x64 image
#: (tests/test_cpu_warning.py recounts them from the model's layers).
NEURAL_CODES_NET_MACS = 1_017_245_696


def _seconds_per_training_batch() -> float:
    """Estimated seconds of one training batch of notebook 01's network on this CPU."""
    import time

    import numpy as np
    import tensorflow as tf

    # One convolution shaped like conv2 (a second or so, unlike stepping the 40-million-
    # parameter network), scaled by multiply-accumulates: a training step is about three
    # forward passes (forward, and two products backward).
    batch = 10
    inputs = tf.constant(np.random.default_rng(0).random((batch, 32, 32, 96), dtype=np.float32))
    kernel = tf.constant(np.random.default_rng(1).random((5, 5, 96, 192), dtype=np.float32))
    times = []
    for _ in range(3):  # the first call sets up the kernel; keep the fastest of the others
        start = time.perf_counter()
        tf.nn.conv2d(inputs, kernel, strides=1, padding="SAME").numpy()
        times.append(time.perf_counter() - start)
    conv_macs = batch * 32 * 32 * 192 * 5 * 5 * 96
    seconds_per_mac = min(times[1:]) / conv_macs
    return seconds_per_mac * 3 * NEURAL_CODES_NET_MACS * CPU_WARNING_BATCH
