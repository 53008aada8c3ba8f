/** SessionRunHooks: the session loop (session.ts) and the built-in hooks. */
export { runSession, RateWindow, formatRate, type Session, type SessionRunHook, type RunContext, type RunValues } from './session.ts';
export { NanTensorHook, StopAtStepHook, LoggingHook, SummarySaverHook } from './basic.ts';
export { CheckpointSaverHook, checkpointOf, type CheckpointListener, type CheckpointSaverOptions } from './checkpoint.ts';
export { ProgressBarHook } from './progress.ts';
export { PerformanceHook, writeSimReports, type PerformanceRecord } from './performance.ts';
export { EarlyStoppingHook, improves, evalMetric, type EarlyStoppingOptions, type MetricMode } from './early-stopping.ts';
