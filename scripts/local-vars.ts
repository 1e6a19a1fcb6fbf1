/**
 * What `npm run dev` runs with on this machine: WeChat's documented sample account, a second
 * sample account, the debugging console on and the fake WeChat API. Written to `.dev.vars` on
 * the first run (and read by the end-to-end tests' dev server); never deployed. The secrets a
 * deployed Worker needs are listed, without values, in `.dev.vars.example`: what `npm run setup`
 * and the "Deploy to Cloudflare" button ask for.
 */

export const LOCAL_DEV_VARS = `# Local settings for \`npm run dev\`, written on its first run (scripts/local-vars.ts).
# These values are WeChat's documented sample account: fine locally, never in production.
WECHAT_TOKEN=spamtest
WECHAT_APPID=wx2c2769f8efd9abc2
WECHAT_ENCODING_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
ADMIN_TOKEN=local-admin-token
DEBUG_CONSOLE=true
# Talking back locally: the fake of WeChat's API that \`npm run dev\` serves (DEBUG_CONSOLE only).
WECHAT_APPSECRET=local-fake-secret
WECHAT_API_BASE=http://localhost:8787/debug/wechat-api/
# Scan to log in: the website's backend exchanges login codes with it (Authorization: Bearer).
LOGIN_SECRET=local-login-secret
# The web side (OAuth, JS-SDK): the website's backend trades sign-in tickets with WEB_SECRET;
# WEB_ORIGINS are the websites allowed (here the dev server itself, whose demo is /web/demo).
WEB_SECRET=local-web-secret
WEB_ORIGINS=http://localhost:8787
# With WECHAT_TOKEN_URL (a token service of your own): sent to it as Authorization: Bearer.
WECHAT_TOKEN_URL_SECRET=
# Migration mode, locally only: lets the console and the simulator send plaintext pushes beside
# encrypted ones. In production leave it unset: with an EncodingAESKey, encryption is required.
REQUIRE_ENCRYPTION=false
# A second sample account, demo, served at /wechat/demo: the console's account picker and
# \`npm run simulate -- text --account demo\` use it.
WECHAT_ACCOUNTS={"demo":{"token":"demotoken","appId":"wx0000000000000001","encodingAesKey":"DemoKey0123456789abcdefghijklmnopqrstuvwxyz","appSecret":"local-fake-secret"}}
# The AI assistant, locally: the fake model \`npm run dev\` serves (DEBUG_CONSOLE only), an
# OpenAI-compatible endpoint that needs no key. In production set AI_BASE_URL and AI_MODEL in
# wrangler.toml and AI_API_KEY as a secret, or bind Workers AI (README, "An AI assistant").
AI_BASE_URL=http://localhost:8787/debug/fake-model/v1/
AI_MODEL=fake-model
# A sample third-party platform: its events at /wechat/platform, its accounts' pushes at
# /wechat/platform/<appid>. The console plays WeChat's side (a ticket, an authorization, the
# release test); the fake WeChat API pushes its events here.
WECHAT_PLATFORM_APPID=wxa0b1c2d3e4f5a6b7
WECHAT_PLATFORM_APPSECRET=local-platform-secret
WECHAT_PLATFORM_TOKEN=platformtoken
WECHAT_PLATFORM_ENCODING_AES_KEY=PlatformKey0123456789abcdefghijklmnopqrstuv
`
