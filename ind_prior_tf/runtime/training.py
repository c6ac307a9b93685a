"""Run-time plumbing shared by every application: strategies, the replicated train step, checkpoints
that survive kills, a finite-loss guard and the training loop (run directories: rundir.py; the
progress bar: progress.py; image grids: pictures.py).

Nothing here reads flags: entry points pass plain values.
"""
import math
import os
import signal
import time

import keras
import tensorflow as tf

from ind_prior_tf.errors import NonFiniteLossError, RunError  # pylint: disable=unused-import
from ind_prior_tf.runtime import rundir, runinfo
from ind_prior_tf.runtime.progress import ProgressBar


def make_strategy(name="default"):
  """default: one device; mirrored: all local GPUs; multi_worker: machines listed in TF_CONFIG."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise RunError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                     "(cluster and task of this worker)")
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise RunError(f"--strategy={name!r}: expected default, mirrored or multi_worker")


def replica_slice(x):
  """This replica's rows of a global-batch tensor: replica r of R takes rows [r*B/R, (r+1)*B/R).

  The identity on one replica. Train steps draw their randomness for the global batch outside
  strategy.run and slice it here, so that a step on R replicas equals a step on one device.
  """
  ctx = tf.distribute.get_replica_context()
  n = ctx.num_replicas_in_sync if ctx is not None else 1
  if n == 1:
    return x
  per_replica = tf.shape(x)[0] // n
  return x[ctx.replica_id_in_sync_group * per_replica:][:per_replica]


def global_batch_size(inputs, strategy):
  """The global batch of a tensor (already global) or of per-replica values (equal local batches, as
  experimental_distribute_dataset makes them with drop_remainder)."""
  if isinstance(inputs, tf.distribute.DistributedValues):
    local = strategy.experimental_local_results(inputs)[0]
    return tf.shape(local)[0] * strategy.num_replicas_in_sync
  return tf.shape(inputs)[0]


def _worker_devices(strategy):
  try:
    return list(strategy.extended.worker_devices)
  except RuntimeError:  # the default strategy: TensorFlow's default device, a GPU if one is visible
    return ["GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"]


def use_jit(jit, strategy, upsample=None):
  """XLA for the replica step, except where it runs slower or cannot run, on CPU devices:
  - networks with resize-conv upsampling (upsample="resize"): XLA's CPU backend compiles the bilinear
    resize and its gradient into slow code where TF's kernels are fast, so their steps ran several
    times slower with XLA; with transposed convs both run alike (docs/performance.md);
  - several replicas on one host's logical CPU devices: XLA's CPU backend has one device, so a
    replica on CPU:1 cannot reach its variables (a TF limitation; GPUs and one CPU per worker are
    fine)."""
  if not jit:
    return False
  local = _worker_devices(strategy)
  on_cpu = all("CPU" in d.upper() for d in local)
  if on_cpu and upsample == "resize":
    return False
  if strategy.num_replicas_in_sync > 1 and len(local) > 1 and on_cpu:
    return False
  return jit


def compiled_alone(fn, jit, strategy):
  """fn compiled by XLA on its own wherever `jit` and the strategy allow XLA at all (use_jit without
  the networks' upsampling), else fn: a run of element-wise ops (a loss, composites) runs several
  times faster fused, also inside a step that runs without XLA (a resize-conv network on CPU)."""
  if use_jit(jit, strategy):
    return tf.function(fn, jit_compile=True, autograph=False)
  return fn


class ReplicatedStep:
  """The train step of every application, compiled once: the step's randomness is drawn for the
  global batch, each replica runs the step on its rows, and the replicas' losses are averaged.

  Drawing outside strategy.run (in cross-replica context) and splitting by replica (replica_slice)
  makes a step on R replicas equal a step on one device on the same global batch, and keeps the pools
  the draws read from off the replicas.

  replica_fn(*inputs, *drawn): one replica's step on its rows of the inputs and of the draws (already
    sliced; on one replica the whole batch); returns a dict of scalars. Replicas' gradients are summed,
    so it scales its loss by 1 / num_replicas_in_sync.
  draw_fn(batch, *context): the step's randomness for a global batch of `batch`, a tuple of tensors
    with the batch first; `context` is what the step is called with besides its inputs (pools).
  after_fn(): optional, runs in cross-replica context after the replicas (a moving average).
  jit: XLA for the replica step where it runs well (use_jit; upsample: the networks' upsampling).
    jit_draw: XLA for the draws too. XLA's random bits are not the TF kernels', so an application
    whose draws ran inside the XLA replica step before they moved out of it (HOC) compiles them to
    keep drawing the same numbers.
  batch_size: the global batch of a step without inputs (HOC generates all it trains on).
  """

  def __init__(self, strategy, replica_fn, draw_fn, *, jit, jit_draw=False, after_fn=None,
               batch_size=None, upsample=None):
    self.strategy = strategy
    self.jit = use_jit(jit, strategy, upsample)
    self.batch_size = batch_size
    self._replica_fn, self._after_fn = replica_fn, after_fn
    # No autograph: the steps have no tensor-dependent Python control flow, and converting them (and
    # every function they call) cost a third of the tracing time of a run's first step.
    self._replica = tf.function(self._replica_rows, jit_compile=self.jit, autograph=False)
    self._draw = (tf.function(draw_fn, jit_compile=True, autograph=False) if jit_draw and self.jit
                  else draw_fn)
    self._step = tf.function(self._global_step, autograph=False)

  def __call__(self, inputs, *context):
    """One step. inputs: a tuple of global-batch tensors, or of per-replica values (equal local
    batches, from experimental_distribute_dataset); context: passed to draw_fn. Returns the mean of
    each of replica_fn's outputs over the replicas."""
    return self._step(tuple(inputs), *context)

  def _replica_rows(self, inputs, drawn, distributed):
    if not distributed:
      inputs = [replica_slice(x) for x in inputs]
    return self._replica_fn(*inputs, *[replica_slice(x) for x in drawn])

  def _global_step(self, inputs, *context):
    distributed = any(isinstance(x, tf.distribute.DistributedValues) for x in inputs)
    batch = global_batch_size(inputs[0], self.strategy) if inputs else self.batch_size
    drawn = tuple(self._draw(batch, *context))
    out = self.strategy.run(self._replica, args=(inputs, drawn, distributed))
    if self._after_fn is not None:
      self._after_fn()
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in out.items()}


def copy_weights(source, target):
  """Sets every weight of `target` (batch-norm statistics too) to `source`'s: two models of the same
  architecture, as a moving average starts from the model it follows."""
  for t, s in zip(target.weights, source.weights):
    t.assign(s)


def update_moving_average(average, model, decay):
  """average <- decay * average + (1 - decay) * model, weight by weight (batch-norm statistics too):
  one step of an exponential moving average of `model`'s weights, as an after_fn of ReplicatedStep."""
  for a, w in zip(average.weights, model.weights):
    a.assign(decay * a + (1.0 - decay) * tf.cast(w, a.dtype))


def set_determinism(seed, deterministic):
  """Seeds every generator; with `deterministic`, also asks TF for deterministic kernels.

  Op determinism alone is not enough on CPU without XLA: parallel inter-op scheduling can reorder
  floating-point reductions, so we pin inter-op parallelism to one thread as well.
  """
  tf.keras.utils.set_random_seed(seed)
  if deterministic:
    tf.config.experimental.enable_op_determinism()
    try:
      tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised: the caller set it up earlier, keep what is there
      pass


class CheckpointKeeper:
  """tf.train.CheckpointManager with resume.

  TF writes a checkpoint's data under temporary names and only then atomically rewrites the
  `checkpoint` index file, so a kill during saving leaves the previous checkpoint the latest one.
  """

  def __init__(self, directory, max_to_keep=3, **objects):
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    self.checkpoint = tf.train.Checkpoint(step=self.step, **objects)
    self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=max_to_keep)

  def restore(self):
    """Restores the latest checkpoint if there is one; returns the step to start from."""
    latest = self.manager.latest_checkpoint
    if latest:
      self.checkpoint.restore(latest).expect_partial()
    return int(self.step.numpy())

  @property
  def latest(self):
    return self.manager.latest_checkpoint

  def save(self, step):
    self.step.assign(step)
    return self.manager.save(checkpoint_number=step)

  def save_if_finite(self, step, losses, variables):
    """Saves `step` unless a loss or one of `variables` is NaN or Inf: then NonFiniteLossError, and the
    last checkpoint on disk (a good one) stays the latest."""
    check_finite(step, losses, self)
    if not all_finite(variables):
      raise NonFiniteLossError(
          f"step {step}: the weights became non-finite; last good checkpoint kept: {self.latest}")
    return self.save(step)


def all_finite(variables):
  return bool(tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in variables]))


def check_finite(step, losses, keeper=None):
  """Raises NonFiniteLossError naming the step and the loss if any value is NaN or Inf."""
  for name, value in losses.items():
    value = float(value)
    if not math.isfinite(value):
      kept = keeper.latest if keeper is not None else None
      where = f"; last good checkpoint kept: {kept}" if kept else "; no checkpoint was written"
      raise NonFiniteLossError(f"step {step}: loss {name} is {value}{where}")


class _HeldInterrupts:
  """Holds Ctrl-C and SIGTERM while a step runs. A signal's handler runs when TensorFlow returns to
  Python, that is mostly just after a step has updated the weights and optimizers and before the loop
  counts it: raised there, the checkpoint saved on interrupt would carry the step before under the
  weights of the step after. A second signal stops at once. Outside the main thread: a no-op."""

  def __init__(self):
    self.held, self._previous = [], {}

  def _hold(self, signum, frame):  # pylint: disable=unused-argument
    if self.held:
      raise KeyboardInterrupt(f"signal {signum}")
    self.held.append(signum)

  def __enter__(self):
    try:
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._hold)
    except ValueError:  # not the main thread
      pass
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


class TrainLoop:
  """What the training loops of every application share: resume from the latest checkpoint in
  <logdir>/ckpt, TensorBoard events in <logdir>/tb, one JSON line per record in <logdir>/metrics.jsonl,
  the progress bar, and saving: every `save_every` steps and at the last one, never non-finite weights,
  and at the last finished step on Ctrl-C; `run` also logs the losses and calls the application's
  evaluation hook. The application's step function runs the step itself."""

  def __init__(self, logdir, steps, objects, *, max_to_keep=3, log_every=50, save_every=1000,
               progress=True, stream=None):
    self.logdir, self.steps, self.log_every, self.save_every = logdir, steps, log_every, save_every
    self.keeper = CheckpointKeeper(os.path.join(logdir, "ckpt"), max_to_keep=max_to_keep, **objects)
    self.start = self.keeper.restore()
    # A run killed after its last checkpoint logged steps that it will now train again: drop them,
    # so that metrics.jsonl holds each step once.
    rundir.truncate_jsonl(os.path.join(logdir, "metrics.jsonl"), self.start)
    self.result = dict(step=self.start, status="done", losses={}, checkpoint=self.keeper.latest)
    self.shown = {}  # what the progress bar shows after each step; the step function updates it
    self._bar_options = dict(every=log_every, stream=stream, enabled=progress)
    self._writer = None
    self._optimizers = {k: v for k, v in objects.items() if isinstance(v, keras.optimizers.Optimizer)}
    self._clock = None  # (step, time) of the last log step: the steps/s scalar

  @property
  def finished(self):
    return self.start >= self.steps

  def begin(self, log=print):
    """Says where the run stands; False when it is already at its last step (nothing to do)."""
    if self.finished:
      log(rundir.finished_message(self.logdir, self.start, self.steps))
      return False
    if self.start:
      log(f"resuming from step {self.start} ({self.keeper.latest})")
    return True

  @property
  def writer(self):
    if self._writer is None:  # only when used: a finished run's rerun writes no events
      self._writer = tf.summary.create_file_writer(os.path.join(self.logdir, "tb"))
    return self._writer

  def is_log_step(self, step):
    return step % self.log_every == 0 or step == self.steps

  def log_line(self, record):
    rundir.append_jsonl(os.path.join(self.logdir, "metrics.jsonl"), record)

  def log_losses(self, step, out, **extra):
    """The step's losses as floats, checked finite, as train/* scalars and a metrics.jsonl line."""
    losses = {k: float(v) for k, v in out.items()}
    check_finite(step, losses, self.keeper)
    now = time.perf_counter()
    with self.writer.as_default(step=step):
      for k, v in losses.items():
        tf.summary.scalar(f"train/{k}", v)
      if self._clock is not None and step > self._clock[0]:
        tf.summary.scalar("speed/steps_per_sec", (step - self._clock[0]) / (now - self._clock[1]))
      for name, opt in self._optimizers.items():
        tf.summary.scalar(f"lr/{name}", float(keras.ops.convert_to_numpy(opt.learning_rate)))
    self._clock = (step, now)
    self.result["losses"] = losses
    self.log_line(dict(step=step, **extra, **losses))
    return losses

  def log_eval(self, step, scores, keys):
    """A step's eval scores: eval/<key> scalars for `keys`, the fg IoU on the progress bar,
    result['eval'] and a metrics.jsonl line."""
    with self.writer.as_default(step=step):
      for k in keys:
        tf.summary.scalar(f"eval/{k}", scores[k])
    self.shown["iou"] = scores["fg_iou"]
    self.result["eval"] = scores
    self.log_line(dict(step=step, eval=scores))

  def write_hparams(self):
    """The run's flags.json as TensorBoard hparams, so runs can be compared in its HParams tab."""
    if not runinfo.has_flags(self.logdir):
      return
    flags = runinfo.read_flags(self.logdir)
    from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
    values = {k: v for k, v in flags.items() if isinstance(v, (bool, int, float, str))
              and k not in rundir.RESUMABLE_KEYS}
    with self.writer.as_default():
      hp.hparams(values)

  def save(self, step, out, weights):
    losses = {k: float(v) for k, v in out.items()}
    self.result["checkpoint"] = self.keeper.save_if_finite(step, losses, weights)

  def is_eval_step(self, step, every):
    return bool(every) and (step % every == 0 or step == self.steps)

  def run(self, train_step, weights, *, show=(), log_extra=None, evaluate=None, eval_every=0):
    """Calls train_step(step) for each step left; it runs the step and returns its losses.

    At log steps the losses are logged (log_losses, plus the fields of log_extra() when given) and
    those named in `show` go on the progress bar. Every `eval_every` steps and at the last one,
    evaluate(step) runs with the TensorBoard writer as default at that step (so its summaries land
    there; log_eval records scores), and the events are flushed. Returns self.result with the last
    finished step and status 'done' or 'interrupted'.
    """
    bar = ProgressBar(self.steps, self.start, **self._bar_options)
    done, saved, out = self.start, self.start, None
    if self.start == 0:
      self.write_hparams()
    self._clock = (self.start, time.perf_counter())
    try:
      for step in range(self.start + 1, self.steps + 1):
        with _HeldInterrupts() as interrupts:
          out = train_step(step)
        done = step
        if interrupts.held:
          raise KeyboardInterrupt
        if self.is_log_step(step):
          losses = self.log_losses(step, out, **(log_extra() if log_extra else {}))
          self.shown.update((k, losses[k]) for k in show)
        if evaluate is not None and self.is_eval_step(step, eval_every):
          with self.writer.as_default(step=step):
            evaluate(step)
          self.writer.flush()
        if step % self.save_every == 0 or step == self.steps:
          self.save(step, out, weights)
          saved = step
        bar.update(step, **self.shown)
    except KeyboardInterrupt:
      self.result["status"] = "interrupted"
      if done > saved and out is not None:
        self.save(done, out, weights)
    finally:
      bar.close()
      if self._writer is not None:
        self._writer.close()
    self.result["step"] = done
    return self.result


