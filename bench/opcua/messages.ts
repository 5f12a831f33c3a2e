/** Messages from run.ts to a server process. */
export type ParentMessage = { type: 'stats' } | { type: 'stop' };

/** Messages from a server process to run.ts. */
export type ServerMessage =
  /**
   * startMs: server construction to listening. readyMs: process start to listening.
   * maxLoopDelayMs: longest event-loop delay during the start, which other servers in the
   * process would wait as well.
   */
  | { type: 'listening'; port: number; startMs: number; readyMs: number; maxLoopDelayMs: number; rssBytes: number }
  | { type: 'stats'; rssBytes: number; cpu: NodeJS.CpuUsage };
