// The logged-in person, held only in this page's memory: a reload or closing the tab logs out,
// and the private keys never reach storage in the clear.

let current = null;

export const session = () => current;

export function setSession(s) {
  current = s;
}

export function logout() {
  current = null;
}
