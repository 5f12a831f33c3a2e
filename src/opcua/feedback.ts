/** A measured value that SCADA wrote to a feedback variable. */
export interface FeedbackValue {
  value: number | boolean;
  /** The client's source timestamp, or the time of the write when the client sent none. */
  sourceTimestamp: Date;
  receivedAt: Date;
}

/**
 * The latest value of each feedback variable, keyed by its node id without the namespace
 * (`station001.pump1.MeasuredSpeed`).
 * TODO: values live only in memory and are lost on restart. Store them in batches in the feedback table of the Modbus feedback registers, for the optimizer.
 */
export class FeedbackStore {
  private readonly values = new Map<string, FeedbackValue>();

  record(key: string, value: FeedbackValue): void {
    this.values.set(key, value);
  }

  get(key: string): FeedbackValue | undefined {
    return this.values.get(key);
  }
}
