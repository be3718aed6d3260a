"""`TemperatureThrottle` on the CPU, with scripted thermometers and a fake `pynvml`: a hot GPU
pauses training until it cools to the resume point, the GPU's slowdown threshold lowers the
ceiling, each CUDA device finds its NVML GPU by UUID whatever the device order, a run without
NVML is untouched, and two DDP ranks pause and resume together when only one is hot.

Run as a script (`python tests/test_temperature.py OUT`), this file is one rank of the two-rank
run that `test_two_ranks_pause_together_when_only_one_is_hot` starts."""
import json
import logging
import os
import signal
import sys
import types
import uuid
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import Logger
from torch.utils.data import DataLoader

from assertions import one_line_error
from process_group import run_group
from callbacks import temperature
from callbacks.temperature import SensorUnavailable, TemperatureThrottle, nvml_sensor

ROOT = Path(__file__).resolve().parents[1]
NVML_UUIDS = [str(uuid.UUID(int=0x5A1D_0000_0000_0000_0000_0000_0000_0000 + 0x1111 * i)) for i in range(4)]


class ScriptedSensor:
    """Reads the scripted temperatures in turn, then the last one for ever."""

    def __init__(self, temperatures: list[float], slowdown: float | None = None) -> None:
        self.temperatures = temperatures
        self.reads = 0
        self.closed = False
        self._slowdown = slowdown

    def temperature(self) -> float:
        reading = self.temperatures[min(self.reads, len(self.temperatures) - 1)]
        self.reads += 1
        return reading

    def slowdown(self) -> float | None:
        return self._slowdown

    def close(self) -> None:
        self.closed = True


class FakeClock:
    """`time` for the callback: sleeping advances the clock at once (and runs `on_sleep`)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep = lambda: None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert len(self.sleeps) < 100, "still paused after 100 readings"  # fails a broken wait, fast
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep()


class MemoryLogger(Logger):
    """Every row Lightning logs, on every rank."""

    name = "memory"
    version = 0

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int, dict]] = []

    def log_metrics(self, metrics, step=None) -> None:
        self.rows.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def series(self, key: str) -> list[float]:
        return [metrics[key] for _, metrics in self.rows if key in metrics]


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch).pow(2).mean()
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return DataLoader(torch.randn(64, 2), batch_size=4)


def trainer_for(throttle: TemperatureThrottle, steps: int, root: Path, **kwargs) -> tuple[L.Trainer, MemoryLogger]:
    logger = MemoryLogger()
    options = dict(accelerator="cpu", devices=1, max_steps=steps, logger=logger, callbacks=[throttle],
                   enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                   log_every_n_steps=1, default_root_dir=root)
    return L.Trainer(**(options | kwargs)), logger


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(temperature, "time", fake)
    return fake


def test_a_hot_gpu_pauses_training_until_it_cools_to_the_resume_point_and_resume_keeps_the_count(
        clock, tmp_path, capsys):
    # Polls at steps 2, 4, 6. Step 4 reads 80 > 75: three sleeps, reading 72, 65 and 60 <= 60.
    sensor = ScriptedSensor([50, 80, 72, 65, 60, 55])
    throttle = TemperatureThrottle(every_n_steps=2, sensor=lambda device: sensor)
    trainer, logger = trainer_for(throttle, 6, tmp_path)
    trainer.fit(Tiny())
    assert clock.sleeps == [5.0, 5.0, 5.0] and sensor.reads == 6 and trainer.global_step == 6
    assert logger.series("system/gpu_temp") == [50, 80, 55]
    assert logger.series("system/throttle_seconds") == [0, 15, 15]
    loss_x = [step for step, metrics in logger.rows if "loss" in metrics]  # training steps 1..6
    assert [step for step, metrics in logger.rows if "system/gpu_temp" in metrics] == loss_x[1::2]
    out = capsys.readouterr().out
    assert "pausing: GPU at 80 °C, resuming at 60 °C" in out and "resuming: GPU at 60 °C after 15 s paused" in out
    assert throttle.state_dict() == {"throttle_seconds": 15.0} and sensor.closed

    # Resumed from the checkpoint, the seconds paused keep counting: 15 before, 5 more at step 8.
    trainer.save_checkpoint(tmp_path / "step6.ckpt")
    resumed = TemperatureThrottle(every_n_steps=2, sensor=lambda device: ScriptedSensor([90, 50]))
    trainer, logger = trainer_for(resumed, 8, tmp_path)
    trainer.fit(Tiny(), ckpt_path=tmp_path / "step6.ckpt")
    assert logger.series("system/gpu_temp") == [90] and logger.series("system/throttle_seconds") == [20]
    assert resumed.throttle_seconds == 20.0


@pytest.mark.parametrize("pause_above, slowdown, reading, pauses", [
    (90, 80, 76, True),     # 80 - margin 5 = 75 is the ceiling, not 90
    (90, 80, 75, False),    # at the ceiling is not above it
    (90, None, 76, False),  # no slowdown threshold reported: pause_above alone
    (75, 100, 76, True),    # pause_above below slowdown - margin
])
def test_the_ceiling_keeps_a_margin_below_the_gpus_slowdown_threshold(clock, tmp_path, pause_above, slowdown,
                                                                         reading, pauses):
    sensor = ScriptedSensor([reading, 40], slowdown=slowdown)
    throttle = TemperatureThrottle(pause_above=pause_above, every_n_steps=1, sensor=lambda device: sensor)
    trainer, _ = trainer_for(throttle, 1, tmp_path)
    trainer.fit(Tiny())
    assert clock.sleeps == ([5.0] if pauses else [])


def test_under_gradient_accumulation_it_polls_once_per_optimizer_step(clock, tmp_path):
    sensor = ScriptedSensor([50, 51])
    trainer, logger = trainer_for(TemperatureThrottle(every_n_steps=2, sensor=lambda device: sensor), 4, tmp_path,
                                  accumulate_grad_batches=3)
    trainer.fit(Tiny())  # 12 batches, 4 optimizer steps: polls at steps 2 and 4 only
    assert sensor.reads == 2 and logger.series("system/gpu_temp") == [50, 51]


def test_a_low_slowdown_threshold_lowers_the_resume_point_by_the_margin_too(clock, tmp_path, capsys):
    # slowdown 62: ceiling 57, resume at 52 rather than 60, which would resume above the ceiling.
    sensor = ScriptedSensor([58, 55, 52, 50], slowdown=62)
    trainer, _ = trainer_for(TemperatureThrottle(every_n_steps=1, sensor=lambda device: sensor), 1, tmp_path)
    trainer.fit(Tiny())
    assert clock.sleeps == [5.0, 5.0]
    assert "pausing: GPU at 58 °C, resuming at 52 °C" in capsys.readouterr().out


def _set_should_stop(trainer: L.Trainer) -> None:
    trainer.should_stop = True  # as EarlyStopping or max_time do


def _sigterm(trainer: L.Trainer) -> None:
    assert callable(signal.getsignal(signal.SIGTERM)), "Lightning's SIGTERM handler is not installed"
    os.kill(os.getpid(), signal.SIGTERM)  # as SLURM does before it kills a job


@pytest.mark.parametrize("stop", [_set_should_stop, _sigterm], ids=["should_stop", "sigterm"])
def test_a_run_that_is_stopping_leaves_the_pause_at_the_next_reading(clock, tmp_path, capsys, stop):
    sensor = ScriptedSensor([90])  # never cools
    trainer, logger = trainer_for(TemperatureThrottle(every_n_steps=2, sensor=lambda device: sensor), 10, tmp_path)
    clock.on_sleep = lambda: len(clock.sleeps) == 2 and stop(trainer)
    handler = signal.getsignal(signal.SIGTERM)
    if stop is _sigterm:
        with pytest.raises(SystemExit):  # Lightning's SIGTERMException, after the step
            trainer.fit(Tiny())
    else:
        trainer.fit(Tiny())
    assert signal.getsignal(signal.SIGTERM) is handler  # Lightning put pytest's back
    assert clock.sleeps == [5.0, 5.0] and trainer.global_step == 2
    assert logger.series("system/throttle_seconds") == [10]
    assert "stopping: the run ends after 10 s paused, GPU at 90 °C" in capsys.readouterr().out


class FailingSensor(ScriptedSensor):
    """Reads once, then NVML fails (a lost GPU)."""

    def temperature(self) -> float:
        if self.reads:
            raise SensorUnavailable("NVML read failed (GPU is lost)")
        return super().temperature()


def test_a_sensor_that_stops_reading_warns_once_and_training_goes_on(clock, caplog, tmp_path):
    sensor = FailingSensor([50])
    trainer, logger = trainer_for(TemperatureThrottle(every_n_steps=1, sensor=lambda device: sensor), 3, tmp_path)
    with caplog.at_level(logging.INFO, logger=temperature.__name__):
        trainer.fit(Tiny())
    assert [r.getMessage() for r in caplog.records if r.name == temperature.__name__] == [
        "TemperatureThrottle: pausing above 75 °C until 60 °C, polled every 1 steps",
        "TemperatureThrottle: rank 0 reads no more temperatures: NVML read failed (GPU is lost)"]
    assert trainer.global_step == 3 and clock.sleeps == []
    assert logger.series("system/gpu_temp") == [50] and logger.series("system/throttle_seconds") == [0, 0, 0]


class FakeNVMLError(Exception):
    pass


class FakeNotSupported(FakeNVMLError):
    pass


class CudaUuid:
    """`torch.cuda.get_device_properties(i).uuid`: the raw 16 bytes."""

    def __init__(self, text: str) -> None:
        self.bytes = uuid.UUID(text).bytes


def install_fake_pynvml(monkeypatch, *, as_bytes: bool = False, slowdown: int | None = None,
                        init_error: Exception | None = None) -> types.ModuleType:
    """A `pynvml` with the four GPUs of NVML_UUIDS; GPU i reads 40 + i °C. `calls` records the calls."""
    nvml = types.ModuleType("pynvml")
    nvml.calls = []
    nvml.NVMLError = FakeNVMLError
    nvml.NVML_TEMPERATURE_GPU = 0
    nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 1

    def init():
        nvml.calls.append("nvmlInit")
        if init_error is not None:
            raise init_error

    def read(handle, sensor):
        assert sensor == nvml.NVML_TEMPERATURE_GPU
        nvml.calls.append(("temperature", handle[1]))
        return 40 + handle[1]

    def threshold(handle, kind):
        assert kind == nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
        if slowdown is None:
            raise FakeNotSupported("Not Supported")
        return slowdown

    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: nvml.calls.append("nvmlShutdown")
    nvml.nvmlDeviceGetCount = lambda: len(NVML_UUIDS)
    nvml.nvmlDeviceGetHandleByIndex = lambda index: ("gpu", index)
    nvml.nvmlDeviceGetUUID = lambda handle: (f"GPU-{NVML_UUIDS[handle[1]]}".encode() if as_bytes
                                             else f"GPU-{NVML_UUIDS[handle[1]]}")
    nvml.nvmlDeviceGetTemperature = read
    nvml.nvmlDeviceGetTemperatureThreshold = threshold
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    return nvml


def visible_devices(monkeypatch, nvml_indices: list[int]) -> None:
    """CUDA_VISIBLE_DEVICES=<nvml_indices>: CUDA device i is NVML GPU nvml_indices[i]."""
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: types.SimpleNamespace(uuid=CudaUuid(NVML_UUIDS[nvml_indices[i]])))


@pytest.mark.parametrize("as_bytes", [False, True], ids=["uuid-str", "uuid-bytes"])  # today / old pynvml
def test_each_cuda_device_reads_the_nvml_gpu_with_its_uuid_whatever_the_order(monkeypatch, as_bytes):
    nvml = install_fake_pynvml(monkeypatch, as_bytes=as_bytes, slowdown=87)
    visible_devices(monkeypatch, [2, 0])
    first, second = nvml_sensor(torch.device("cuda", 0)), nvml_sensor(torch.device("cuda", 1))
    assert first.handle == ("gpu", 2) and second.handle == ("gpu", 0)
    assert (first.temperature(), second.temperature()) == (42.0, 40.0)
    assert first.slowdown() == 87.0
    assert "nvmlShutdown" not in nvml.calls  # open sensors keep NVML up until the fit's teardown


def test_a_gpu_without_a_slowdown_threshold_or_a_uuid_in_nvml_or_a_torch_without_uuids(monkeypatch):
    nvml = install_fake_pynvml(monkeypatch)
    visible_devices(monkeypatch, [3])
    assert nvml_sensor(torch.device("cuda", 0)).slowdown() is None  # NVMLError_NotSupported
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: types.SimpleNamespace(uuid=CudaUuid(str(uuid.UUID(int=7)))))
    nvml.calls.clear()
    with pytest.raises(SensorUnavailable, match="no NVML GPU has the UUID GPU-00000000-0000-0000-0000-000000000007"):
        nvml_sensor(torch.device("cuda", 0))
    assert nvml.calls == ["nvmlInit", "nvmlShutdown"]
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(name="old torch"))
    nvml.calls.clear()
    with pytest.raises(SensorUnavailable, match="reports no CUDA device UUID"):
        nvml_sensor(torch.device("cuda", 0))
    assert nvml.calls == ["nvmlInit", "nvmlShutdown"]


def _not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError
    return None


def _no_driver(monkeypatch):
    return install_fake_pynvml(monkeypatch, init_error=FakeNVMLError("Driver Not Loaded"))


@pytest.mark.parametrize("cuda, without, reason", [
    (False, install_fake_pynvml, "not a CUDA run"),       # NVML there, but the run is on the CPU
    (True, _not_installed, "nvidia-ml-py is not installed"),
    (True, _no_driver, "NVML did not start (Driver Not Loaded)"),
], ids=["cpu-run", "not-installed", "no-driver"])
def test_without_nvml_the_throttle_is_off_with_one_info_line_and_no_per_step_work(
        monkeypatch, caplog, clock, tmp_path, cuda, without, reason):
    nvml = without(monkeypatch)
    # The sensor the callback would open for this rank's device: cuda:0 where the run is a CUDA one.
    sensor = (lambda device: nvml_sensor(torch.device("cuda", 0))) if cuda else None  # None: the default, NVML
    trainer, logger = trainer_for(TemperatureThrottle(every_n_steps=1, sensor=sensor), 5, tmp_path)
    reductions = []  # the throttle's collectives: none, at setup or at any step
    monkeypatch.setattr(temperature, "_reduce", lambda *args: reductions.append(args))
    with caplog.at_level(logging.INFO, logger=temperature.__name__):
        trainer.fit(Tiny())
    lines = [record for record in caplog.records if record.name == temperature.__name__]
    assert [record.levelno for record in lines] == [logging.INFO]
    assert lines[0].getMessage().startswith(f"TemperatureThrottle is off: {reason}")
    assert trainer.global_step == 5 and reductions == [] and clock.sleeps == []
    assert not logger.series("system/gpu_temp") and not logger.series("system/throttle_seconds")
    assert nvml is None or nvml.calls == ([] if not cuda else ["nvmlInit"])


def test_every_n_steps_0_is_off_and_opens_no_sensor(caplog, tmp_path):
    def refuse(device):
        raise AssertionError("an off throttle opened a sensor")

    trainer, logger = trainer_for(TemperatureThrottle(every_n_steps=0, sensor=refuse), 2, tmp_path)
    with caplog.at_level(logging.INFO, logger=temperature.__name__):
        trainer.fit(Tiny())
    assert [r.getMessage() for r in caplog.records if r.name == temperature.__name__] == [
        "TemperatureThrottle is off: every_n_steps=0"]


def test_a_throttle_from_the_command_line_runs_with_the_nvml_sensor(caplog, tmp_path):
    # As `python -m penguin.fit --trainer.callbacks+=...` builds it: the options from the command
    # line, the sensor by default (a config cannot name a function: jsonargparse passes its path).
    cli = LightningCLI(Tiny, run=False, args=[
        "--trainer.callbacks+=callbacks.temperature.TemperatureThrottle", "--trainer.callbacks.every_n_steps=3",
        "--trainer.accelerator=cpu", "--trainer.max_steps=2", "--trainer.logger=false",
        "--trainer.enable_checkpointing=false", "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}"])
    [throttle] = [cb for cb in cli.trainer.callbacks if isinstance(cb, TemperatureThrottle)]
    assert throttle.every_n_steps == 3
    with caplog.at_level(logging.INFO, logger=temperature.__name__):
        cli.trainer.fit(cli.model)
    assert [r.getMessage() for r in caplog.records if r.name == temperature.__name__] == [
        "TemperatureThrottle is off: not a CUDA run (device cpu)"]


@pytest.mark.parametrize("options, message", [
    (dict(pause_above=60, resume_at=60), "resume_at (60) must be below pause_above (60)"),
    (dict(every_n_steps=-1), "every_n_steps must be an integer >= 0"),
    (dict(every_n_steps=2.5), "every_n_steps must be an integer >= 0"),
    (dict(poll_seconds=0), "poll_seconds must be > 0"),
    (dict(slowdown_margin=-1), "slowdown_margin must be >= 0"),
])
def test_bad_options_are_one_line_errors(options, message):
    one_line_error(lambda: TemperatureThrottle(**options), "TemperatureThrottle: ", message)


# Two ranks: rank 1's GPU reads 80 at the step-2 poll and cools through 70, 65 to 58 (three
# sleeps); rank 0's stays at 40. At step 4, rank 1 reads 50.
READINGS = {0: [40], 1: [80, 70, 65, 58, 50]}


def _one_rank(out: Path) -> None:
    sensors = []

    def open_sensor(device):
        sensors.append(ScriptedSensor(READINGS[torch.distributed.get_rank()]))
        return sensors[-1]

    throttle = TemperatureThrottle(every_n_steps=2, poll_seconds=0.05, sensor=open_sensor)
    trainer, logger = trainer_for(throttle, 4, out, devices=2, strategy="ddp")
    trainer.fit(Tiny())
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps({
        "reads": sensors[0].reads, "throttle_seconds": throttle.throttle_seconds, "step": trainer.global_step,
        "gpu_temp": logger.series("system/gpu_temp")}))


def test_two_ranks_pause_together_when_only_one_is_hot(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = run_group([sys.executable, str(Path(__file__).resolve()), str(tmp_path)], cwd=tmp_path, env=env,
                       timeout=120, hang="two ranks did not finish 4 steps in 120 s: the throttle's reductions do not match")
    stdout = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for rank in ranks:
        # Both read at the two polls and at each of the three rounds of the pause, and both log
        # the hottest GPU: rank 1's 80 at step 2, its 50 at step 4.
        assert rank["reads"] == 5 and rank["step"] == 4 and rank["gpu_temp"] == [80, 50], rank
        assert rank["throttle_seconds"] >= 3 * 0.05, rank
    assert stdout.count("pausing: GPU at 80 °C, resuming at 60 °C") == 1  # rank 0 only
    assert stdout.count("resuming: GPU at 58 °C after") == 1


if __name__ == "__main__":
    _one_rank(Path(sys.argv[1]))
