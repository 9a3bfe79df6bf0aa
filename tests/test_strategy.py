"""training/strategy.py: strategies by name, their errors, and which process is the chief."""

import json

import pytest
import tensorflow as tf

from far_keras.training import strategy


def test_make_strategy_by_name():
    assert strategy.make_strategy("default") is tf.distribute.get_strategy()
    mirrored = strategy.make_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    # No GPU here: the replicas are the CPU devices (at least one).
    assert mirrored.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ValueError, match="--strategy=tpu: must be one of default, mirrored, "
                                         "multi_worker"):
        strategy.make_strategy("tpu")


def test_multi_worker_without_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        strategy.make_strategy("multi_worker")


def test_multi_worker_with_malformed_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{'cluster': ")  # not JSON (single quotes, cut off)
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        strategy.make_strategy("multi_worker")


class _Spec:
    def __init__(self, cluster):
        self.cluster = cluster

    def as_dict(self):
        return self.cluster


class _Resolver:
    """Stands in for a TFConfigClusterResolver: task and cluster, no networking."""

    def __init__(self, task_type, task_id, cluster):
        self.task_type, self.task_id, self._cluster = task_type, task_id, cluster

    def cluster_spec(self):
        return _Spec(self._cluster)


class _Strategy:
    def __init__(self, resolver):
        self.cluster_resolver = resolver


WORKERS = {"worker": ["a:1", "b:2", "c:3"]}
WITH_CHIEF = {"chief": ["z:0"], "worker": ["a:1", "b:2"]}


@pytest.mark.parametrize("resolver, expected", [
    (None, (True, 0)),                                      # no cluster at all
    (_Resolver(None, None, {}), (True, 0)),                 # a resolver without a task
    (_Resolver("worker", 0, WORKERS), (True, 0)),           # worker 0 leads a chief-less cluster
    (_Resolver("worker", 2, WORKERS), (False, 2)),
    (_Resolver("chief", 0, WITH_CHIEF), (True, 0)),
    (_Resolver("worker", 0, WITH_CHIEF), (False, 0)),       # the chief task leads instead
    (_Resolver("worker", None, WORKERS), (True, 0)),        # task_id None reads as 0
])
def test_worker_role(resolver, expected):
    assert strategy.worker_role(_Strategy(resolver)) == expected


def test_worker_role_of_a_plain_strategy():
    assert strategy.worker_role(tf.distribute.get_strategy()) == (True, 0)


def test_worker_role_from_a_real_tf_config_resolver(monkeypatch):
    # TF's own resolver parses TF_CONFIG without starting any server.
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 1}}))
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    assert strategy.worker_role(_Strategy(resolver)) == (False, 1)
