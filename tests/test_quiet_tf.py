"""quiet_tf drops TensorFlow's start-up lines (oneDNN's everywhere, the CUDA probe's
on a machine without a GPU) and nothing else TensorFlow prints; --verbose=2 or
FAR_KERAS_TF_LOGS=1 keeps them all. (The entry points as subprocesses, with the
lines shown and hidden: test_quiet_entry_points.py.)"""

from far_keras import quiet_tf

# As printed by TF 2.21 on a CPU-only machine with oneDNN on (timestamps and thread ids
# vary), the first three lines twice.
STARTUP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796045414.587185    8976 port.cc:153] oneDNN custom operations are on. "
    "You may see slightly different numerical results due to floating-point round-off errors "
    "from different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.\n")
GPU_PROBE = (
    "I0000 00:00:1795891539.815181    4239 cudart_stub.cc:31] Could not find cuda drivers "
    "on your machine, GPU will not be used.\n"
    "E0000 00:00:1795891541.736980    4239 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")


def test_filter_drops_only_the_startup_lines():
    # A real message between the noise lines must survive, in order.
    text = (STARTUP + GPU_PROBE + "UserWarning: something of ours\n" + STARTUP + GPU_PROBE
            + "last line\n")
    assert quiet_tf.filter_startup_noise(text) == "UserWarning: something of ours\nlast line\n"
    assert quiet_tf.filter_startup_noise("") == ""
    # With a GPU, the CUDA lines say which one is used: kept; oneDNN's is not.
    assert quiet_tf.filter_startup_noise(text, has_gpu=True) == (
        GPU_PROBE + "UserWarning: something of ours\n" + GPU_PROBE + "last line\n")


def test_verbose_2_or_the_environment_variable_shows_everything(monkeypatch):
    monkeypatch.delenv(quiet_tf.SHOW_ENV, raising=False)
    assert not quiet_tf.shows_everything(0) and not quiet_tf.shows_everything(1)
    assert quiet_tf.shows_everything(2)
    for value, shown in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv(quiet_tf.SHOW_ENV, value)
        assert quiet_tf.shows_everything(1) is shown
