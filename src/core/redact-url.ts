/**
 * Hides the secret of a URL with credentials (`https://user:token@host/x` becomes
 * `https://user:***@host/x`; a lone token as user name is hidden too), so it never reaches a
 * stored property, a listing or a message.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@]*)@/i, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':')
    if (colon >= 0) return `${scheme}${userinfo.slice(0, colon)}:***@`
    return /^(https?|ftp)/i.test(scheme) ? `${scheme}***@` : `${scheme}${userinfo}@`
  })
}
