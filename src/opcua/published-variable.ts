import type { UAVariable } from 'node-opcua-address-space';
import { StatusCodes, type StatusCode } from 'node-opcua-status-code';
import { DataType, Variant } from 'node-opcua-variant';

/**
 * A variable whose value the adapter sets from station snapshots. It pushes a new value only
 * when the value or its status code changes, so the source timestamp is the time of the change
 * and subscribers get one data change per change, not one per heartbeat.
 */
export class PublishedVariable {
  private lastValue: unknown = undefined;
  private lastStatus: StatusCode | undefined;

  constructor(
    readonly variable: UAVariable,
    private readonly dataType: DataType,
  ) {}

  publish(value: number | boolean | string, sourceTimestamp: Date, status: StatusCode = StatusCodes.Good): void {
    if (Object.is(value, this.lastValue) && status === this.lastStatus) return;
    this.lastValue = value;
    this.lastStatus = status;
    this.variable.setValueFromSource(new Variant({ dataType: this.dataType, value }), status, sourceTimestamp);
  }
}
