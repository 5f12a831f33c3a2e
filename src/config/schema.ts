import { z } from 'zod';
import { checkRegisterMap, registerMapSchema } from '../modbus/register-map-config.js';

/**
 * The YAML configuration file. Every object is strict, so a misspelt key is an error instead of a
 * silently ignored setting. Keys are snake_case to match the operations guide.
 */

const identifier = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit');

const finite = z.number().finite();

export const pumpSchema = z
  .object({
    id: identifier,
    name: z.string().min(1).optional(),
    /** Quantity the setpoint controls: speed in Hz, flow in l/s, or on/off (0 or 1). */
    control_variable: z.enum(['speed', 'flow', 'on_off']),
    /** Engineering unit published with the setpoint, such as "Hz" or "l/s". */
    unit: z.string().min(1).max(16),
    minimum: finite,
    maximum: finite,
    /** Maximum change of the setpoint per second, in engineering units, in operation and during recovery. */
    max_rate_per_second: finite.positive(),
    /** Setpoint published while plans are missing or stale. Must lie within [minimum, maximum]. */
    failsafe_setpoint: finite,
    /** Setpoint published while the station is stopped or held. Defaults to minimum. */
    stop_setpoint: finite.optional(),
  })
  .strict()
  .superRefine((pump, context) => {
    // Range rules per pump, so they are reported even when another pump has a type error.
    if (pump.minimum > pump.maximum) {
      context.addIssue({
        code: 'custom',
        path: ['minimum'],
        message: `minimum ${pump.minimum} is above maximum ${pump.maximum}; lower minimum or raise maximum`,
      });
      return;
    }
    const inRange = (value: number) => value >= pump.minimum && value <= pump.maximum;
    if (!inRange(pump.failsafe_setpoint)) {
      context.addIssue({
        code: 'custom',
        path: ['failsafe_setpoint'],
        message: `failsafe_setpoint ${pump.failsafe_setpoint} is outside [${pump.minimum}, ${pump.maximum}]; choose a value within the pump's limits`,
      });
    }
    if (pump.stop_setpoint !== undefined && !inRange(pump.stop_setpoint)) {
      context.addIssue({
        code: 'custom',
        path: ['stop_setpoint'],
        message: `stop_setpoint ${pump.stop_setpoint} is outside [${pump.minimum}, ${pump.maximum}]; choose a value within the pump's limits`,
      });
    }
    if (pump.control_variable === 'on_off' && (pump.minimum !== 0 || pump.maximum !== 1)) {
      context.addIssue({
        code: 'custom',
        path: ['maximum'],
        message: `an on_off pump needs minimum 0 and maximum 1, got [${pump.minimum}, ${pump.maximum}]`,
      });
    }
  });

export const stationSchema = z
  .object({
    id: identifier,
    name: z.string().min(1).optional(),
    /** Modbus unit id that addresses this station's register block. */
    unit_id: z.number().int().min(1).max(247),
    /** Whether SCADA may activate an emergency stop by writing 1 to coil 1. Clearing never is. */
    allow_modbus_emergency_stop: z.boolean().default(false),
    pumps: z.array(pumpSchema).min(1, 'list at least one pump').max(16, 'at most 16 pumps per station; split the station'),
    /** Modbus registers beside (or instead of) the default layout; see docs/modbus-registers.md. */
    register_map: registerMapSchema.optional(),
  })
  .strict()
  .superRefine((station, context) => {
    for (const issue of checkRegisterMap(station)) context.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

const port = z.number().int().min(0).max(65535);

/** The Modbus TCP server's port and limits. The defaults match MODBUS_SERVER_DEFAULTS in src/modbus/server.ts. */
export const modbusSchema = z
  .object({
    port: port.default(502),
    /** Simultaneous clients; when full, a client silent for eviction_idle_seconds gives way to a new one. */
    max_connections: z.number().int().min(1).max(10_000).default(100),
    /** Simultaneous clients from one IP address. */
    max_connections_per_address: z.number().int().min(1).max(10_000).default(20),
    /** Seconds without a request before a client is disconnected. */
    idle_timeout_seconds: z.number().positive().max(86_400).default(60),
    /** Seconds within which a new client must send its first complete request. */
    first_frame_timeout_seconds: z.number().positive().max(3600).default(10),
    /** Seconds a client must have been silent before a new client may take its place when the server is full. */
    eviction_idle_seconds: z.number().min(0).max(86_400).default(1),
    /** Response to a request for a unit id that no station has: exception 0B, or none. */
    unknown_unit_response: z.enum(['exception', 'none']).default('exception'),
    /** Feedback rows are inserted at least this often, in milliseconds. */
    feedback_flush_ms: z.number().int().min(10).max(60_000).default(250),
    /** Feedback rows per INSERT; a full batch is inserted at once. */
    feedback_batch_rows: z.number().int().min(1).max(5000).default(500),
    /** Feedback rows kept while the database is unreachable; beyond it the oldest are dropped and counted. */
    feedback_buffer_rows: z.number().int().min(1).max(1_000_000).default(10_000),
    /** One rejected-write audit row per client address and interval; the rest are counted in the next row. */
    rejected_write_audit_seconds: z.number().positive().max(86_400).default(60),
    /** Published register values of a station from which its mapping runs in a worker thread instead of inline (docs/benchmarks.md). */
    mapping_worker_threshold: z.number().int().min(1).default(2000),
  })
  .strict();

export type ModbusSettings = z.infer<typeof modbusSchema>;

export const configFileSchema = z
  .object({
    http: z.object({ port: port.default(8080) }).strict().default({ port: 8080 }),
    modbus: modbusSchema.prefault({}),
    opcua: z
      .object({
        port: port.default(4840),
        /** ApplicationName in the server's certificate and endpoint descriptions. */
        application_name: z.string().min(1).max(128).default('Calejo Control Adapter'),
        /**
         * ApplicationUri of the server and the URI of its namespace. It is written into the
         * certificate when the certificate is created; changing it later needs a new certificate.
         */
        application_uri: z
          .string()
          .regex(/^urn:[A-Za-z0-9][A-Za-z0-9-]{1,31}:\S+$/, 'must be a URN such as "urn:calejo:control-adapter"')
          .max(200)
          .default('urn:calejo:control-adapter'),
        /** Whether clients may open sessions without a user; such sessions are read-only. Hazard: anyone who reaches the port can read. */
        allow_anonymous: z.boolean().default(false),
        /** Whether the unsigned, unencrypted SecurityPolicy None endpoint is offered; its sessions are read-only. */
        allow_security_none: z.boolean().default(false),
        /** Simultaneous sessions over all clients; further CreateSession calls get BadTooManySessions. */
        max_sessions: z.number().int().min(1).max(1000).default(50),
        /** Subscriptions per session; further CreateSubscription calls get BadTooManySubscriptions. */
        max_subscriptions_per_session: z.number().int().min(1).max(1000).default(10),
        /** Monitored items per subscription; further items get BadTooManyMonitoredItems. */
        max_monitored_items_per_subscription: z.number().int().min(1).max(100_000).default(10_000),
      })
      .strict()
      .prefault({}),
    bind_address: z.string().min(1).default('0.0.0.0'),
    security: z
      .object({
        /** Lifetime of a login token, in seconds. */
        token_ttl_seconds: z.number().int().min(60).max(86_400).default(3600),
        /** Wrong passwords within `failed_login_window_seconds` that lock an account. */
        max_failed_logins: z.number().int().min(1).max(100).default(5),
        failed_login_window_seconds: z.number().int().min(1).max(86_400).default(900),
        /** How long a locked account stays locked; an administrator can unlock it earlier. */
        lockout_seconds: z.number().int().min(1).max(7 * 86_400).default(900),
        /** Login attempts per client address per minute, across all usernames. */
        login_attempts_per_minute: z.number().int().min(1).max(10_000).default(30),
        /** Shortest password accepted for a new or changed password. */
        password_min_length: z.number().int().min(8).max(128).default(12),
      })
      .strict()
      .prefault({}),
    watchdog: z
      .object({
        /** Seconds without a successful database read before every pump goes to its failsafe setpoint. */
        database_grace_seconds: z.number().positive().max(86_400).default(30),
        /**
         * Seconds since the optimizer's newest plan row for a station before its pumps go to their
         * failsafe setpoints; 0 turns the check off.
         */
        plan_staleness_seconds: z.number().min(0).max(30 * 86_400).default(7200),
      })
      .strict()
      .default({ database_grace_seconds: 30, plan_staleness_seconds: 7200 }),
    demo: z
      .object({
        /** Seed a 24-hour plan for today when no plan row covers a pump. */
        seed_plans: z.boolean().default(false),
      })
      .strict()
      .default({ seed_plans: false }),
    stations: z.array(stationSchema).min(1, 'list at least one station'),
  })
  .strict();

export type ConfigFile = z.infer<typeof configFileSchema>;
export type StationConfig = z.infer<typeof stationSchema>;
export type PumpConfig = z.infer<typeof pumpSchema> & { stop_setpoint: number };

/**
 * Rules that span several keys. Each issue names the key to change, so that a start-up failure
 * points the engineer to the wrong line of the file.
 */
export const validatedConfigSchema = configFileSchema.superRefine((config, context) => {
  const stationIds = new Map<string, number>();
  const unitIds = new Map<number, number>();

  config.stations.forEach((station, stationIndex) => {
    const firstWithId = stationIds.get(station.id);
    if (firstWithId !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['stations', stationIndex, 'id'],
        message: `duplicate station id "${station.id}" (also stations[${firstWithId}]); give each station its own id`,
      });
    } else {
      stationIds.set(station.id, stationIndex);
    }

    const firstWithUnit = unitIds.get(station.unit_id);
    if (firstWithUnit !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['stations', stationIndex, 'unit_id'],
        message: `duplicate unit id ${station.unit_id} (also stations[${firstWithUnit}]); give each station its own Modbus unit id`,
      });
    } else {
      unitIds.set(station.unit_id, stationIndex);
    }

    const pumpIds = new Set<string>();
    station.pumps.forEach((pump, pumpIndex) => {
      const path = ['stations', stationIndex, 'pumps', pumpIndex];
      if (pumpIds.has(pump.id)) {
        context.addIssue({
          code: 'custom',
          path: [...path, 'id'],
          message: `duplicate pump id "${pump.id}" in station "${station.id}"; give each pump of a station its own id`,
        });
      }
      pumpIds.add(pump.id);
    });
  });
});
