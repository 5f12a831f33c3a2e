// Worker entry used when the adapter runs from TypeScript sources (tests, tsx): a worker thread
// does not inherit the parent's TypeScript loader, so it loads the entry through tsx's API.
// From dist/ the pool starts the compiled register-mapping.js directly and never loads this file.
import { tsImport } from 'tsx/esm/api';

const entry = await tsImport('./register-mapping.ts', import.meta.url);
export default entry.default;
