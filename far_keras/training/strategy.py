"""tf.distribute strategies by name, the chief's role, and per-replica input."""

import contextlib
import json
import os

import tensorflow as tf

from far_keras.training import STRATEGIES

# What a collective op raises when a peer of a multi-worker run is gone: TF's
# MultiWorkerMirroredStrategy aborts the pending collectives on every survivor (its
# peer health check, or the broken connection) rather than hanging.
_PEER_LOST = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
              tf.errors.CancelledError)


class WorkerLost(RuntimeError):
    """A worker of a multi-worker run died; the survivors stop instead of hanging."""


@contextlib.contextmanager
def worker_faults_reported(strategy, checkpointer):
    """Turns a lost peer of a multi-worker run into ``WorkerLost``, naming the
    checkpoint that the restarted run resumes from.

    Nothing is retried in-process: TF's collectives cannot be re-formed without
    restarting every worker ("Restart your program to reset"), and a resumed run is
    exact (counter-based randomness, data positioned by step), so the recovery is to
    rerun every worker's command.
    """
    try:
        yield
    except _PEER_LOST as e:
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            raise
        latest = checkpointer.latest
        raise WorkerLost(
            "a worker of this multi-worker run was lost "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200]}). Restart every worker "
            "with the same command: training resumes from "
            f"{latest or 'the start (no checkpoint yet)'}; the work since it is redone."
        ) from None


def make_strategy(name):
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # All local GPUs, or the CPU devices (logical ones too) when there are none.
        gpus = tf.config.list_logical_devices("GPU")
        devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                             "(cluster and task of this worker; see the README)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as e:
            raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"--strategy={name}: must be one of {', '.join(STRATEGIES)}")


def worker_role(strategy):
    """(is_chief, task_id) of this process; (True, 0) without a cluster.

    The chief is task 'chief', or 'worker' 0 when the cluster has no 'chief'.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, 0
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return (task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief),
            task_id)


def distribute_batches(dataset, strategy, batch_axis=0):
    """Per-replica input: replica r of R gets the r-th of R equal slices of every
    global batch, on one machine or many. ``batch_axis`` = 1 for elements that
    hold several steps' batches ([K, batch, ...]).

    We split ourselves (``distribute_datasets_from_function``) rather than let
    tf.distribute auto-shard: its DATA policy would hand *whole steps* to different
    workers, and the models rely on replica r holding slice r (their global random
    draws are sliced the same way).
    """
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return dataset

    def dataset_fn(ctx):
        local = replicas // ctx.num_input_pipelines
        first = ctx.input_pipeline_id * local

        def my_slices(batch):
            parts = tf.stack(tf.split(batch, replicas, axis=batch_axis))[first:first + local]
            return tf.data.Dataset.from_tensor_slices(parts)

        return dataset.flat_map(my_slices)

    return strategy.distribute_datasets_from_function(dataset_fn)
