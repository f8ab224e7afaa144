// The run hub contract and the in-process hub live in @sluice/core (every hub package
// implements the contract without depending on the HTTP layer); re-exported here because the
// HTTP layer is where most users meet them.
export {
  MemoryRunHub,
  type AdmitResult,
  type CancelResult,
  type ExpiredRun,
  type MemoryRunHubOptions,
  type RunAdmission,
  type RunControl,
  type RunHub,
  type RunInfo,
  type RunListener,
  type RunState,
  type RunSubscription,
} from '@sluice/core';
