import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def digits_classifier_trained_once():
    """Train the digits FID/IS classifier once per (size, settings) for the session.

    Runs with ``--inception_weights=digits`` train that CNN into their own stats
    directory when it is not there, and every test has its own directory: that
    training (15 epochs) was most of the image tests' time. Runs still load and save it
    where they would; only the training is shared. Subprocesses train their own.
    """
    import inspect

    from far_keras.metrics import digits_classifier as dc
    original, trained = dc.train_digits_classifier, {}
    signature = inspect.signature(original)

    def train_once(*args, **kwargs):
        # Keyed by every argument, defaults filled in: ``(16, seed=0)`` from a run and
        # ``(image_size=16, epochs=15, seed=0)`` from a test are the same training.
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = tuple(sorted((k, int(v) if k == "image_size" else v)
                           for k, v in bound.arguments.items()))
        if key not in trained:
            trained[key] = original(*args, **kwargs)
        return trained[key]

    def train_once_here(*args, **kwargs):  # instead of a single-threaded subprocess
        return train_once(*args, **kwargs)[0]

    train_once.__wrapped__ = original  # for tests of the training itself
    train_once_here.__wrapped__ = dc.train_in_own_process
    dc.train_digits_classifier, dc.train_in_own_process = train_once, train_once_here
    yield
    dc.train_digits_classifier, dc.train_in_own_process = original, train_once_here.__wrapped__
