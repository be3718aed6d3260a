"""Lightning callbacks that `penguin.fit` adds to every run (each unless the config brings its own):

- `last_checkpoint.LastCheckpoint` — `last.ckpt` at every validation end and when training stops;
- `sampler_feedback.SamplerFeedback` — validation losses steer the task sampler;
- `sample_logger.SampleLogger` — image grids and answer samples in TensorBoard;
- `progress.TaskMixProgressBar` — the current task and the most boosted shares on the bar.

It also adds `penguin.tensorboard.TensorBoardLayout` (TensorBoard's custom-scalars layout), which
lives with the TensorBoard logger it belongs to.
"""
