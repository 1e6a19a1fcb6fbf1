/**
 * Bounding waits: WeChat gives a push 5 seconds, so nothing on the request path may wait on a
 * handler or a binding without a deadline.
 */

/**
 * Settles with the promise's value, or with `onTimeout()` once `ms` have passed first.
 * A rejection passes through.
 *
 * @example
 * const cached = await settleWithin(kv.get(key), 500, () => null)
 */
export async function settleWithin<T, F>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => F,
): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), Math.max(0, ms))
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}
