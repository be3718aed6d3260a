"""Lightning callbacks that `penguin.fit` adds to every run (each unless the config brings its own):

- `temperature.TemperatureThrottle` — every rank pauses while a GPU is too hot (`--throttle.*`;
  inert on a CPU or without NVML);
- `memory_reset.MemoryReset` — the brain's canvases and memory across training batches: soft reset
  after every optimizer step, hard reset by policy (`--memory.*`);
- `last_checkpoint.LastCheckpoint` — `last.ckpt`, the newest `stepN.ckpt` and the best checkpoints
  per task and overall, named in `best.json` (`best_checkpoint.py`: the selection rule, the
  manifest, `best` / `best:<task>` resolution), at every validation end and when training stops;
- `checkpoint_io.AtomicCheckpointIO` — every save one transaction with a verified commit marker
  (`penguin/checkpoints.py`: the on-disk format, the newest valid checkpoint);
- `signal_stop.SignalStop` — SIGTERM / SIGINT stop every rank after the same step, with a
  checkpoint and the line to resume;
- `sampler_feedback.SamplerFeedback` — validation losses steer the task sampler;
- `sample_logger.SampleLogger` — image grids and answer samples in TensorBoard;
- `progress.TaskMixProgressBar` — the current task and the most boosted shares on the bar.

It also adds `penguin.tensorboard.TensorBoardLayout` (TensorBoard's custom-scalars layout), which
lives with the TensorBoard logger it belongs to.
"""
