/**
 * Where the page keeps its token. localStorage, so every tab of this origin
 * is signed in once one is (sessionStorage is per tab); signing out in one
 * tab removes it, and the `storage` event signs the others out too.
 */
const TOKEN_KEY = "olympus-token";

/**
 * A sign-in link (`/#token=…`, as `olympus start` and `control dashboard`
 * print it) signs in, and the token leaves the address bar and the history
 * at once. Returns the token to use, or null.
 */
export function takeToken(location, history) {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink !== null) {
    history.replaceState(null, "", location.pathname + location.search);
    if (fromLink !== "") saveToken(fromLink);
  }
  return localStorage.getItem(TOKEN_KEY);
}

export function saveToken(token) {
  localStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
}

/** Calls `signedOut` when another tab signs out. */
export function onSignOutElsewhere(signedOut) {
  addEventListener("storage", (changed) => {
    if (changed.key === TOKEN_KEY && changed.newValue === null) signedOut();
  });
}
