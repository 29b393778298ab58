// vl.experiments: the experiment store beside the notebook, its records,
// comparisons and reruns. vl.experiment(name, config, fn) records a run.
import { ExperimentComparison } from "./compare.js";
import { current } from "./experiment.js";
import type { ExperimentFilter } from "./filter.js";
import type { ExperimentRecord } from "./record.js";

export { experiment, rerun, recordRun, open, current, storeAt, defaultStorePath, DEFAULT_STORE_FILE, type ExperimentOptions, type ExperimentResult, type FinishedRun } from "./experiment.js";
export { ExperimentStore, type SkippedLine } from "./store.js";
export { ExperimentRecord, formatMetric, metricUnit, flattenConfig, type ExperimentRecordData, type ExperimentConfig, type ExperimentError, type Metrics, type JsonValue, type ProfileInfo } from "./record.js";
export { ExperimentComparison, type ComparisonRow } from "./compare.js";
export { type ExperimentFilter, type ExperimentQuery } from "./filter.js";
export { captureEnvironment, type ExperimentEnvironment, type SimDeviceInfo } from "./environment.js";
export { gitState, type GitState } from "./git.js";
export { PLOTLY_MIME, FIGURE_SVG_SLOT, type PlotlyFigure } from "./display-bundle.js";

/** Records in the current store, oldest first (all, or those a filter takes: a name, a RegExp, a predicate or { name, config, status, tags, where, last }). */
export function list(filter?: ExperimentFilter): ExperimentRecord[] {
  return current().list(filter);
}

/** A record of the current store by id (or unique id prefix). */
export function get(id: string): ExperimentRecord {
  return current().get(id);
}

/** The records a filter takes, side by side: a table of the config fields that differ and the metrics, and a figure. */
export function compare(filter?: ExperimentFilter, options: { title?: string } = {}): ExperimentComparison {
  return current().compare(filter, options);
}
