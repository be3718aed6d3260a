"""`TemperatureThrottle` — pause training while a GPU runs hot, on every rank at once.

A GPU kept near its thermal limit for a week-long run slows down or drops off the bus; this
callback keeps every GPU of a run below a ceiling, for Lightning and for several GPUs.

**What it does.** Every `every_n_steps` training steps each rank reads its own GPU's temperature
(one NVML call) and the ranks agree on the hottest. Above the ceiling, training pauses: every rank
sleeps `poll_seconds`, reads again and agrees again, until the hottest GPU is at or below the
resume point; then all ranks continue together. A poll costs one NVML read and one one-number
all-reduce, whose result is read on the host (on CUDA that waits for the step's queued work).

    TemperatureThrottle(pause_above=75.0, resume_at=60.0, slowdown_margin=5.0,
                        every_n_steps=10, poll_seconds=5.0, sensor=None)

| option            | default | meaning                                                           |
|-------------------|---------|-------------------------------------------------------------------|
| `pause_above`     | 75 °C   | pause when the hottest GPU is above this                          |
| `resume_at`       | 60 °C   | resume when the hottest GPU is at or below this                   |
| `slowdown_margin` | 5 °C    | never run within this of the GPU's own slowdown threshold         |
| `every_n_steps`   | 10      | poll every this many optimizer steps (one NVML read); 0: off      |
| `poll_seconds`    | 5 s     | while paused, sleep this long between readings                    |
| `sensor`          | NVML    | `device -> TemperatureSensor`, None: `nvml_sensor`; tests: a fake |

The ceiling is `min(pause_above, slowdown - slowdown_margin)` where NVML reports the GPU's
slowdown threshold (the temperature at which the GPU cuts its own clocks; the lowest over the
ranks), else `pause_above`. The resume point is `min(resume_at, ceiling - slowdown_margin)`, so a
GPU with an unusually low slowdown threshold still cools by a margin before training resumes
(both are in an info line at the start of the fit, logger `callbacks.temperature`).
The 15 °C gap between pausing and resuming keeps a run from pausing again a few steps later.
Bad options are a one-line `ValueError`.

**What it logs**, at each poll step, to the trainer's loggers: `system/gpu_temp`, the hottest GPU's
temperature in °C (for a pause, the one that caused it), and `system/throttle_seconds`, the
seconds paused so far in the run. The progress bar prints `pausing: GPU at 78 °C, resuming at
60 °C` and `resuming: GPU at 59 °C after 95 s paused` (rank 0; a plain line when there is no
bar). The seconds paused are the callback's checkpoint state, so they keep counting across a
resume.

**Several GPUs (DDP).** Each rank's CUDA device is found in NVML by its UUID, never by index, so
the reading is right under `CUDA_VISIBLE_DEVICES=2,0` or any device order. All ranks pause
together: each poll, and each reading while paused, is one max-reduction that every rank enters at
the same step, and the decision to wait or go on depends only on its result, so every rank makes
the same number of reductions and none waits on another. No collective waits longer than one
`poll_seconds`, far below NCCL's timeout. The same reduction carries whether any rank is stopping
the run (SIGTERM, `trainer.should_stop`), so a pause never delays a stop: all ranks leave it
together at the next reading (`stopping: the run ends after 40 s paused, ...`). A rank that cannot
read (NVML failed there) takes part with no reading; the other ranks' temperatures still pause the
run.

**When it does nothing.** On a CPU run, or without NVML (`nvidia-ml-py` not installed, or
`nvmlInit` fails: no driver), the callback logs one info line saying why (rank 0, logger
`callbacks.temperature`) and, after the ranks agree on that at setup, does nothing: no reading,
no reduction, nothing per step. A MIG instance, whose UUID is not a GPU's, is the same.

**Turning it off.** `every_n_steps=0` never polls (Lightning's convention: `log_every_n_steps=0`
logs nothing) and says so in the info line. `penguin.fit` adds the throttle to every run unless
the config brings its own `TemperatureThrottle`, so bring one that is off:
`--trainer.callbacks+=callbacks.temperature.TemperatureThrottle --trainer.callbacks.every_n_steps=0`.
"""
from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import lightning as L
import torch

from callbacks.signal_stop import stop_requested

log = logging.getLogger(__name__)


class SensorUnavailable(Exception):
    """No temperature can be read on this rank; the message says why, in one line."""


class TemperatureSensor(Protocol):
    """One GPU's thermometer."""

    def temperature(self) -> float:
        """The temperature now, in °C; raises `SensorUnavailable` when it cannot be read."""

    def slowdown(self) -> float | None:
        """The GPU's own slowdown threshold in °C, or None where it reports none."""

    def close(self) -> None:
        """Release the sensor at the end of the fit."""


def nvml_uuid(cuda_uuid: Any) -> str:
    """NVML's spelling of a CUDA device's UUID (`torch.cuda.get_device_properties(i).uuid`, whose
    `bytes` are the 16 raw bytes): `GPU-` and the lowercase 8-4-4-4-12 hex form."""
    return "GPU-" + str(uuid.UUID(bytes=bytes(cuda_uuid.bytes)))


class NvmlSensor:
    """A GPU's temperature and slowdown threshold through NVML (`pynvml`, from `nvidia-ml-py`)."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self._nvml = nvml
        self.handle = handle

    def temperature(self) -> float:
        try:
            return float(self._nvml.nvmlDeviceGetTemperature(self.handle, self._nvml.NVML_TEMPERATURE_GPU))
        except self._nvml.NVMLError as e:
            raise SensorUnavailable(f"NVML read failed ({e})") from None

    def slowdown(self) -> float | None:
        try:
            threshold = self._nvml.nvmlDeviceGetTemperatureThreshold(
                self.handle, self._nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)
        except self._nvml.NVMLError:  # NVMLError_NotSupported on many boards
            return None
        return float(threshold) if threshold > 0 else None  # 0 is a board that reports none

    def close(self) -> None:
        self._nvml.nvmlShutdown()


def nvml_sensor(device: torch.device) -> NvmlSensor:
    """The NVML sensor of CUDA `device`, found by UUID among NVML's GPUs (NVML numbers every GPU
    of the machine, CUDA only the visible ones, in its own order). Raises `SensorUnavailable`."""
    if device.type != "cuda":
        raise SensorUnavailable(f"not a CUDA run (device {device})")
    try:
        import pynvml
    except ImportError:
        raise SensorUnavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        raise SensorUnavailable(f"NVML did not start ({e})") from None
    index = torch.cuda.current_device() if device.index is None else device.index
    try:
        wanted = nvml_uuid(torch.cuda.get_device_properties(index).uuid)
    except AttributeError:  # an older torch (pyproject allows 2.4) has no device UUID
        pynvml.nvmlShutdown()
        raise SensorUnavailable(f"torch {torch.__version__} reports no CUDA device UUID") from None
    try:
        handle = _handle_with_uuid(pynvml, wanted)
        if handle is None:
            raise SensorUnavailable(f"no NVML GPU has the UUID {wanted} of cuda:{index} (a MIG instance?)")
        sensor = NvmlSensor(pynvml, handle)
        sensor.temperature()  # a GPU that cannot report now never will
        return sensor
    except pynvml.NVMLError as e:
        error = SensorUnavailable(f"NVML cannot read cuda:{index} ({e})")
    except SensorUnavailable as e:
        error = e
    pynvml.nvmlShutdown()  # NVML stays initialised only while a sensor reads through it
    raise error


def _handle_with_uuid(nvml: Any, wanted: str) -> Any:
    """The NVML handle of the GPU whose UUID is `wanted` (`GPU-...`), or None. `nvmlDeviceGetUUID`
    returns str in today's nvidia-ml-py, bytes in older releases (pynvml 11.4)."""
    for index in range(nvml.nvmlDeviceGetCount()):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            found = nvml.nvmlDeviceGetUUID(handle)
        except nvml.NVMLError:  # a GPU this process may not query (NoPermission) is not ours
            continue
        if (found.decode() if isinstance(found, bytes) else found).lower() == wanted.lower():
            return handle
    return None


class TemperatureThrottle(L.Callback):
    def __init__(self, pause_above: float = 75.0, resume_at: float = 60.0, slowdown_margin: float = 5.0,
                 every_n_steps: int = 10, poll_seconds: float = 5.0,
                 sensor: Callable[[torch.device], TemperatureSensor] | None = None) -> None:
        if not resume_at < pause_above:
            raise ValueError(f"TemperatureThrottle: resume_at ({resume_at}) must be below pause_above ({pause_above})")
        if slowdown_margin < 0:
            raise ValueError(f"TemperatureThrottle: slowdown_margin must be >= 0, got {slowdown_margin}")
        if not (isinstance(every_n_steps, int) and every_n_steps >= 0):
            raise ValueError(
                f"TemperatureThrottle: every_n_steps must be an integer >= 0 (0: off), got {every_n_steps!r}")
        if not poll_seconds > 0:
            raise ValueError(f"TemperatureThrottle: poll_seconds must be > 0, got {poll_seconds}")
        self.pause_above = float(pause_above)
        self.resume_at = float(resume_at)
        self.slowdown_margin = float(slowdown_margin)
        self.every_n_steps = every_n_steps
        self.poll_seconds = float(poll_seconds)
        self._open = nvml_sensor if sensor is None else sensor  # None: a config cannot name a function
        self.throttle_seconds = 0.0
        # Between setup and teardown of a fit: `_on` is the same on every rank (it decides whether
        # a rank enters the poll collectives); `_sensor` is this rank's, None where it reads nothing.
        self._on = False
        self._sensor: TemperatureSensor | None = None
        self._ceiling = self.pause_above
        self._resume = self.resume_at
        self._polled_step = 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if self.every_n_steps == 0:  # the same option on every rank: no agreement needed
            self._on, why = False, "every_n_steps=0"
        else:
            try:
                self._sensor, why = self._open(trainer.strategy.root_device), ""
            except SensorUnavailable as e:
                self._sensor, why = None, str(e)
            self._on = trainer.strategy.reduce_boolean_decision(self._sensor is not None, all=False)
        if not self._on:
            if trainer.is_global_zero:
                log.info("TemperatureThrottle is off: %s", why)
            return
        if self._sensor is None:
            log.warning("TemperatureThrottle: rank %d reads no temperature (%s); the other ranks' still pause the run",
                        trainer.global_rank, why)
        slowdown = self._sensor.slowdown() if self._sensor is not None else None
        [slowdown] = _reduce(trainer, [math.inf if slowdown is None else slowdown], "min")
        self._ceiling = min(self.pause_above, slowdown - self.slowdown_margin)
        self._resume = min(self.resume_at, self._ceiling - self.slowdown_margin)
        if trainer.is_global_zero:
            log.info("TemperatureThrottle: pausing above %s until %s, polled every %d steps",
                     _celsius(self._ceiling), _celsius(self._resume), self.every_n_steps)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        # Every rank has the same step, so all poll at the same batches (once per optimizer step
        # under gradient accumulation).
        if not self._on or step % self.every_n_steps or step == self._polled_step:
            return
        self._polled_step = step
        hottest, stopping = self._hottest(trainer)
        if hottest > self._ceiling and not stopping:
            self._wait(trainer, hottest)
        metrics = {"system/throttle_seconds": self.throttle_seconds}
        if math.isfinite(hottest):  # -inf: no rank could read
            metrics["system/gpu_temp"] = hottest
        # Straight to the loggers, at the x of this step's other scalars (as Lightning's
        # DeviceStatsMonitor does): `pl_module.log` at some steps only repeats the value one step later.
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.fit_loop.epoch_loop._batches_that_stepped)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if self._sensor is not None:
            self._sensor.close()
        self._sensor, self._on = None, False

    def state_dict(self) -> dict[str, Any]:
        return {"throttle_seconds": self.throttle_seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.throttle_seconds = float(state_dict["throttle_seconds"])

    def _wait(self, trainer: L.Trainer, hottest: float) -> None:
        _say(trainer, f"pausing: GPU at {_celsius(hottest)}, resuming at {_celsius(self._resume)}")
        start = time.monotonic()
        stopping = False
        # The condition depends only on reduced values, which every rank shares: all ranks make the
        # same number of reductions and leave the loop together.
        while hottest > self._resume and not stopping:
            time.sleep(self.poll_seconds)
            hottest, stopping = self._hottest(trainer)
        paused = time.monotonic() - start
        self.throttle_seconds += paused
        if stopping:
            _say(trainer, f"stopping: the run ends after {paused:.0f} s paused, GPU at {_celsius(hottest)}")
        else:
            _say(trainer, f"resuming: GPU at {_celsius(hottest)} after {paused:.0f} s paused")

    def _hottest(self, trainer: L.Trainer) -> tuple[float, bool]:
        """The highest temperature over the ranks now, and whether any rank is stopping the run
        (a signal, `should_stop`: `callbacks.signal_stop.stop_requested`): one collective, so every rank calls it together."""
        reading = -math.inf
        if self._sensor is not None:
            try:
                reading = self._sensor.temperature()
            except SensorUnavailable as e:
                # Once: the rank goes on taking part with no reading (NVML stays initialised).
                log.warning("TemperatureThrottle: rank %d reads no more temperatures: %s", trainer.global_rank, e)
                self._sensor = None
        hottest, stopping = _reduce(trainer, [reading, float(stop_requested(trainer))], "max")
        return hottest, stopping > 0


def _reduce(trainer: L.Trainer, values: list[float], op: str) -> list[float]:
    """`values` reduced elementwise over the ranks with `op` ("max", "min"); themselves on one process."""
    tensor = torch.tensor(values, dtype=torch.float32, device=trainer.strategy.root_device)
    return trainer.strategy.reduce(tensor, reduce_op=op).tolist()


def _celsius(value: float) -> str:
    return f"{value:.0f} °C" if math.isfinite(value) else "no reading"


def _say(trainer: L.Trainer, message: str) -> None:
    """A line on rank 0, above the progress bar if there is one."""
    if not trainer.is_global_zero:
        return
    bar = trainer.progress_bar_callback
    if bar is not None and bar.is_enabled:
        bar.print(message)
    else:
        print(message, flush=True)
