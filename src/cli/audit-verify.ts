import { verificationReport, verifyAuditChain } from '../audit/verify-chain.js';
import { openPostgres } from '../db/postgres.js';
import { EXIT } from './exit-codes.js';

export const AUDIT_VERIFY_HELP = `Usage: calejo-cli audit verify [--json]

Recomputes the hash chain of compliance_audit_log in DATABASE_URL and reports the first broken row.
Exit codes: 0 chain intact, 2 chain broken, 3 could not check (database unreachable, DATABASE_URL unset).
--json prints one JSON object instead of text.`;

/** Runs the check and returns the exit code; output goes to `write`. */
export async function auditVerify(options: { json: boolean; databaseUrl: string | undefined; write: (text: string) => void }): Promise<number> {
  if (!options.databaseUrl) {
    options.write('UNKNOWN: DATABASE_URL is not set; set it to the adapter\'s PostgreSQL connection string\n');
    return EXIT.UNKNOWN;
  }
  if (!/^postgres(ql)?:\/\//.test(options.databaseUrl)) {
    options.write('UNKNOWN: DATABASE_URL must be a postgres:// or postgresql:// connection string\n');
    return EXIT.UNKNOWN;
  }
  let database;
  try {
    database = await openPostgres(options.databaseUrl, { poolSize: 1 });
  } catch (error) {
    options.write(`UNKNOWN: cannot connect to the database: ${(error as Error).message}\n`);
    return EXIT.UNKNOWN;
  }
  try {
    const result = await verifyAuditChain(database);
    if (options.json) {
      options.write(`${JSON.stringify(verificationReport(result))}\n`);
    } else if (result.ok) {
      options.write(`OK: audit chain intact, ${result.rowsChecked} rows, head ${result.headPosition} ${result.headHash}\n`);
    } else {
      const bad = result.firstBadRow;
      options.write(`CRITICAL: audit chain broken at row id ${bad?.id} (position ${bad?.chainPosition}): ${bad?.problem}, ${bad?.detail}; ${result.rowsChecked} rows before it are intact\n`);
    }
    return result.ok ? EXIT.OK : EXIT.CRITICAL;
  } catch (error) {
    options.write(`UNKNOWN: verification failed: ${(error as Error).message}\n`);
    return EXIT.UNKNOWN;
  } finally {
    await database.close();
  }
}
