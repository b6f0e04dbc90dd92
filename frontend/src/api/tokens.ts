/**
 * The web app signs in with the session cookie that `POST /auth/login` sets (HttpOnly: a
 * script, or an injected one, cannot read it). No JWT is kept in the browser: the login's token
 * pair is for API clients. What is kept here is not a credential:
 * - a "signed in" hint in localStorage, so a reload goes straight to the app (the server still
 *   has the last word: a 401 signs out);
 * - the CSRF token Django puts in the `csrftoken` cookie, sent back on every write.
 */
const SIGNED_IN_KEY = 'anker.signed_in'
const CSRF_COOKIE = 'csrftoken'

export function isSignedIn(): boolean {
  return localStorage.getItem(SIGNED_IN_KEY) === '1'
}

export function markSignedIn(): void {
  localStorage.setItem(SIGNED_IN_KEY, '1')
  // Tokens of earlier versions of the app: drop them.
  localStorage.removeItem('anker.access_token')
  localStorage.removeItem('anker.refresh_token')
}

export function clearSignIn(): void {
  localStorage.removeItem(SIGNED_IN_KEY)
  localStorage.removeItem('anker.access_token')
  localStorage.removeItem('anker.refresh_token')
}

/** The value of Django's CSRF cookie, for the `X-CSRFToken` header of writes. */
export function csrfToken(): string | null {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=')
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join('='))
  }
  return null
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** The headers a same-origin request needs beyond the cookie: the CSRF token on writes. */
export function csrfHeaders(method: string): Record<string, string> {
  if (SAFE_METHODS.has(method.toUpperCase())) return {}
  const token = csrfToken()
  return token ? { 'X-CSRFToken': token } : {}
}
