/**
 * vitest's runner asks for `node:inspector` in every test file only to learn whether a
 * debugger is attached. workerd has that module only with `nodejs_compat`, which production
 * does not use, so the tests do not either; the plugin resolves it before any alias applies
 * and reports the miss in two lines per file (its own, and workerd's). This drops exactly those
 * two reports from the test run's output, and nothing else.
 */

const PROBE_REPORTS = [
  /^\[vitest-plugin\] "node:inspector", required from ".*vitest\/dist\/chunks\/inspector\.[\w-]+\.js", is not available/,
  /^Fallback service failed to fetch module; payload = ; spec = \/\?specifier=node%3Ainspector&referrer=[^&]*vitest%2Fdist%2Fchunks%2Finspector\./,
]

function isProbeReport(text: string): boolean {
  return PROBE_REPORTS.some((report) => report.test(text))
}

/** Installs the filter on this process's stderr and console.error (the Vitest main process). */
export function quietInspectorProbe(): void {
  const write = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' && isProbeReport(chunk)) return true
    return write(chunk, ...rest)
  }) as typeof process.stderr.write
  const error = console.error.bind(console)
  console.error = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && isProbeReport(args[0])) return
    error(...args)
  }
}
