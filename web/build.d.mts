// Types for web/build.mjs (a plain script, so that the build needs no compile step of its own).
export declare const DEFAULT_OUT: string;
export declare function buildWeb(outDir?: string): Promise<{ outDir: string; manifest: Record<string, { file: string; preload: string[] }>; files: number }>;
