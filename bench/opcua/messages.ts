/** Messages from run.ts to a server process. */
export type ParentMessage = { type: 'stats' } | { type: 'stop' };

/** Messages from a server process to run.ts. */
export type ServerMessage =
  /** startMs: server construction to listening; readyMs: process start to listening. */
  | { type: 'listening'; port: number; startMs: number; readyMs: number; rssBytes: number }
  | { type: 'stats'; rssBytes: number; cpu: NodeJS.CpuUsage };
