/** A measured value that SCADA wrote to a feedback variable. */
export interface FeedbackValue {
  value: number | boolean;
  /** The client's source timestamp, or the time of the write when the client sent none. */
  sourceTimestamp: Date;
  receivedAt: Date;
}

/** A feedback value as the pump_feedback table stores it, the same table Modbus writes go to. */
export interface StoredFeedback {
  stationId: string;
  pumpId: string | null;
  variable: 'measured_speed' | 'measured_flow' | 'running' | 'level';
  value: number;
  receivedAt: Date;
}

const VARIABLE_OF_BROWSE_NAME: Record<string, StoredFeedback['variable']> = {
  MeasuredSpeed: 'measured_speed',
  MeasuredFlow: 'measured_flow',
  Running: 'running',
  WetWellLevel: 'level',
};

/** Returns the table row of a node key such as `station001.pump1.MeasuredSpeed`, or null for an unknown variable. */
export function storedFeedbackOf(key: string, value: FeedbackValue): StoredFeedback | null {
  const parts = key.split('.');
  const variable = VARIABLE_OF_BROWSE_NAME[parts.at(-1) ?? ''];
  const stationId = parts[0];
  if (!variable || !stationId || (parts.length !== 2 && parts.length !== 3)) return null;
  let numeric: number;
  if (typeof value.value === 'boolean') numeric = value.value ? 1 : 0;
  else numeric = value.value;
  return { stationId, pumpId: parts.length === 3 ? (parts[1] ?? null) : null, variable, value: numeric, receivedAt: value.receivedAt };
}

/**
 * The latest value of each feedback variable, keyed by its node id without the namespace
 * (`station001.pump1.MeasuredSpeed`), for reads. Every write is also passed to `onRecorded`,
 * which stores it in pump_feedback in batches beside the Modbus feedback.
 */
export class FeedbackStore {
  private readonly values = new Map<string, FeedbackValue>();

  constructor(private readonly onRecorded: (row: StoredFeedback) => void = () => undefined) {}

  record(key: string, value: FeedbackValue): void {
    this.values.set(key, value);
    const row = storedFeedbackOf(key, value);
    if (row) this.onRecorded(row);
  }

  get(key: string): FeedbackValue | undefined {
    return this.values.get(key);
  }
}
