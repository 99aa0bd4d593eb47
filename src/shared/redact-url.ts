/**
 * Hides the secret of a URL with credentials (`https://user:token@host/x` becomes
 * `https://user:***@host/x`; a lone token as user name is hidden too), so it never reaches a
 * stored property, a listing or a message.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/i, (_m, scheme: string, userinfo: string) => redactUserinfo(scheme, userinfo))
}

/** redactUrl for every URL inside a text, such as an error message from libgit2. */
export function redactSecrets(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^/@\s'"]*)@/gi, (_m, scheme: string, userinfo: string) => redactUserinfo(scheme, userinfo))
}

/** The URL without any secret, for storing: https loses its user info, ssh keeps the user. */
export function storableUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/i, (_m, scheme: string, userinfo: string) =>
    /^(https?|ftps?):/i.test(scheme) ? scheme : `${scheme}${userinfo.split(':')[0]}@`)
}

function redactUserinfo(scheme: string, userinfo: string): string {
  const colon = userinfo.indexOf(':')
  if (colon >= 0) return `${scheme}${userinfo.slice(0, colon)}:***@`
  return /^(https?|ftps?)/i.test(scheme) ? `${scheme}***@` : `${scheme}${userinfo}@`
}
