/** Types for build.mjs, so the tests can import it. */
export declare const OUT_DIR: string;
export declare function buildDashboard(outDir?: string): Promise<string>;
