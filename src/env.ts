/**
 * The Worker's bindings, vars and secrets. `wrangler.toml` (vars and bindings) and
 * `.dev.vars.example` (the secrets' names) are the source of truth: `npm run types` generates
 * `Cloudflare.Env` from them into `worker-configuration.d.ts`, and `npm run check` fails when
 * that file is stale. A secret that is not set reads as undefined at run time: `readConfig`
 * names it rather than crashing.
 */

export type Env = Cloudflare.Env
